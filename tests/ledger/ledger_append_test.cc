#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <thread>

#include "ledger/balances.h"
#include "ledger/memory_storage.h"
#include "tests/ledger/test_util.h"

using namespace slap;
using ledger::Ledger;

namespace {

std::unique_ptr<Ledger> open_memory(std::shared_ptr<ledger::Storage> storage, ledger::Clock* clock, std::vector<ledger::Projection*> ps = {}) {
  auto l = Ledger::open({.storage = std::move(storage), .clock = clock, .projections = std::move(ps)});
  EXPECT_TRUE(l.ok());
  return std::move(l).value();
}

}  // namespace

TEST(LedgerAppend, AssignsConsecutiveSequencesAndClockTimestamps) {
  ledger::ManualClock clock(5'000);
  auto storage = std::make_shared<ledger::MemoryStorage>();
  auto led = open_memory(storage, &clock);
  auto a = led->append(test::parties());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first.value(), 1u);
  EXPECT_EQ(a->last.value(), 3u);
  EXPECT_EQ(a->timestamp.value(), 5'000);
  clock.advance(std::chrono::nanoseconds(10));
  auto b = led->append(test::usage_batch(4, 1));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first.value(), 4u);
  EXPECT_EQ(b->last.value(), 7u);
  EXPECT_EQ(led->head().value(), 7u);
  std::vector<uint64_t> seen;
  ASSERT_TRUE(led->scan(ubm::Seq{1}, ubm::Seq{0}, [&](const ledger::EntryView& v) {
    seen.push_back(v.seq.value());
    EXPECT_EQ(v.timestamp.value(), v.seq.value() <= 3 ? 5'000 : 5'010);
    return true;
  }).ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(storage->size(ledger::Family::log), 7u);
}

TEST(LedgerAppend, TimestampsNeverGoBackwardsWhenTheClockDoes) {
  ledger::ManualClock clock(9'000);
  auto led = open_memory(std::make_shared<ledger::MemoryStorage>(), &clock);
  ASSERT_TRUE(led->append(test::parties()).ok());
  clock.set(1'000);
  auto b = led->append(test::usage_batch(1, 2));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->timestamp.value(), 9'000);
}

TEST(LedgerAppend, HeadHashIsTheChainOverEveryEntry) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::MemoryStorage>();
  auto led = open_memory(storage, &clock);
  ASSERT_TRUE(led->append(test::parties()).ok());
  ASSERT_TRUE(led->append(test::usage_batch(10, 3)).ok());
  auto report = ledger::verify(*storage);
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.head.value(), 13u);
  EXPECT_EQ(report.head_hash, led->head_hash());
  EXPECT_NE(led->head_hash(), ledger::Hash{});
}

TEST(LedgerAppend, StatsCountTheStoredRecordBytesAndNothingOfARejectedBatch) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::MemoryStorage>();
  auto led = open_memory(storage, &clock);
  ASSERT_TRUE(led->append(test::parties()).ok());
  ASSERT_TRUE(led->append(test::usage_batch(10, 3)).ok());
  auto unresolved = test::usage_batch(3, 5);
  std::get<ubm::Movement>(unresolved[2]).destination = ubm::NodeId{"MALLORY"};
  ASSERT_FALSE(led->append(unresolved).ok());
  const auto report = ledger::verify(*storage);  // counts keys (8 bytes each) and stored values
  ASSERT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(led->stats().entries, 13u);
  EXPECT_EQ(led->stats().bytes, report.bytes - 8 * report.entries);
}

TEST(LedgerAppend, AnInvalidEntryRejectsTheWholeBatchAndWritesNothing) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::MemoryStorage>();
  ledger::Balances balances;
  auto led = open_memory(storage, &clock, {&balances});
  ASSERT_TRUE(led->append(test::parties()).ok());
  const auto head = led->head();
  const auto hash = led->head_hash();
  const auto before = balances.snapshot();

  auto batch = test::usage_batch(5, 4);
  auto bad = test::usage("1");
  bad.stop = ubm::TimestampNs{1};  // before start
  batch.push_back(bad);
  auto r = led->append(batch);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ubm::Rejection::STOP_BEFORE_START);
  EXPECT_EQ(r.error().field, "entries[5].stop");

  auto unresolved = test::usage_batch(3, 5);
  std::get<ubm::Movement>(unresolved[2]).destination = ubm::NodeId{"MALLORY"};
  r = led->append(unresolved);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ubm::Rejection::UNRESOLVED_REFERENCE);

  EXPECT_EQ(led->append({}).error().code, ubm::Rejection::EMPTY_BATCH);
  EXPECT_EQ(led->head(), head);
  EXPECT_EQ(led->head_hash(), hash);
  EXPECT_EQ(storage->size(ledger::Family::log), head.value());
  EXPECT_EQ(balances.snapshot(), before);
  EXPECT_EQ(led->stats().rejected, 3u);
}

