#include <gtest/gtest.h>

#include "ledger/memory_storage.h"
#include "ledger/record.h"
#include "ledger/rocksdb_storage.h"
#include "tests/ledger/test_util.h"

using namespace slap;

namespace {

void fill(std::shared_ptr<ledger::Storage> storage) {
  ledger::ManualClock clock;
  auto led = ledger::Ledger::open({.storage = storage, .clock = &clock}).value();
  ASSERT_TRUE(led->append(test::parties()).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(led->append(test::usage_batch(10, i)).ok());  // head 103
}

// Rewrites the record of `seq` through the storage interface after `mutate` changed its bytes.
void tamper(ledger::Storage& storage, uint64_t seq, const std::function<void(std::string&)>& mutate) {
  const std::string key = ledger::key_of(ubm::Seq{seq});
  auto value = storage.get(ledger::Family::log, key);
  ASSERT_TRUE(value.ok() && value->has_value());
  std::string bytes = **value;
  mutate(bytes);
  ledger::WriteBatch wb;
  wb.put(ledger::Family::log, key, bytes);
  ASSERT_TRUE(storage.write(wb, ledger::Sync::yes).ok());
}

}  // namespace

TEST(LedgerCorruption, VerifyNamesExactlyTheAlteredEntry) {
  // One byte flipped in the entry, in the stored hash, in the header, for several positions.
  for (uint64_t seq : {1u, 37u, 103u}) {
    for (size_t offset : {ledger::kRecordHeaderSize + 20, ledger::kHashOffset + 3, size_t{9}}) {
      auto storage = std::make_shared<ledger::MemoryStorage>();
      fill(storage);
      ASSERT_TRUE(ledger::verify(*storage).ok);
      tamper(*storage, seq, [&](std::string& b) { b[offset] = static_cast<char>(b[offset] ^ 0x01); });
      auto report = ledger::verify(*storage);
      EXPECT_FALSE(report.ok);
      EXPECT_EQ(report.first_bad.value(), seq) << "offset " << offset;
      EXPECT_EQ(report.head.value(), seq - 1);
    }
  }
}

TEST(LedgerCorruption, VerifyOnRocksDBNamesTheAlteredEntry) {
  test::TempDir dir;
  {
    auto storage = ledger::open_rocksdb(dir.path()).value();
    fill(storage);
    tamper(*storage, 58, [](std::string& b) { b.back() = static_cast<char>(b.back() ^ 0x80); });
  }
  auto storage = ledger::open_rocksdb(dir.path(), {.create_if_missing = false, .read_only = true}).value();
  auto report = ledger::verify(*storage);
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad.value(), 58u);
  EXPECT_EQ(report.problem, "hash mismatch");
}

TEST(LedgerCorruption, AMissingOrTruncatedEntryIsReported) {
  auto storage = std::make_shared<ledger::MemoryStorage>();
  fill(storage);
  tamper(*storage, 70, [](std::string& b) { b.resize(b.size() - 8); });
  auto report = ledger::verify(*storage);
  EXPECT_EQ(report.first_bad.value(), 70u);

  auto storage2 = std::make_shared<ledger::MemoryStorage>();
  fill(storage2);
  ledger::WriteBatch wb;
  wb.remove(ledger::Family::log, ledger::key_of(ubm::Seq{50}));
  ASSERT_TRUE(storage2->write(wb, ledger::Sync::yes).ok());
  report = ledger::verify(*storage2);
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad.value(), 50u);
  // Replay refuses to build projections over a hole.
  ledger::Directory d;
  ledger::Projection* ps[] = {&d};
  auto r = ledger::replay(*storage2, ps);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "seq 50");
}

TEST(LedgerCorruption, AnEntryMovedToAnotherKeyIsCaught) {
  auto storage = std::make_shared<ledger::MemoryStorage>();
  fill(storage);
  // Copy record 10 over record 11: its hash is self-consistent but does not chain from 10.
  auto ten = storage->get(ledger::Family::log, ledger::key_of(ubm::Seq{10})).value();
  ledger::WriteBatch wb;
  wb.put(ledger::Family::log, ledger::key_of(ubm::Seq{11}), *ten);
  ASSERT_TRUE(storage->write(wb, ledger::Sync::yes).ok());
  EXPECT_EQ(ledger::verify(*storage).first_bad.value(), 11u);
}

// Both readers stop at the first record that does not check, name it, and have fed the
// projections exactly the entries before it. The log is long enough (3,003 entries) for the
// pipelined reader's batches of 1,024 to span it, and bad records are placed in the first batch,
// on a batch boundary and in the last batch.
TEST(LedgerCorruption, ReplayStopsAtTheFirstBadRecordWithEitherReader) {
  for (uint64_t bad : {70u, 1024u, 1025u, 2049u, 3003u}) {
    for (auto reader : {ledger::ReplayReader::inline_, ledger::ReplayReader::pipelined}) {
      auto storage = std::make_shared<ledger::MemoryStorage>();
      {
        ledger::ManualClock clock;
        auto led = ledger::Ledger::open({.storage = storage, .clock = &clock}).value();
        ASSERT_TRUE(led->append(test::parties()).ok());
        for (int i = 0; i < 300; ++i) ASSERT_TRUE(led->append(test::usage_batch(10, i)).ok());
        ASSERT_EQ(led->head().value(), 3003u);
      }
      tamper(*storage, bad, [](std::string& b) { b.resize(b.size() - 8); });
      ledger::Directory d;
      ledger::Projection* ps[] = {&d};
      auto r = ledger::replay(*storage, ps, {}, reader);
      ASSERT_FALSE(r.ok()) << "record " << bad;
      EXPECT_EQ(r.error().field, "seq " + std::to_string(bad));
      EXPECT_EQ(d.last_applied().value(), bad - 1) << (reader == ledger::ReplayReader::inline_ ? "inline" : "pipelined");
    }
  }
}
