// The master's signed checkpoints, on a real slapmaster: one at the interval once the head moved,
// one on SIGTERM, none when the head is already a checkpoint; GET /v1/ledger/head returns the
// latest with a signature that verifies against ca.crt over exactly (seq, chain hash).
#include <gtest/gtest.h>

#include "ledger/hash.h"
#include "slapd/ca/certificate_authority.h"
#include "tests/ledger/test_util.h"
#include "tests/slapd/master_process.h"
#include "ubm/model.h"

using namespace slap;
using test::parse_object;
using test::str;

namespace {

boost::json::object head_of(const test::MasterProcess& master) {
  return parse_object(master.client(master.admin()).get("/v1/ledger/head").body);
}

bool has_checkpoint(const boost::json::object& head) {
  auto* c = head.if_contains("checkpoint");
  return c != nullptr && c->is_object();
}

uint64_t u(const boost::json::object& o, const char* key) { return static_cast<uint64_t>(o.at(key).as_int64()); }

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// The checkpoint in a head reply is signed by the master's CA over "seq, hash" as documented.
void expect_signed(const test::MasterProcess& master, const boost::json::object& head) {
  ASSERT_TRUE(has_checkpoint(head));
  const auto& c = head.at("checkpoint").as_object();
  const std::string hash = unhex(str(c, "hash"));
  ASSERT_EQ(hash.size(), 32u);
  const std::string message = ubm::checkpoint_message(ubm::Seq{u(c, "seq")}, hash);
  EXPECT_EQ(str(c, "message"), message);
  EXPECT_TRUE(ca::verify_signature(master.ca(), message, unhex(str(c, "signature"))));
  EXPECT_EQ(str(c, "signer_sha256"), ledger::to_hex(*ca::fingerprint_of_pem(master.ca())));
  EXPECT_LT(u(c, "seq"), u(c, "entry_seq"));
  // Another CA's key does not verify it.
  auto other = ca::CertificateAuthority::create("other");
  EXPECT_FALSE(ca::verify_signature(other->certificate_pem(), message, unhex(str(c, "signature"))));
}

}  // namespace

TEST(MasterCheckpoint, SignsTheMovedHeadAtTheInterval) {
  test::TempDir dir;
  test::MasterProcess master(dir.path() / "master", {"--checkpoint-interval", "1"});
  ASSERT_TRUE(master.ready());
  // Initialisation appended entries: the first interval attests them.
  ASSERT_TRUE(test::wait_until([&] { return has_checkpoint(head_of(master)); }, std::chrono::seconds(20)));
  auto first = head_of(master);
  expect_signed(master, first);

  // A change moves the head; the next interval attests it.
  auto admin = master.client(master.admin());
  ASSERT_EQ(admin.post("/v1/persons", R"({"name":"Bob"})").status, 201u);
  const uint64_t moved = u(head_of(master), "seq");
  ASSERT_TRUE(test::wait_until([&] {
    auto h = head_of(master);
    return has_checkpoint(h) && u(h.at("checkpoint").as_object(), "seq") >= moved;
  }, std::chrono::seconds(20)));
  auto second = head_of(master);
  expect_signed(master, second);
  const auto& c = second.at("checkpoint").as_object();
  EXPECT_EQ(u(c, "seq"), moved);
  EXPECT_GT(u(second, "checkpoints"), u(first, "checkpoints"));

  // The signed hash is the chain's hash at that seq, as the ledger stream shows it.
  auto entry = master.client(master.admin()).get("/v1/ledger?from=" + std::to_string(moved) + "&limit=1");
  ASSERT_EQ(entry.status, 200u);
  EXPECT_NE(entry.body.find(str(c, "hash")), std::string::npos) << entry.body;

  // The head is now the checkpoint itself (nothing else happened): SIGTERM adds none.
  ASSERT_TRUE(test::wait_until([&] {
    auto h = head_of(master);
    return has_checkpoint(h) && u(h, "seq") == u(h.at("checkpoint").as_object(), "entry_seq");
  }, std::chrono::seconds(20)));
  const uint64_t idle_head = u(head_of(master), "seq");
  const int status = master.kill(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  master.start();
  ASSERT_TRUE(master.ready());
  EXPECT_EQ(u(head_of(master), "seq"), idle_head);
}

TEST(MasterCheckpoint, SigtermSignsTheFinalHead) {
  test::TempDir dir;
  // An interval longer than the test: only the shutdown can sign.
  test::MasterProcess master(dir.path() / "master", {"--checkpoint-interval", "3600"});
  ASSERT_TRUE(master.ready());
  auto admin = master.client(master.admin());
  ASSERT_EQ(admin.post("/v1/persons", R"({"name":"Carol"})").status, 201u);
  auto before = head_of(master);
  // `master init` within serve signed its own first head on the way; whatever it was, it is older.
  if (has_checkpoint(before)) {
    EXPECT_LT(u(before.at("checkpoint").as_object(), "seq"), u(before, "seq"));
  }
  const int status = master.kill(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  master.start();
  ASSERT_TRUE(master.ready());
  auto after = head_of(master);
  expect_signed(master, after);
  const auto& c = after.at("checkpoint").as_object();
  EXPECT_EQ(u(c, "seq"), u(before, "seq"));         // attests the last entry before the shutdown
  EXPECT_EQ(u(c, "entry_seq"), u(before, "seq") + 1);  // and is the entry right after it
  EXPECT_EQ(u(after, "seq"), u(before, "seq") + 1);
  EXPECT_EQ(str(c, "hash"), str(before, "hash"));
}

TEST(MasterCheckpoint, TheHeadIsForAuditors) {
  test::TempDir dir;
  test::MasterProcess master(dir.path() / "master");
  ASSERT_TRUE(master.ready());
  auto admin = master.client(master.admin());
  auto person = master.client(test::cert_of(parse_object(admin.post("/v1/persons", R"({"name":"Dan"})").body)));
  EXPECT_EQ(person.get("/v1/ledger/head").status, 403u);
  auto auditor = master.client(test::cert_of(parse_object(admin.post("/v1/persons", R"({"name":"Eve","role":"auditor"})").body)));
  auto r = auditor.get("/v1/ledger/head");
  ASSERT_EQ(r.status, 200u) << r.body;
  auto o = parse_object(r.body);
  EXPECT_TRUE(o.contains("checkpoint"));
  EXPECT_EQ(str(o, "hash").size(), 64u);
}
