// A batch decided while the writer is busy joins the decided batch already waiting for it, so both
// land in one synced write; a failed merged write fails every command in it, and the market is
// rebuilt before they are answered.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "ledger/fault_storage.h"
#include "ledger/memory_storage.h"
#include "market/sequencer.h"
#include "market_fixture.h"
#include "sequencer_world.h"

namespace slap::market::testing {
namespace {

// Memory storage whose writes wait at a gate the test opens, and can be told to fail.
class GatedStorage final : public ledger::Storage {
 public:
  ubm::Status write(const ledger::WriteBatch& batch, ledger::Sync sync) override {
    std::unique_lock lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    if (fail_next_ > 0) {
      --fail_next_;
      return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "storage", "injected failure");
    }
    return inner_.write(batch, sync);
  }
  ubm::Result<std::optional<std::string>> get(ledger::Family f, std::string_view key) const override { return inner_.get(f, key); }
  std::unique_ptr<ledger::Cursor> cursor(ledger::Family f) const override { return inner_.cursor(f); }

  void close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void fail_next_writes(int n) {
    std::lock_guard lock(mu_);
    fail_next_ = n;
  }
  size_t entered() {
    std::lock_guard lock(mu_);
    return entered_;
  }
  // Waits (bounded) until `n` writes in all have reached the storage.
  bool wait_entered(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return entered_ >= n; });
  }

 private:
  ledger::MemoryStorage inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int fail_next_ = 0;
  size_t entered_ = 0;
};

bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

struct World : SequencerWorld<GatedStorage> {
  World() : SequencerWorld(8) {}
};

TEST(SequencerMerge, BatchesDecidedWhileTheWriterIsBusyLandInOneWrite) {
  World w;
  Sequencer seq(w.market, {.max_batch = 1000, .pipeline = 2});
  const uint64_t writes_before = w.ledger->stats().writes;
  w.storage->close();
  const size_t entered = w.storage->entered();
  auto a = seq.submit(World::request("a"));
  ASSERT_TRUE(w.storage->wait_entered(entered + 1));  // the writer holds a's batch at the gate
  auto b = seq.submit(World::request("b"));
  ASSERT_TRUE(eventually([&] { return seq.stats().decided == 2; })) << seq.stats().decided;  // b decided, waiting for the writer
  auto c = seq.submit(World::request("c"));
  ASSERT_TRUE(eventually([&] { return seq.stats().decided == 3; }));
  EXPECT_EQ(seq.stats().merged, 1u);  // c joined b
  w.storage->open();

  std::set<std::string> partitions;
  for (auto* f : {&a, &b, &c}) {
    auto r = f->get();
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->computer, "COMP-1");
    partitions.insert(r->partition);
  }
  EXPECT_EQ(partitions.size(), 3u);                           // three partitions, none shared
  EXPECT_EQ(w.ledger->stats().writes - writes_before, 2u);    // a's write, then b and c together
  EXPECT_NE(w.market.instances().find("alice", "c"), nullptr);
}

TEST(SequencerMerge, AFailedMergedWriteFailsEveryCommandInItAndNothingOfThemRemains) {
  World w;
  Sequencer seq(w.market, {.max_batch = 1000, .pipeline = 2});
  const ubm::Seq head_before = w.ledger->head();
  w.storage->close();
  w.storage->fail_next_writes(2);  // a's write, then the merged b + c (if it reaches the storage)
  const size_t entered = w.storage->entered();
  auto a = seq.submit(World::request("a"));
  ASSERT_TRUE(w.storage->wait_entered(entered + 1));
  auto b = seq.submit(World::request("b"));
  ASSERT_TRUE(eventually([&] { return seq.stats().decided == 2; }));
  auto c = seq.submit(World::request("c"));
  ASSERT_TRUE(eventually([&] { return seq.stats().decided == 3; }));
  EXPECT_EQ(seq.stats().merged, 1u);
  w.storage->open();

  for (auto* f : {&a, &b, &c}) {
    auto r = f->get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ubm::Rejection::STORAGE_ERROR);
  }
  EXPECT_EQ(w.ledger->head(), head_before);
  for (const char* t : {"a", "b", "c"}) EXPECT_EQ(w.market.instances().find("alice", t), nullptr) << t;
}

