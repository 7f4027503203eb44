// The auditor's commands on a real master's ledger, through the real slapctl: signed checkpoints
// verify against the master's CA and a signature by another key is refused; replay --check finds
// a tampered projection checkpoint and names the record; an export verifies and replays offline
// and one changed byte anywhere in it is detected.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "ledger/ledger.h"
#include "ledger/record.h"
#include "ledger/rocksdb_storage.h"
#include "slapd/ca/certificate_authority.h"
#include "tests/ctl/audit_fixture.h"

using namespace slap;
using test::slapctl;

namespace {

class LedgerAudit : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    test::make_master_ledger(state());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::filesystem::path state() { return dir_->path() / "master"; }
  // Each test works on its own copy, so tampering in one never leaks into another.
  std::filesystem::path copy_state() {
    const auto to = scratch_.path() / "master";
    std::filesystem::copy(state(), to, std::filesystem::copy_options::recursive);
    return to;
  }
  static test::TempDir* dir_;
  test::TempDir scratch_;
};
test::TempDir* LedgerAudit::dir_ = nullptr;

std::string db_of(const std::filesystem::path& s) { return (s / "ledger").string(); }
std::string ca_of(const std::filesystem::path& s) { return (s / "ca.crt").string(); }

// Appends one entry to a stopped master's ledger, as a forger with write access to the files would.
void append(const std::filesystem::path& s, ubm::EntryBody body) {
  auto storage = ledger::open_rocksdb(db_of(s)).value();
  auto led = ledger::Ledger::open({.storage = storage}).value();
  ASSERT_TRUE(led->append(std::span<const ubm::EntryBody>(&body, 1)).ok());
}

ledger::Hash hash_at(const std::filesystem::path& s, ubm::Seq seq) {
  auto storage = ledger::open_rocksdb(db_of(s), {.create_if_missing = false, .read_only = true}).value();
  return ledger::parse_record(**storage->get(ledger::Family::log, ledger::key_of(seq)))->hash;
}

ubm::Seq head_of(const std::filesystem::path& s) {
  auto storage = ledger::open_rocksdb(db_of(s), {.create_if_missing = false, .read_only = true}).value();
  return *ledger::stored_head(*storage);
}

}  // namespace

TEST_F(LedgerAudit, SignedCheckpointsVerifyAgainstTheMastersCa) {
  auto r = slapctl("ledger verify --db " + db_of(state()) + " --ca " + ca_of(state()));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("ok head=", 0), 0u) << r.out;
  // At least the periodic one and the one written on SIGTERM, which attests the entry before it.
  EXPECT_NE(r.out.find("signed checkpoints: "), std::string::npos) << r.out;
  const auto head = head_of(state());
  EXPECT_NE(r.out.find("the latest attests seq " + std::to_string(head.value() - 1) + " of " + std::to_string(head.value())), std::string::npos)
      << r.out;
  auto json = slapctl("ledger verify --json --db " + db_of(state()) + " --ca " + ca_of(state()));
  auto o = test::parse_object(json.out);
  ASSERT_TRUE(o.contains("checkpoints")) << json.out;
  EXPECT_GE(o.at("checkpoints").as_object().at("verified").as_int64(), 2) << json.out;
}

TEST_F(LedgerAudit, AnotherCasKeyIsRefused) {
  auto other = ca::CertificateAuthority::create("impostor CA");
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other->save(scratch_.path()).ok());
  auto r = slapctl("ledger verify --db " + db_of(state()) + " --ca " + (scratch_.path() / "ca.crt").string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("REFUSED signed checkpoint at seq "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("does not verify against the given CA's key"), std::string::npos) << r.out;
}

TEST_F(LedgerAudit, ACheckpointSignedWithAnotherKeyIsRefused) {
  const auto s = copy_state();
  const ubm::Seq attested = head_of(s);
  const std::string hash(ledger::as_bytes(hash_at(s, attested)));
  auto impostor = ca::CertificateAuthority::create("impostor CA");
  ASSERT_TRUE(impostor.ok());
  auto sig = impostor->sign(ubm::checkpoint_message(attested, hash));
  ASSERT_TRUE(sig.ok());
  append(s, ubm::Checkpoint{attested, hash, *sig});
  // The chain itself is intact: only the signature betrays the forgery.
  EXPECT_EQ(slapctl("ledger verify --db " + db_of(s)).code, 0);
  auto r = slapctl("ledger verify --db " + db_of(s) + " --ca " + ca_of(s));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("REFUSED signed checkpoint at seq " + std::to_string(attested.value() + 1) + ":"), std::string::npos) << r.out;
}

