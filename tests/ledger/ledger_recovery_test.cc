#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "ledger/balances.h"
#include "ledger/fault_storage.h"
#include "ledger/memory_storage.h"
#include "ledger/rocksdb_storage.h"
#include "tests/ledger/test_util.h"

using namespace slap;
using ledger::Ledger;

namespace {

// Counts the entries it is fed, to tell a tail replay from a full one.
class CountingBalances final : public ledger::Projection {
 public:
  std::string_view name() const override { return "balances"; }
  void apply(std::span<const ledger::EntryView> e) override {
    applied += e.size();
    inner.apply(e);
  }
  ubm::Seq last_applied() const override { return inner.last_applied(); }
  std::string snapshot() const override { return inner.snapshot(); }
  ubm::Status restore(std::string_view s, ubm::Seq l) override { return inner.restore(s, l); }
  void reset() override { inner.reset(); }
  ledger::Balances inner;
  uint64_t applied = 0;
};

std::string replayed_balances(const ledger::Storage& storage) {
  ledger::Directory d;
  ledger::Balances b;
  ledger::Projection* ps[] = {&d, &b};
  EXPECT_TRUE(ledger::replay(storage, ps).ok());
  return b.snapshot();
}

}  // namespace

TEST(LedgerRecovery, ReopenRestoresHeadHashAndProjections) {
  test::TempDir dir;
  ledger::ManualClock clock;
  ubm::Seq head;
  ledger::Hash hash;
  std::string balances_before;
  {
    auto storage = ledger::open_rocksdb(dir.path()).value();
    ledger::Balances b;
    auto led = Ledger::open({.storage = storage, .clock = &clock, .projections = {&b}}).value();
    ASSERT_TRUE(led->append(test::parties()).ok());
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(led->append(test::usage_batch(7, i)).ok());
    head = led->head();
    hash = led->head_hash();
    balances_before = b.snapshot();
  }
  auto storage = ledger::open_rocksdb(dir.path()).value();
  CountingBalances b;
  auto led = Ledger::open({.storage = storage, .clock = &clock, .projections = {&b}}).value();
  EXPECT_EQ(led->head(), head);
  EXPECT_EQ(led->head_hash(), hash);
  EXPECT_EQ(b.snapshot(), balances_before);
  EXPECT_EQ(b.applied, 0u);  // a clean close left a checkpoint at the head: nothing to replay
  EXPECT_EQ(led->directory().node_count(), 2u);
  auto next = led->append(test::usage_batch(1, 99));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->first, ubm::next(head));
}

TEST(LedgerRecovery, CheckpointsLetAReopenReplayOnlyTheTail) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::FaultStorage>();
  {
    ledger::Balances b;
    auto led = Ledger::open({.storage = storage, .clock = &clock, .checkpoint_every = 100, .projections = {&b}}).value();
    ASSERT_TRUE(led->append(test::parties()).ok());
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(led->append(test::usage_batch(5, i)).ok());  // head 253
    storage->fail_next_writes(1);  // the closing checkpoint is lost, as in a crash
  }
  CountingBalances b;
  auto led = Ledger::open({.storage = storage, .clock = &clock, .projections = {&b}}).value();
  EXPECT_EQ(led->head().value(), 253u);
  EXPECT_GT(b.applied, 0u);
  EXPECT_LT(b.applied, 100u);  // only what followed the last periodic checkpoint
  EXPECT_EQ(b.snapshot(), replayed_balances(*storage));
}

TEST(LedgerRecovery, AFailedWriteWritesNothingAndStopsTheLedgerUntilReopened) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::FaultStorage>();
  auto led = Ledger::open({.storage = storage, .clock = &clock}).value();
  ASSERT_TRUE(led->append(test::parties()).ok());
  storage->fail_next_writes(1);
  auto r = led->append(test::usage_batch(3, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ubm::Rejection::STORAGE_ERROR);
  EXPECT_EQ(led->head().value(), 3u);
  EXPECT_FALSE(led->append(test::usage_batch(1, 2)).ok());  // refuses until reopened
  led.reset();
  led = Ledger::open({.storage = storage, .clock = &clock}).value();
  EXPECT_EQ(led->head().value(), 3u);
  auto again = led->append(test::usage_batch(1, 3));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->first.value(), 4u);
  EXPECT_TRUE(ledger::verify(*storage).ok);
}