// A failed write whose rebuild cannot read the log leaves the market failed(): the commands queued
// meanwhile are refused, never decided on the half-built projections, and the deciding thread
// tries the rebuild again by itself (about once a second, commands or none) until the log reads.
TEST(SequencerFailedMarket, CommandsAreRefusedUntilTheRebuildReadsTheLogAgain) {
  SequencerWorld<ledger::FaultStorage> w(4);
  const auto whole = snapshots(w.market.projections());
  Sequencer seq(w.market, {.max_batch = 1000, .pipeline = 2});
  w.storage->fail_next_writes(1);
  w.storage->fail_scans_after(2);
  auto a = seq.submit(SequencerWorld<ledger::FaultStorage>::request("a")).get();
  ASSERT_FALSE(a.ok());
  ASSERT_TRUE(w.market.failed());
  EXPECT_GE(seq.stats().rebuild_failures, 1u);
  auto b = seq.submit(SequencerWorld<ledger::FaultStorage>::request("b")).get();
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, ubm::Rejection::STORAGE_ERROR);
  EXPECT_NE(b.error().detail.find("could not be rebuilt"), std::string::npos) << b.error().to_string();
  EXPECT_EQ(w.market.instances().find("alice", "b"), nullptr);
  w.storage->clear_faults();  // the log reads again; no command is sent
  ASSERT_TRUE(eventually([&] { return !w.market.failed(); })) << "rebuilt by the deciding thread on its own";
  EXPECT_EQ(w.market.generation() % 2, 0u);
  EXPECT_EQ(snapshots(w.market.projections()), whole);
}

// Commands queued together whose entries fill a batch (kMaxBatchEntries): the sequencer decides
// those that fit, puts the others back at the head of the queue, and decides them next, in order;
// every command is answered.
TEST(SequencerSplit, CommandsWhoseEntriesFillABatchAreDecidedInOrderOverTwoBatches) {
  World w;
  std::vector<Command> formats;
  for (int c = 0; c < 6; ++c) {
    const std::string guid = "COMP-" + std::to_string(100 + c);
    ASSERT_TRUE(w.market.execute(RegisterComputer{guid, "owner", "net-1", Scope::open, 1, "EUR", "", {}}).ok());
    DeclareCapacity d{guid, {}};
    for (int p = 0; p < 9'000; ++p) d.partitions.push_back(PartitionSpec{"slappart" + std::to_string(p), {}, {}, ""});
    formats.push_back(std::move(d));
  }
  formats.push_back(World::request("after"));  // queued last: decided last
  Sequencer seq(w.market, {.max_batch = 1000, .pipeline = 2});
  const uint64_t decided_before = seq.stats().decided;
  std::mutex mu;
  std::vector<int> answered;  // in the order the answers came
  std::vector<Sequencer::Callback> done;
  bool all_ok = true;
  for (size_t k = 0; k < formats.size(); ++k) {
    done.push_back([&, k](ubm::Result<Outcome> r) {
      std::lock_guard lock(mu);
      all_ok = all_ok && r.ok();
      answered.push_back(static_cast<int>(k));
    });
  }
  ASSERT_TRUE(seq.try_submit_all(std::move(formats), std::move(done)));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return answered.size() == 7;
  }));
  std::lock_guard lock(mu);
  EXPECT_TRUE(all_ok);
  EXPECT_EQ(answered, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_GE(seq.stats().decided - decided_before, 2u) << "one batch could not hold them all";
  for (int c = 0; c < 6; ++c) EXPECT_EQ(w.market.capacity().find("COMP-" + std::to_string(100 + c))->present, 9'000u);
  EXPECT_NE(w.market.instances().find("alice", "after"), nullptr);
}

}  // namespace
}  // namespace slap::market::testing