// The chain has no secret: whoever holds the log can append entries (or cut it back) and rehash.
// Only a signature vouches for an entry, so entries past the last signed checkpoint are reported,
// and refused with --require-signed-head; a stopped master's log has none.
TEST_F(LedgerAudit, EntriesNoCheckpointSignsAreReportedAndRefusedOnRequest) {
  EXPECT_EQ(slapctl("ledger verify --require-signed-head --db " + db_of(state()) + " --ca " + ca_of(state())).code, 0)
      << "a stopped master signed its whole log";
  const auto s = copy_state();
  append(s, ubm::Node{ubm::NodeId("PERSON-forged"), ubm::NodeKind::person, "forged", {}});
  auto r = slapctl("ledger verify --db " + db_of(s) + " --ca " + ca_of(s));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("WARNING unsigned tail: 1 entries after seq"), std::string::npos) << r.out;
  auto json = test::parse_object(slapctl("ledger verify --json --db " + db_of(s) + " --ca " + ca_of(s)).out);
  EXPECT_EQ(json.at("checkpoints").as_object().at("unsigned_tail").as_int64(), 1);
  auto strict = slapctl("ledger verify --require-signed-head --db " + db_of(s) + " --ca " + ca_of(s));
  EXPECT_EQ(strict.code, 1) << strict.out;
  EXPECT_NE(strict.out.find("REFUSED unsigned tail"), std::string::npos) << strict.out;
  EXPECT_EQ(slapctl("ledger verify --require-signed-head --db " + db_of(s)).code, 2) << "without --ca there is nothing to require";
}

TEST_F(LedgerAudit, ASignatureOverAnotherHashIsRefused) {
  const auto s = copy_state();
  const ubm::Seq attested = head_of(s);
  std::string hash(ledger::as_bytes(hash_at(s, attested)));
  hash[0] = static_cast<char>(hash[0] ^ 1);  // the master's own key, over a history it never had
  auto authority = ca::CertificateAuthority::load(s);
  ASSERT_TRUE(authority.ok());
  append(s, ubm::Checkpoint{attested, hash, *authority->sign(ubm::checkpoint_message(attested, hash))});
  auto r = slapctl("ledger verify --db " + db_of(s) + " --ca " + ca_of(s));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("is not the chain's hash at seq " + std::to_string(attested.value())), std::string::npos) << r.out;
}

TEST_F(LedgerAudit, ReplayCheckPassesOnTheMastersCheckpoints) {
  auto r = slapctl("ledger replay --check --db " + db_of(state()));
  ASSERT_EQ(r.code, 0) << r.out;
  // directory, six market projections (computers, instances, capacity, usage journals, hosting,
  // billing), identities, signed head.
  EXPECT_NE(r.out.find("ok: 9 projection checkpoints"), std::string::npos) << r.out;
}

TEST_F(LedgerAudit, ReplayCheckNamesTheTamperedRecord) {
  const auto s = copy_state();
  {
    auto storage = ledger::open_rocksdb(db_of(s)).value();
    std::string v = **storage->get(ledger::Family::checkpoints, "market.instances");
    const auto at = v.find("audit-3");
    ASSERT_NE(at, std::string::npos);
    v[at + 6] = '8';  // the title "audit-3" becomes "audit-8", same length: the snapshot still parses
    ledger::WriteBatch wb;
    wb.put(ledger::Family::checkpoints, "market.instances", v);
    ASSERT_TRUE(storage->write(wb, ledger::Sync::yes).ok());
  }
  auto r = slapctl("ledger replay --check --db " + db_of(s));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("DIFFERENCE projection=market.instances key=\"instance SOFTINST-"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DIFFERENT:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 differences"), std::string::npos) << r.out;  // that record only
}

// The computer view's checkpoint with its format mark's version moved by `delta` (the mark leads
// the snapshot, after the checkpoint's 8-byte seq).
static void shift_format_version(const std::filesystem::path& db, int delta) {
  auto storage = ledger::open_rocksdb(db).value();
  std::string v = **storage->get(ledger::Family::checkpoints, "market.computers");
  ASSERT_GE(v.size(), 16u);
  v[8] = static_cast<char>(static_cast<uint8_t>(v[8]) + delta);
  ledger::WriteBatch wb;
  wb.put(ledger::Family::checkpoints, "market.computers", v);
  ASSERT_TRUE(storage->write(wb, ledger::Sync::yes).ok());
}

// A checkpoint an earlier master wrote in an earlier format of its projection is no difference:
// the master would ignore it and rebuild the projection from the log.
TEST_F(LedgerAudit, ReplayCheckSkipsACheckpointOfAnOlderFormat) {
  const auto s = copy_state();
  shift_format_version(db_of(s), -1);
  auto r = slapctl("ledger replay --check --db " + db_of(s));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("SKIPPED projection=market.computers: its checkpoint is an older format (format version"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 checkpoints of an older format not compared"), std::string::npos) << r.out;
}

// A mark of a later version than this slapctl knows is a difference (nothing wrote it).
TEST_F(LedgerAudit, ReplayCheckReportsACheckpointOfALaterFormat) {
  const auto s = copy_state();
  shift_format_version(db_of(s), +1);
  auto r = slapctl("ledger replay --check --db " + db_of(s));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("DIFFERENCE projection=market.computers key=\"(checkpoint)\": the stored snapshot does not parse"), std::string::npos) << r.out;
}

TEST_F(LedgerAudit, ReplayCheckReportsAMangledCheckpoint) {
  const auto s = copy_state();
  {
    auto storage = ledger::open_rocksdb(db_of(s)).value();
    std::string v = **storage->get(ledger::Family::checkpoints, "directory");
    v.resize(v.size() - 3);
    ledger::WriteBatch wb;
    wb.put(ledger::Family::checkpoints, "directory", v);
    ASSERT_TRUE(storage->write(wb, ledger::Sync::yes).ok());
  }
  auto r = slapctl("ledger replay --check --db " + db_of(s));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("DIFFERENCE projection=directory key=\"(checkpoint)\": the stored snapshot does not parse"), std::string::npos) << r.out;
}