// A store can fail after taking a write whole (an fsync error after RocksDB appended its log): the
// reopened ledger then holds it. So a failed write is reported as of unknown outcome, never as
// "nothing was written", and the ledger keeps the chain whole either way.
TEST(LedgerRecovery, AWriteThatFailsAfterReachingTheStoreIsReportedUnknownAndKeptOnReopen) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::FaultStorage>();
  auto led = Ledger::open({.storage = storage, .clock = &clock}).value();
  ASSERT_TRUE(led->append(test::parties()).ok());
  storage->tear_next_write(1'000'000);  // every operation lands, then the write reports failure
  auto r = led->append(test::usage_batch(3, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ubm::Rejection::STORAGE_ERROR);
  EXPECT_NE(r.error().detail.find("unknown"), std::string::npos) << r.error().detail;
  led.reset();
  led = Ledger::open({.storage = storage, .clock = &clock}).value();
  EXPECT_EQ(led->head().value(), 6u);  // the three entries were whole in the store: kept
  EXPECT_TRUE(ledger::verify(*storage).ok);
}

TEST(LedgerRecovery, ATornBatchIsNeverHalfThereAfterReopen) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::FaultStorage>();
  std::string balances_before;
  {
    ledger::Balances b;
    auto led = Ledger::open({.storage = storage, .clock = &clock, .projections = {&b}}).value();
    ASSERT_TRUE(led->append(test::parties()).ok());
    ASSERT_TRUE(led->append(test::usage_batch(4, 1)).ok());  // head 7
    balances_before = b.snapshot();
    storage->tear_next_write(3);  // 3 of 5 records reach the disk
    ASSERT_FALSE(led->append(test::usage_batch(5, 2)).ok());
  }
  storage->crash();
  auto report = ledger::verify(*storage);
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad.value(), 8u);  // the incomplete batch starts at 8
  EXPECT_EQ(report.head.value(), 7u);

  ledger::Balances b;
  auto led = Ledger::open({.storage = storage, .clock = &clock, .projections = {&b}}).value();
  EXPECT_EQ(led->head().value(), 7u);
  EXPECT_TRUE(ledger::verify(*storage).ok);
  EXPECT_EQ(b.snapshot(), balances_before);
  ASSERT_TRUE(led->append(test::usage_batch(2, 3)).ok());
  EXPECT_EQ(led->head().value(), 9u);
}

TEST(LedgerRecovery, SyncedAppendsSurviveACrashBufferedOnesMayNot) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::FaultStorage>();
  {
    auto led = Ledger::open({.storage = storage, .clock = &clock}).value();
    ASSERT_TRUE(led->append(test::parties()).ok());
    ASSERT_TRUE(led->append(test::usage_batch(10, 1)).ok());
    storage->fail_next_writes(1);  // no closing checkpoint
  }
  storage->crash();
  {
    auto led = Ledger::open({.storage = storage, .clock = &clock, .durability = ledger::Durability::buffered}).value();
    EXPECT_EQ(led->head().value(), 13u);  // every synced acknowledgement survived
    ASSERT_TRUE(led->append(test::usage_batch(10, 2)).ok());
    EXPECT_EQ(led->head().value(), 23u);
    storage->fail_next_writes(1);
  }
  storage->crash();
  auto led = Ledger::open({.storage = storage, .clock = &clock}).value();
  EXPECT_EQ(led->head().value(), 13u);  // buffered writes were never promised to survive this
  EXPECT_TRUE(ledger::verify(*storage).ok);
}