TEST(LedgerAppend, OversizedBatchIsRefused) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::MemoryStorage>();
  auto l = Ledger::open({.storage = storage, .clock = &clock, .max_batch_entries = 8});
  ASSERT_TRUE(l.ok());
  ASSERT_TRUE((*l)->append(test::parties()).ok());
  auto r = (*l)->append(test::usage_batch(9, 6));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ubm::Rejection::BATCH_TOO_LARGE);
  EXPECT_EQ((*l)->head().value(), 3u);
}

TEST(LedgerAppend, ConcurrentAppendersGetDisjointContiguousRanges) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::MemoryStorage>();
  ledger::Balances balances;
  auto led = open_memory(storage, &clock, {&balances});
  ASSERT_TRUE(led->append(test::parties()).ok());
  constexpr int kThreads = 8, kBatches = 40;
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> ranges(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        auto r = led->append(test::usage_batch(1 + (b % 5), t * 1000 + b));
        ASSERT_TRUE(r.ok());
        ranges[t].emplace_back(r->first.value(), r->last.value());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<std::pair<uint64_t, uint64_t>> all;
  for (auto& r : ranges) all.insert(all.end(), r.begin(), r.end());
  std::sort(all.begin(), all.end());
  uint64_t next = 4;
  for (auto [first, last] : all) {
    EXPECT_EQ(first, next);
    next = last + 1;
  }
  EXPECT_EQ(next - 1, led->head().value());
  EXPECT_TRUE(ledger::verify(*storage).ok);
  // Projections saw every entry exactly once, in order: equal to a replay from scratch.
  ledger::Balances replayed;
  ledger::Directory dir;
  ledger::Projection* ps[] = {&dir, &replayed};
  ASSERT_TRUE(ledger::replay(*storage, ps).ok());
  EXPECT_EQ(replayed.snapshot(), balances.snapshot());
}

namespace {

// Holds the first write until the test opens the gate, so followers pile up behind the leader.
class GatedStorage final : public ledger::Storage {
 public:
  explicit GatedStorage(std::shared_ptr<ledger::Storage> inner) : inner_(std::move(inner)) {}
  ubm::Status write(const ledger::WriteBatch& b, ledger::Sync s) override {
    {
      std::unique_lock lock(mu_);
      ++writes_;
      cv_.wait(lock, [&] { return open_; });
    }
    return inner_->write(b, s);
  }
  ubm::Result<std::optional<std::string>> get(ledger::Family f, std::string_view k) const override { return inner_->get(f, k); }
  std::unique_ptr<ledger::Cursor> cursor(ledger::Family f) const override { return inner_->cursor(f); }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int writes() {
    std::lock_guard lock(mu_);
    return writes_;
  }

 private:
  std::shared_ptr<ledger::Storage> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int writes_ = 0;

 public:
  void close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
};

// Waits for a condition with a deadline: synchronisation by observation, not by a fixed pause.
template <typename F>
bool eventually(F f) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!f()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

TEST(LedgerAppend, WaitingAppendersShareOneGroupCommitWrite) {
  ledger::ManualClock clock;
  auto gated = std::make_shared<GatedStorage>(std::make_shared<ledger::MemoryStorage>());
  auto led = open_memory(gated, &clock);
  ASSERT_TRUE(led->append(test::parties()).ok());
  const int writes_before = gated->writes();
  gated->close();
  std::vector<std::thread> threads;
  threads.emplace_back([&] { ASSERT_TRUE(led->append(test::usage_batch(2, 1)).ok()); });
  ASSERT_TRUE(eventually([&] { return gated->writes() == writes_before + 1; }));  // the leader is writing
  for (int t = 0; t < 3; ++t) threads.emplace_back([&, t] { ASSERT_TRUE(led->append(test::usage_batch(3, 10 + t)).ok()); });
  ASSERT_TRUE(eventually([&] { return led->queued() == 4; }));  // leader + 3 followers
  gated->open();
  for (auto& th : threads) th.join();
  EXPECT_EQ(gated->writes(), writes_before + 2);  // the leader's own, then the three followers together
  EXPECT_EQ(led->head().value(), 3u + 2 + 9);
  EXPECT_EQ(led->stats().max_group_entries, 9u);
}
