#pragma once
// A market on an in-memory ledger with a manual clock, plus helpers to build a small world.
#include <gtest/gtest.h>

#include <memory>

#include "ledger/clock.h"
#include "ledger/fault_storage.h"
#include "ledger/ledger.h"
#include "ledger/memory_storage.h"
#include "market/market.h"
#include "replay_check.h"

namespace slap::market::testing {

inline constexpr const char* kRelease = "https://example.org/kvm.cfg";
inline constexpr const char* kRelease2 = "https://example.org/erp5.cfg";

class World {
 public:
  explicit World(std::shared_ptr<ledger::Storage> storage = std::make_shared<ledger::MemoryStorage>())
      : storage_(std::move(storage)), market_(std::make_unique<Market>(MarketOptions{.clock = &clock})) {
    auto l = ledger::Ledger::open({.storage = storage_, .clock = &clock, .projections = market_->projections()});
    if (!l) throw std::runtime_error(l.error().to_string());
    ledger_ = std::move(*l);
    market_->attach(*ledger_);
  }

  ledger::ManualClock clock;
  Market& market() { return *market_; }
  ledger::Ledger& ledger() { return *ledger_; }
  ledger::Storage& storage() { return *storage_; }

  ubm::Result<Outcome> run(const Command& c) {
    clock.advance(std::chrono::seconds(1));
    return market_->execute(c);
  }
  Outcome ok(const Command& c) {
    auto r = run(c);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
    return r.ok() ? *r : Outcome{};
  }
  // A rejected command: returns its code and checks that nothing was written.
  ubm::Rejection refused(const Command& c) {
    const ubm::Seq head = ledger_->head();
    const auto snaps = snapshots();
    auto r = run(c);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(ledger_->head(), head);
    EXPECT_EQ(snapshots(), snaps);
    return r.ok() ? ubm::Rejection::NONE : r.error().code;
  }

  void party(const std::string& id) { ok(RegisterParty{id, ubm::NodeKind::person, id}); }
  void computer(const std::string& guid, int64_t price, StringMap categories = {}, std::string owner = "owner",
                std::string network = "net-1", std::string capability = "", Scope scope = Scope::open) {
    ok(RegisterComputer{guid, owner, network, scope, price, "EUR", capability, std::move(categories)});
  }
  void format(const std::string& guid, int partitions) {
    DeclareCapacity d{guid, {}};
    for (int i = 0; i < partitions; ++i) {
      d.partitions.push_back(PartitionSpec{"slappart" + std::to_string(i), {"10.0.0." + std::to_string(i + 1)}, {}, "tap" + std::to_string(i)});
    }
    ok(d);
  }
  void supply(const std::string& guid, const std::string& release = kRelease, std::string owner = "owner") {
    ok(Supply{owner, guid, release, true});
  }
  Outcome request(const std::string& title, StringMap sla = {}, std::string requester = "alice", bool shared = false,
                  RequestedState state = RequestedState::started, StringMap params = {}, std::string release = kRelease,
                  std::string type = "default") {
    return ok(RequestInstance{requester, title, release, type, std::move(params), std::move(sla), shared, state});
  }

  std::vector<std::string> snapshots() { return testing::snapshots(market_->projections()); }
  // Projections rebuilt from scratch by replaying the ledger give the same bytes.
  void expect_replay_equal() {
    EXPECT_TRUE(market_->instances().queues_consistent()) << "the live pending queues or groups drifted";
    Market fresh(MarketOptions{.clock = &clock});
    for (auto reader : {ledger::ReplayReader::pipelined, ledger::ReplayReader::inline_}) {
      auto replayed = replayed_snapshots(*storage_, fresh.projections(), reader);
      ASSERT_TRUE(replayed.ok());
      EXPECT_EQ(snapshots(), *replayed) << (reader == ledger::ReplayReader::inline_ ? "inline" : "pipelined") << " replay";
      // Not in the snapshots (derived when read back): counted by the replay's folds alike.
      EXPECT_EQ(fresh.capacity().free_partitions(), market_->capacity().free_partitions());
      EXPECT_EQ(fresh.instances().pending_group_count(), market_->instances().pending_group_count());
      EXPECT_TRUE(fresh.instances().queues_consistent());
    }
  }

 private:
  std::shared_ptr<ledger::Storage> storage_;
  std::unique_ptr<Market> market_;
  std::unique_ptr<ledger::Ledger> ledger_;
};

}  // namespace slap::market::testing
