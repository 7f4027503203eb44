// Under a steady stream of commands the market's projections are always ahead of the ledger by the
// batch in flight, so only the sequencer can checkpoint them: it stops deciding until what it
// decided is written, then checkpoints every projection. A restart restores those checkpoints and
// replays only the tail, to the same state.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <future>
#include <thread>
#include <vector>

#include "ledger/little_endian.h"
#include "ledger/memory_storage.h"
#include "market/sequencer.h"
#include "sequencer_world.h"

namespace slap::market::testing {
namespace {

constexpr int kPartitions = 256;
constexpr int kSubmitters = 4;
constexpr int kPerSubmitter = 50;  // 200 requests, each allocated: 1 entry (it registers its instance)

// Memory storage that counts the writes carrying a checkpoint of the market's instances.
class CountingStorage final : public ledger::Storage {
 public:
  ubm::Status write(const ledger::WriteBatch& batch, ledger::Sync sync) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto op = batch.op(i);
      if (op.family == ledger::Family::checkpoints && op.key == "market.instances") market_checkpoints.fetch_add(1);
    }
    return inner_.write(batch, sync);
  }
  ubm::Result<std::optional<std::string>> get(ledger::Family f, std::string_view key) const override { return inner_.get(f, key); }
  std::unique_ptr<ledger::Cursor> cursor(ledger::Family f) const override { return inner_.cursor(f); }
  std::atomic<int> market_checkpoints{0};

 private:
  ledger::MemoryStorage inner_;
};

struct World : SequencerWorld<CountingStorage> {
  World() : SequencerWorld(kPartitions) {}

