// The export file (FORMAT.md, "Export file"): the records round-trip byte for byte, the file is a
// Storage that verify/replay/scan read like a database, and a file that is not exactly a
// well-formed export is refused with the byte offset.
#include <gtest/gtest.h>

#include <fstream>

#include "ledger/balances.h"
#include "ledger/export_file.h"
#include "ledger/memory_storage.h"
#include "ledger/record.h"
#include "tests/ledger/test_util.h"

using namespace slap;

namespace {

std::shared_ptr<ledger::MemoryStorage> filled() {
  auto storage = std::make_shared<ledger::MemoryStorage>();
  ledger::ManualClock clock;
  auto led = ledger::Ledger::open({.storage = storage, .clock = &clock}).value();
  EXPECT_TRUE(led->append(test::parties()).ok());
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(led->append(test::usage_batch(10, i)).ok());  // head 203
  return storage;
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST(LedgerExport, RecordsRoundTripAndVerifyAndReplayAsFromTheDatabase) {
  test::TempDir dir;
  auto storage = filled();
  const auto file = dir.path() / "ledger.export";
  auto written = ledger::write_export(*storage, file);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->entries, 203u);
  EXPECT_EQ(written->head, ubm::Seq{203});
  EXPECT_EQ(written->bytes, std::filesystem::file_size(file));
  EXPECT_FALSE(std::filesystem::exists(file.string() + ".tmp"));

  auto opened = ledger::open_export(file);
  ASSERT_TRUE(std::holds_alternative<std::shared_ptr<ledger::Storage>>(opened));
  auto& exported = *std::get<std::shared_ptr<ledger::Storage>>(opened);
  // Byte for byte, key for key.
  auto a = storage->cursor(ledger::Family::log), b = exported.cursor(ledger::Family::log);
  for (a->seek_to_first(), b->seek_to_first(); a->valid(); a->next(), b->next()) {
    ASSERT_TRUE(b->valid());
    ASSERT_EQ(a->key(), b->key());
    ASSERT_EQ(a->value(), b->value());
  }
  EXPECT_FALSE(b->valid());
  const auto from_db = ledger::verify(*storage), from_file = ledger::verify(exported);
  ASSERT_TRUE(from_file.ok) << from_file.problem;
  EXPECT_EQ(from_file.head_hash, from_db.head_hash);
  EXPECT_EQ(from_file.bytes, from_db.bytes);
  ledger::Balances x, y;
  ledger::Projection* px[] = {&x};
  ledger::Projection* py[] = {&y};
  ASSERT_TRUE(ledger::replay(*storage, px).ok());
  ASSERT_TRUE(ledger::replay(exported, py).ok());
  EXPECT_EQ(x.snapshot(), y.snapshot());
  // Point reads, and the file is read-only.
  EXPECT_EQ(**exported.get(ledger::Family::log, ledger::key_of(ubm::Seq{77})), **storage->get(ledger::Family::log, ledger::key_of(ubm::Seq{77})));
  EXPECT_FALSE(exported.get(ledger::Family::log, ledger::key_of(ubm::Seq{204}))->has_value());
  EXPECT_FALSE(exported.get(ledger::Family::checkpoints, "directory")->has_value());
  EXPECT_FALSE(exported.write(ledger::WriteBatch{}, ledger::Sync::yes).ok());
  // An empty log exports to a header alone, which opens and verifies as empty.
  ASSERT_TRUE(ledger::write_export(ledger::MemoryStorage{}, dir.path() / "empty.export").ok());
  auto empty = ledger::open_export(dir.path() / "empty.export");
  ASSERT_TRUE(std::holds_alternative<std::shared_ptr<ledger::Storage>>(empty));
  EXPECT_EQ(ledger::verify(*std::get<std::shared_ptr<ledger::Storage>>(empty)).entries, 0u);
}

TEST(LedgerExport, AFileThatIsNotExactlyAnExportIsRefusedWithItsOffset) {
  test::TempDir dir;
  const auto file = dir.path() / "ledger.export";
  ASSERT_TRUE(ledger::write_export(*filled(), file).ok());
  const std::string good = read_all(file);
  auto refused = [&](std::string bytes, const std::string& expect) {
    const auto bad = dir.path() / "bad.export";
    write_all(bad, bytes);
    auto opened = ledger::open_export(bad);
    auto* e = std::get_if<ledger::ExportOpenError>(&opened);
    ASSERT_NE(e, nullptr) << expect;
    EXPECT_EQ(e->failure, ledger::ExportOpenFailure::malformed);
    EXPECT_NE(e->detail.find(expect), std::string::npos) << e->detail;
  };
  refused(good.substr(0, 10), "at byte 0: shorter than the 32-byte header");
  std::string magic = good;
  magic[3] ^= 1;
  refused(magic, "at byte 0: not a slapledger export");
  refused(good.substr(0, good.size() - 8), "truncated record");
  refused(good + std::string(8, '\0'), "bytes after the last of 203 frames");
  std::string padding = good;
  padding[32 + 12] = 1;
  refused(padding, "at byte 44: non-zero frame padding");
  std::string order = good;
  order[32 + 7] = 9;  // the first key (seq 1) becomes 9, after which seq 2 is out of order
  refused(order, "keys out of order");
  auto missing = ledger::open_export(dir.path() / "absent.export");
  ASSERT_TRUE(std::holds_alternative<ledger::ExportOpenError>(missing));
  EXPECT_EQ(std::get<ledger::ExportOpenError>(missing).failure, ledger::ExportOpenFailure::unreadable);
}
