// Many requesters on many threads, one sequencer: no partition is ever given twice.
#include <atomic>
#include <set>
#include <thread>

#include "ledger/memory_storage.h"

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


// Every projection checkpoint in the store, restored and with the log's tail replayed on top, gives
// exactly the live state. Returns how many of the market's own projections had one.
int expect_checkpoints_exact(ledger::Storage& storage, Market& live, ledger::ManualClock& clock) {
  Market fresh(MarketOptions{.clock = &clock});
  auto live_ps = live.projections();
  auto fresh_ps = fresh.projections();
  int found = 0;
  for (size_t k = 0; k < live_ps.size(); ++k) {
    auto stored = storage.get(ledger::Family::checkpoints, live_ps[k]->name());
    EXPECT_TRUE(stored.ok());
    if (!stored.ok() || !stored->has_value()) continue;
    const std::string& v = **stored;
    uint64_t seq = 0;
    for (int i = 0; i < 8; ++i) seq |= uint64_t{static_cast<unsigned char>(v[i])} << (8 * i);
    EXPECT_TRUE(fresh_ps[k]->restore(std::string_view(v).substr(8), ubm::Seq{seq}).ok());
    auto s = ledger::scan_log(storage, ubm::Seq{seq + 1}, ubm::Seq{0}, [&](const ledger::EntryView& e) {
      fresh_ps[k]->apply(std::span<const ledger::EntryView>(&e, 1));
      return true;
    });
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(fresh_ps[k]->snapshot(), live_ps[k]->snapshot()) << live_ps[k]->name() << " checkpointed at " << seq;
    if (live_ps[k]->name().starts_with("market.")) ++found;
  }
  return found;
}

// The pipelined sequencer folds batch k+1 while batch k is written; a checkpoint taken meanwhile
// would hold decisions beyond its sequence number (and a restart would fold them twice). The
// projections decline such checkpoints: every stored one is exact.
TEST(MarketConcurrency, PipelinedCheckpointsHoldExactlyTheEntriesUpToTheirSequence) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::MemoryStorage>();
  Market market(MarketOptions{.clock = &clock});
  auto opened = ledger::Ledger::open({.storage = storage, .clock = &clock, .checkpoint_every = 1, .projections = market.projections()});
  ASSERT_TRUE(opened.ok());
  auto ledger = std::move(*opened);
  market.attach(*ledger);
  constexpr int kComputers = 6, kPartitions = 10, kThreads = 8, kPerThread = 30;
  ASSERT_TRUE(market.execute(RegisterParty{"owner", ubm::NodeKind::organisation, "owner"}).ok());
  for (int t = 0; t < kThreads; ++t) ASSERT_TRUE(market.execute(RegisterParty{name("user", t), ubm::NodeKind::person, "u"}).ok());
  for (int c = 0; c < kComputers; ++c) {
    const std::string guid = name("COMP-", c);
    ASSERT_TRUE(market.execute(RegisterComputer{guid, "owner", "net-1", Scope::open, 1 + c % 3, "EUR", "", {}}).ok());
    DeclareCapacity d{guid, {}};
    for (int i = 0; i < kPartitions; ++i) d.partitions.push_back(PartitionSpec{name("slappart", i), {name("10.0.0.", i + 1)}, {}, ""});
    ASSERT_TRUE(market.execute(d).ok());
    ASSERT_TRUE(market.execute(Supply{"owner", guid, kRelease, true}).ok());
  }
  Sequencer seq(market, {.max_batch = 4, .pipeline = 2});
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kPerThread; ++k) {
        // Each instance is requested, then requested destroyed: creations and updates interleave.
        const auto state = k % 2 == 1 ? RequestedState::destroyed : RequestedState::started;
        auto r = seq.submit(RequestInstance{name("user", t), name("i", k / 2), kRelease, "", {}, {}, false, state}).get();
        if (!r.ok()) failed.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  expect_checkpoints_exact(*storage, market, clock);
  // One lone command: nothing is decided ahead of its write, so its checkpoint is taken.
  ASSERT_TRUE(seq.submit(RegisterParty{"late", ubm::NodeKind::person, "late"}).get().ok());
  EXPECT_EQ(expect_checkpoints_exact(*storage, market, clock), 5);  // computers, instances, capacity, usage journals, hosting
}

}  // namespace
}  // namespace slap::market::testing