TEST_F(LedgerAudit, AnExportVerifiesAndReplaysOffline) {
  const std::string file = (scratch_.path() / "ledger.export").string();
  auto e = slapctl("ledger export --db " + db_of(state()) + " --out " + file);
  ASSERT_EQ(e.code, 0) << e.out;
  auto from_db = slapctl("ledger verify --db " + db_of(state()) + " --ca " + ca_of(state()));
  auto from_file = slapctl("ledger verify --file " + file + " --ca " + ca_of(state()));
  ASSERT_EQ(from_file.code, 0) << from_file.out;
  // Same head, same hash, same checkpoints (the throughput figure aside).
  auto strip = [](const std::string& out) { return out.substr(0, out.find(" bytes=")) + out.substr(out.find('\n')); };
  EXPECT_EQ(strip(from_file.out), strip(from_db.out));
  auto replay_db = slapctl("ledger replay --db " + db_of(state()));
  auto replay_file = slapctl("ledger replay --file " + file);
  ASSERT_EQ(replay_file.code, 0) << replay_file.out;
  EXPECT_EQ(replay_file.out.substr(replay_file.out.find('\n')), replay_db.out.substr(replay_db.out.find('\n')));  // every snapshot digest
  EXPECT_EQ(slapctl("ledger dump --file " + file + " --from 1 --limit 1").code, 0);
}

TEST_F(LedgerAudit, OneChangedByteAnywhereInAnExportIsDetected) {
  const std::string file = (scratch_.path() / "ledger.export").string();
  ASSERT_EQ(slapctl("ledger export --db " + db_of(state()) + " --out " + file).code, 0);
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const char* forced = std::getenv("SLAP_AUDIT_SEED");
  const uint64_t seed = forced ? std::strtoull(forced, nullptr, 10) : std::random_device{}();
  std::printf("export byte-flip seed=%llu (rerun with SLAP_AUDIT_SEED=%llu)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  // The header, the first frame's key, length and padding, the first record, the last byte, and
  // random places.
  std::vector<size_t> positions = {0, 20, 24, 32, 40, 44, 48, 100, bytes.size() - 1};
  for (int i = 0; i < 20; ++i) positions.push_back(rng() % bytes.size());
  const std::string flipped = (scratch_.path() / "flipped.export").string();
  for (size_t at : positions) {
    SCOPED_TRACE("byte " + std::to_string(at) + " of " + std::to_string(bytes.size()) + ", seed " + std::to_string(seed));
    std::string copy = bytes;
    copy[at] = static_cast<char>(copy[at] ^ (1 + rng() % 255));
    {
      std::ofstream out(flipped, std::ios::binary | std::ios::trunc);
      out.write(copy.data(), static_cast<std::streamsize>(copy.size()));
    }
    auto r = slapctl("ledger verify --file " + flipped + " --ca " + ca_of(state()));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(r.out.find("CORRUPT") != std::string::npos || r.out.find("REFUSED") != std::string::npos) << r.out;
  }
}

TEST_F(LedgerAudit, BadAuditInvocationsExitTwo) {
  EXPECT_EQ(slapctl("ledger verify --file /nonexistent/export").code, 2);
  EXPECT_EQ(slapctl("ledger verify --db " + db_of(state()) + " --file /tmp/x").code, 2);
  EXPECT_EQ(slapctl("ledger verify --db " + db_of(state()) + " --ca /nonexistent/ca.crt").code, 2);
  EXPECT_EQ(slapctl("ledger replay --check --file /tmp/x").code, 2);
  EXPECT_EQ(slapctl("ledger export --db " + db_of(state())).code, 2);  // --out is required
}
