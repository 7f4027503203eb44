// Many requesters on many threads, one sequencer: no partition is ever given twice.
#include <set>
#include <thread>

#include "market/sequencer.h"
#include "market_fixture.h"

namespace slap::market::testing {
namespace {

std::string name(const char* prefix, int n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

TEST(MarketConcurrency, ConcurrentRequestersNeverShareAPartition) {
  World w;
  w.party("owner");
  constexpr int kComputers = 8, kPartitions = 10, kThreads = 8, kPerThread = 20;
  for (int t = 0; t < kThreads; ++t) w.party(name("user", t));
  for (int c = 0; c < kComputers; ++c) {
    const std::string guid = name("COMP-", c);
    w.computer(guid, c % 3);
    w.format(guid, kPartitions);
    w.supply(guid);
  }
  std::vector<std::vector<Outcome>> outcomes(kThreads);
  {
    Sequencer seq(w.market(), {.max_batch = 16});
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int k = 0; k < kPerThread; ++k) {
          auto f = seq.submit(RequestInstance{name("user", t), name("i", k), kRelease, "", {}, {}, false,
                                              RequestedState::started});
          auto r = f.get();
          ASSERT_TRUE(r.ok()) << r.error().to_string();
          outcomes[t].push_back(*r);
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  std::set<std::pair<std::string, std::string>> taken;
  int allocated = 0, pending = 0;
  for (const auto& per : outcomes) {
    for (const auto& o : per) {
      if (o.computer.empty()) {
        ++pending;
        EXPECT_FALSE(o.pending.empty());
        continue;
      }
      ++allocated;
      EXPECT_TRUE(taken.emplace(o.computer, o.partition).second) << o.computer << "/" << o.partition << " given twice";
    }
  }
  EXPECT_EQ(allocated, kComputers * kPartitions);
  EXPECT_EQ(pending, kThreads * kPerThread - kComputers * kPartitions);
  EXPECT_GT(w.ledger().stats().max_group_entries, 3u);  // commands were batched into shared writes
  w.expect_replay_equal();
}

}  // namespace
}  // namespace slap::market::testing
