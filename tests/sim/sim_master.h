#pragma once
// The master's command layer wired as slapd/master.cc wires it — Market + identities projection,
// Ledger, Sequencer — on the fault-injecting storage with a manual clock, and rebuilt from the
// surviving storage on restart. Single-threaded caller; the sequencer runs its own thread.
#include <memory>
#include <vector>

#include "ledger/clock.h"
#include "ledger/fault_storage.h"
#include "ledger/ledger.h"
#include "market/market.h"
#include "market/sequencer.h"
#include "slapd/identity_registry.h"

namespace slap::sim {

enum class Stop {
  clean,  // orderly shutdown: the ledger writes fresh checkpoints
  crash,  // power cut: no shutdown checkpoint, unsynced writes are lost
  torn_checkpoint,  // power cut in the middle of the shutdown checkpoint: some projections' checkpoints are new, some old
};

class SimMaster {
 public:
  SimMaster(ledger::ManualClock& clock, uint64_t checkpoint_every, ledger::Durability durability);
  ~SimMaster();

  // Decides `commands` as ONE sequencer batch (one ledger write) and returns their outcomes
  // once durable. Precondition: commands.size() <= market::kMaxBatchCommands.
  std::vector<ubm::Result<market::Outcome>> run(std::vector<market::Command> commands);
  // Shuts everything down and opens it again on what survived (throws Failure if it cannot).
  // torn_checkpoint keeps the first `checkpoints_kept` checkpoints of the shutdown write.
  void restart(Stop how, size_t checkpoints_kept = 0);

  market::Market& market() { return *market_; }
  ledger::Ledger& ledger() { return *ledger_; }
  const slapd::IdentityRegistry& identities() const { return *identities_; }
  ledger::FaultStorage& storage() { return *storage_; }
  // Every projection, in the order given to the ledger (market's, then identities).
  std::vector<ledger::Projection*> projections();

 private:
  void open();

  ledger::ManualClock& clock_;
  uint64_t checkpoint_every_;
  ledger::Durability durability_;
  std::shared_ptr<ledger::FaultStorage> storage_ = std::make_shared<ledger::FaultStorage>();
  std::unique_ptr<market::Market> market_;
  std::unique_ptr<slapd::IdentityRegistry> identities_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<market::Sequencer> sequencer_;
};

}  // namespace slap::sim