TEST(LedgerRecovery, ACheckpointAheadOfTheLogOrMalformedIsIgnored) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::MemoryStorage>();
  {
    ledger::Balances b;
    auto led = Ledger::open({.storage = storage, .clock = &clock, .projections = {&b}}).value();
    ASSERT_TRUE(led->append(test::parties()).ok());
    ASSERT_TRUE(led->append(test::usage_batch(6, 1)).ok());
  }
  const std::string truth = replayed_balances(*storage);
  for (std::string bad : {std::string("\xff\xff\xff\xff\xff\xff\xff\x0f", 8) + "junk", std::string("\x05\0\0\0\0\0\0\0garbage", 15)}) {
    ledger::WriteBatch wb;
    wb.put(ledger::Family::checkpoints, "balances", bad);
    ASSERT_TRUE(storage->write(wb, ledger::Sync::yes).ok());
    CountingBalances b;
    auto led = Ledger::open({.storage = storage, .clock = &clock, .projections = {&b}}).value();
    EXPECT_EQ(b.applied, 9u);  // rebuilt from the whole log
    EXPECT_EQ(b.snapshot(), truth);
    const auto ignored = led->stats().checkpoints_ignored;  // stats() is a copy
    EXPECT_EQ(std::count_if(ignored.begin(), ignored.end(), [](const std::string& why) { return why.starts_with("balances: "); }), 1)
        << "said";
  }
}

// A checkpoint the store cannot read at all (a bad block under the checkpoints' keys) does not keep
// the ledger from opening on its intact log: the projection is rebuilt from the log, and the open
// says which checkpoint it ignored. Before, the master refused to start.
TEST(LedgerRecovery, AnUnreadableCheckpointIsRebuiltFromTheLogNotARefusalToOpen) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::FaultStorage>();
  {
    ledger::Balances b;
    auto led = Ledger::open({.storage = storage, .clock = &clock, .projections = {&b}}).value();
    ASSERT_TRUE(led->append(test::parties()).ok());
    ASSERT_TRUE(led->append(test::usage_batch(6, 1)).ok());
  }  // closing writes the checkpoint
  ASSERT_TRUE(storage->get(ledger::Family::checkpoints, "balances").value().has_value());
  const std::string truth = replayed_balances(*storage);
  storage->fail_gets(ledger::Family::checkpoints);
  CountingBalances b;
  auto led = Ledger::open({.storage = storage, .clock = &clock, .projections = {&b}});
  ASSERT_TRUE(led.ok()) << led.error().to_string();
  EXPECT_EQ(b.applied, 9u);  // rebuilt from the whole log
  EXPECT_EQ(b.snapshot(), truth);
  // Said of each projection: balances, and the ledger's own directory.
  const auto ignored = (*led)->stats().checkpoints_ignored;  // stats() is a copy
  EXPECT_EQ(std::count(ignored.begin(), ignored.end(), "balances: injected read failure"), 1);
  EXPECT_EQ(std::count(ignored.begin(), ignored.end(), "directory: injected read failure"), 1);
  storage->clear_faults();
}

// A byte changed in the middle of the write-ahead log (where the newest acknowledged entries live
// until a flush) makes the ledger refuse to open, for the master and for an auditor alike: RocksDB's
// default recovery stopped at the bad record and opened a shorter log, silently.
TEST(LedgerRecovery, ACorruptedWriteAheadLogRecordIsRefusedNotTruncatedAway) {
  test::TempDir dir;
  ledger::ManualClock clock;
  {
    auto storage = ledger::open_rocksdb(dir.path()).value();
    auto led = Ledger::open({.storage = storage, .clock = &clock, .checkpoint_every = 0}).value();
    ASSERT_TRUE(led->append(test::parties()).ok());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(led->append(test::usage_batch(5, i)).ok());
  }
  // The largest WAL file holds the appends (a clean close does not flush them to a table).
  std::filesystem::path wal;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    if (e.path().extension() == ".log" && (wal.empty() || e.file_size() > std::filesystem::file_size(wal))) wal = e.path();
  }
  ASSERT_FALSE(wal.empty());
  const auto size = std::filesystem::file_size(wal);
  ASSERT_GT(size, 4096u);
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size / 3));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(size / 3));
    c = static_cast<char>(c ^ 0x5A);
    f.write(&c, 1);
  }
  for (const bool read_only : {true, false}) {
    auto storage = ledger::open_rocksdb(dir.path(), {.read_only = read_only});
    if (!storage) continue;  // refused: what must happen
    // Opened: then nothing may be missing (the changed byte was not in a record it replays).
    auto led = Ledger::open({.storage = *storage, .clock = &clock, .checkpoint_every = 0});
    ASSERT_TRUE(led.ok());
    ADD_FAILURE() << (read_only ? "read-only" : "read-write") << " open of a corrupted WAL succeeded with head " << (*led)->head().value();
  }
}
