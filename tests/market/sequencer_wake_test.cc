// Wake::later: an I/O thread queues the commands of one pass of its event loop and wakes the
// deciding thread once, with wake(). Every such command is still decided and answered, after a
// wake() or when the sequencer closes; a wake() with nothing unannounced changes nothing.
#include <gtest/gtest.h>

#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ledger/memory_storage.h"
#include "market/sequencer.h"
#include "sequencer_world.h"

namespace slap::market::testing {
namespace {

using World = SequencerWorld<ledger::MemoryStorage>;

// Submits with Wake::later; the returned future holds the outcome.
std::future<ubm::Result<Outcome>> submit_later(Sequencer& seq, const std::string& title) {
  auto promise = std::make_shared<std::promise<ubm::Result<Outcome>>>();
  auto future = promise->get_future();
  const bool queued = seq.try_submit(World::request(title), [promise](ubm::Result<Outcome> r) { promise->set_value(std::move(r)); },
                                     Sequencer::Wake::later);
  EXPECT_TRUE(queued);
  return future;
}

TEST(SequencerWake, CommandsQueuedWithoutWakingAreAllDecidedAfterOneWake) {
  World w(64);
  Sequencer seq(w.market, {.max_batch = 1000});
  std::vector<std::future<ubm::Result<Outcome>>> futures[2];
  std::vector<std::thread> loops;
  for (int t = 0; t < 2; ++t) {
    loops.emplace_back([&, t] {
      for (int k = 0; k < 20; ++k) futures[t].push_back(submit_later(seq, "t" + std::to_string(t) + "-" + std::to_string(k)));
    });
  }
  for (auto& l : loops) l.join();
  seq.wake();
  std::set<std::string> partitions;
  for (auto& fs : futures) {
    for (auto& f : fs) {
      auto out = f.get();
      ASSERT_TRUE(out.ok()) << out.error().to_string();
      EXPECT_EQ(out->computer, "COMP-1");
      EXPECT_TRUE(partitions.insert(out->partition).second) << "partition given twice: " << out->partition;
    }
  }
  EXPECT_EQ(partitions.size(), 40u);
  EXPECT_EQ(w.market.instances().size(), 40u);
}

TEST(SequencerWake, CloseDecidesWhatWasQueuedWithoutAWake) {
  World w(8);
  std::vector<std::future<ubm::Result<Outcome>>> futures;
  {
    Sequencer seq(w.market, {.max_batch = 1000});
    for (int k = 0; k < 5; ++k) futures.push_back(submit_later(seq, "late-" + std::to_string(k)));
    seq.close();
  }
  for (auto& f : futures) {
    auto out = f.get();
    ASSERT_TRUE(out.ok()) << out.error().to_string();
    EXPECT_FALSE(out->partition.empty());
  }
  EXPECT_EQ(w.market.instances().size(), 5u);
}

// Commands that belong together are queued all or none: a group larger than the room left is
// refused whole (the caller answers 503), and nothing of it is ever decided.
TEST(SequencerWake, AGroupIsQueuedWholeOrNotAtAll) {
  World w(8);
  Sequencer seq(w.market, {.max_batch = 1000, .max_queue = 1});
  auto record = [](std::shared_ptr<std::promise<ubm::Result<Outcome>>> p) {
    return [p](ubm::Result<Outcome> r) { p->set_value(std::move(r)); };
  };
  std::vector<Command> group{World::request("a"), World::request("b")};
  auto pa = std::make_shared<std::promise<ubm::Result<Outcome>>>(), pb = std::make_shared<std::promise<ubm::Result<Outcome>>>();
  EXPECT_FALSE(seq.try_submit_all(group, {record(pa), record(pb)}));
  auto after = seq.submit(World::request("c")).get();  // decided after anything queued before it
  ASSERT_TRUE(after.ok()) << after.error().to_string();
  EXPECT_EQ(w.market.instances().size(), 1u);  // "c" alone
  EXPECT_EQ(w.market.instances().find("alice", "a"), nullptr);
}

TEST(SequencerWake, AGroupIsDecidedInOrder) {
  World w(8);
  Sequencer seq(w.market, {.max_batch = 1000, .max_queue = 4});
  std::vector<std::shared_ptr<std::promise<ubm::Result<Outcome>>>> ps;
  std::vector<Sequencer::Callback> done;
  for (int k = 0; k < 3; ++k) {
    ps.push_back(std::make_shared<std::promise<ubm::Result<Outcome>>>());
    done.push_back([p = ps.back()](ubm::Result<Outcome> r) { p->set_value(std::move(r)); });
  }
  ASSERT_TRUE(seq.try_submit_all({World::request("x0"), World::request("x1"), World::request("x2")}, std::move(done)));
  for (int k = 0; k < 3; ++k) {
    auto out = ps[k]->get_future().get();
    ASSERT_TRUE(out.ok()) << out.error().to_string();
    EXPECT_EQ(out->instance, "SOFTINST-" + std::to_string(k + 1));  // minted in queue order
  }
}

TEST(SequencerWake, AWakeWithNothingQueuedLeavesTheSequencerWorking) {
  World w(8);
  Sequencer seq(w.market, {.max_batch = 1000});
  seq.wake();  // nothing unannounced
  seq.wake();
  auto now = seq.submit(World::request("now")).get();
  ASSERT_TRUE(now.ok());
  auto later = submit_later(seq, "later");
  seq.wake();
  auto out = later.get();
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->partition, now->partition);
}

}  // namespace
}  // namespace slap::market::testing
