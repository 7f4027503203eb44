#pragma once
// What the sequencer tests drive: a market on a ledger over a storage the test chooses (gated,
// counting...), one open computer of N partitions supplying one release, and a person requesting.
// The ledger takes no checkpoint of its own.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "market/market.h"

namespace slap::market::testing {

template <typename Storage>
struct SequencerWorld {
  static constexpr const char* kKvm = "https://lab.example.org/software/kvm/software.cfg";

  ledger::ManualClock clock;
  std::shared_ptr<Storage> storage = std::make_shared<Storage>();
  Market market{MarketOptions{.clock = &clock}};
  std::unique_ptr<ledger::Ledger> ledger;

  explicit SequencerWorld(int partitions) {
    ledger = ledger::Ledger::open({.storage = storage, .clock = &clock, .checkpoint_every = 0, .projections = market.projections()}).value();
    market.attach(*ledger);
    EXPECT_TRUE(market.execute(RegisterParty{"owner", ubm::NodeKind::organisation, "owner"}).ok());
    EXPECT_TRUE(market.execute(RegisterParty{"alice", ubm::NodeKind::person, "alice"}).ok());
    EXPECT_TRUE(market.execute(RegisterComputer{"COMP-1", "owner", "net-1", Scope::open, 1, "EUR", "", {}}).ok());
    DeclareCapacity d{"COMP-1", {}};
    for (int i = 0; i < partitions; ++i) {
      const std::string ip = "10.0." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 1);
      d.partitions.push_back(PartitionSpec{"slappart" + std::to_string(i), {ip}, {}, ""});
    }
    EXPECT_TRUE(market.execute(d).ok());
    EXPECT_TRUE(market.execute(Supply{"owner", "COMP-1", kKvm, true}).ok());
  }

  static RequestInstance request(const std::string& title) {
    return RequestInstance{"alice", title, kKvm, "", {}, {}, false, RequestedState::started};
  }
};

}  // namespace slap::market::testing