  // Submitters racing each other, so batches keep coming while earlier ones are written.
  void stream(Sequencer& seq) {
    std::vector<std::thread> threads;
    std::atomic<int> failed{0};
    for (int t = 0; t < kSubmitters; ++t) {
      threads.emplace_back([&, t] {
        std::vector<std::future<ubm::Result<Outcome>>> answers;
        for (int k = 0; k < kPerSubmitter; ++k) {
          answers.push_back(seq.submit(request("i-" + std::to_string(t) + "-" + std::to_string(k))));
        }
        for (auto& a : answers) {
          auto r = a.get();
          if (!r.ok() || r->partition.empty()) failed.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failed.load(), 0);
  }

  // The sequence number a projection's stored checkpoint covers (0: none stored).
  uint64_t checkpoint_seq(std::string_view projection) const {
    auto v = storage->get(ledger::Family::checkpoints, projection);
    if (!v.ok() || !v->has_value() || (*v)->size() < 8) return 0;
    return ledger::le::get64((*v)->data());
  }
};

class SequencerCheckpoint : public ::testing::TestWithParam<size_t> {};

TEST_P(SequencerCheckpoint, MarketProjectionsAreCheckpointedWhileCommandsKeepComingAndRestoreToTheSameState) {
  World w;
  {
    // Spacing by size off (one byte would count for ~2^40 entries): a checkpoint every 20 entries.
    Sequencer seq(w.market, {.max_batch = 8, .pipeline = GetParam(), .checkpoint_every = 20, .checkpoint_bytes_per_entry = uint64_t{1} << 40});
    w.stream(seq);
    seq.close();  // checkpoints are written on their own thread: the last one lands before close returns
    EXPECT_GE(seq.stats().checkpoints, 5u);  // 200 entries: about ten
    EXPECT_EQ(seq.stats().checkpoint_failures, 0u);
    // Each of them held the market's projections (they decline while a batch is in flight).
    EXPECT_EQ(w.storage->market_checkpoints.load(), static_cast<int>(seq.stats().checkpoints));
  }
  const uint64_t head = w.ledger->head().value();
  const uint64_t covered = w.checkpoint_seq("market.instances");
  ASSERT_GT(covered, 0u) << "the market's projections were never checkpointed";
  EXPECT_GT(covered + 100, head);  // recent: ~20 entries decided after it at most, plus a batch
  for (const char* p : {"market.computers", "market.capacity", "directory"}) EXPECT_EQ(w.checkpoint_seq(p), covered) << p;

  // A second master on the same log restores the checkpoints and replays the tail only.
  Market restored{MarketOptions{.clock = &w.clock}};
  auto again = ledger::Ledger::open({.storage = w.storage, .clock = &w.clock, .checkpoint_every = 0, .projections = restored.projections()});
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  const auto live = w.market.projections();
  const auto back = restored.projections();
  ASSERT_EQ(live.size(), back.size());
  for (size_t i = 0; i < live.size(); ++i) {
    EXPECT_EQ(live[i]->last_applied().value(), back[i]->last_applied().value()) << live[i]->name();
    EXPECT_EQ(live[i]->snapshot(), back[i]->snapshot()) << live[i]->name();
  }
}

INSTANTIATE_TEST_SUITE_P(Pipelines, SequencerCheckpoint, ::testing::Values(size_t{0}, size_t{2}),
                         [](const ::testing::TestParamInfo<size_t>& p) { return "pipeline" + std::to_string(p.param); });

TEST(SequencerCheckpointSpacing, ALargerCheckpointPushesTheNextOneFurther) {
  World w;
  Sequencer seq(w.market, {.max_batch = 8, .pipeline = 2, .checkpoint_every = 20, .checkpoint_bytes_per_entry = 1});
  w.stream(seq);
  seq.close();
  // The first checkpoint holds thousands of bytes (256 partitions), so with one byte per entry the
  // next would come thousands of entries later: 400 entries give exactly one.
  EXPECT_EQ(seq.stats().checkpoints, 1u);
  EXPECT_GT(w.ledger->stats().last_checkpoint_bytes, 400u);
  // What /metrics shows of it: its size as the ledger wrote it, and the time deciding stood still.
  EXPECT_EQ(seq.stats().last_checkpoint_bytes, w.ledger->stats().last_checkpoint_bytes);
  EXPECT_GT(seq.stats().checkpoint_ns, 0u);
  EXPECT_GT(seq.stats().checkpoint_write_ns, 0u);
}

// Memory storage whose large writes (checkpoint images) wait until the test opens the gate, so a
// test can hold a checkpoint write for as long as it likes and see what goes on meanwhile.
class GatedLargeWrites final : public ledger::Storage {
 public:
  ubm::Status write(const ledger::WriteBatch& batch, ledger::Sync sync) override { return inner_.write(batch, sync); }
  ubm::Status write_large(const ledger::WriteBatch& batch) override {
    std::unique_lock lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    return inner_.write(batch, ledger::Sync::yes);
  }
  ubm::Result<std::optional<std::string>> get(ledger::Family f, std::string_view key) const override { return inner_.get(f, key); }
  std::unique_ptr<ledger::Cursor> cursor(ledger::Family f) const override { return inner_.cursor(f); }

  void wait_entered() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return entered_ > 0; });
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  ledger::MemoryStorage inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool open_ = false;
};

TEST(SequencerCheckpointWrite, DecidingAndAnsweringGoOnWhileACheckpointIsBeingWritten) {
  SequencerWorld<GatedLargeWrites> w(kPartitions);
  // One checkpoint after 20 entries; with one byte per entry the next would come thousands of
  // entries later (it would wait for this one to be written).
  Sequencer seq(w.market, {.max_batch = 8, .pipeline = 2, .checkpoint_every = 20, .checkpoint_bytes_per_entry = 1});
  // Enough requests (2 entries each) to reach the checkpoint; its write then hangs at the gate.
  std::vector<std::future<ubm::Result<Outcome>>> before;
  for (int k = 0; k < 20; ++k) before.push_back(seq.submit(w.request("before-" + std::to_string(k))));
  w.storage->wait_entered();
  // Every one of these is decided, written and answered while the image is still held: were the
  // write on the deciding thread (or in front of the log writes), .get() would never return.
  for (int k = 0; k < 40; ++k) {
    auto r = seq.submit(w.request("during-" + std::to_string(k))).get();
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_FALSE(r->partition.empty());
  }
  for (auto& f : before) EXPECT_TRUE(f.get().ok());
  EXPECT_EQ(seq.stats().checkpoints, 0u);  // nothing counted until it is on disk
  EXPECT_FALSE(w.storage->get(ledger::Family::checkpoints, "market.instances").value().has_value());
  const uint64_t head = w.ledger->head().value();
  w.storage->open();
  seq.close();
  EXPECT_EQ(seq.stats().checkpoints, 1u);
  // The image covers a point before the requests answered while it was held.
  auto stored = w.storage->get(ledger::Family::checkpoints, "market.instances").value();
  ASSERT_TRUE(stored.has_value());
  const uint64_t covered = ledger::le::get64(stored->data());
  EXPECT_GT(covered, 0u);
  EXPECT_LT(covered, head);
}

}  // namespace
}  // namespace slap::market::testing
