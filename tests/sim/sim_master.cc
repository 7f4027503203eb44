#include "sim_master.h"

#include <future>

#include "failure.h"

namespace slap::sim {

SimMaster::SimMaster(ledger::ManualClock& clock, uint64_t checkpoint_every, ledger::Durability durability)
    : clock_(clock), checkpoint_every_(checkpoint_every), durability_(durability) {
  open();
}

SimMaster::~SimMaster() {
  sequencer_.reset();
  ledger_.reset();
}

void SimMaster::open() {
  market_ = std::make_unique<market::Market>(market::MarketOptions{.clock = &clock_});
  identities_ = std::make_unique<slapd::IdentityRegistry>();
  auto l = ledger::Ledger::open(
      {.storage = storage_, .clock = &clock_, .durability = durability_, .checkpoint_every = checkpoint_every_, .projections = projections()});
  if (!l) throw Failure("the ledger does not open: " + l.error().to_string());
  ledger_ = std::move(*l);
  market_->attach(*ledger_);
  sequencer_ = std::make_unique<market::Sequencer>(*market_);
}

std::vector<ledger::Projection*> SimMaster::projections() {
  auto ps = market_->projections();
  ps.push_back(identities_.get());
  return ps;
}

std::vector<ubm::Result<market::Outcome>> SimMaster::run(std::vector<market::Command> commands) {
  // The sequencer batches whatever is queued when its thread looks, which depends on timing. To
  // make batches (and so which commands share a failed write) reproducible from the seed, a gate
  // job holds the sequencer thread in its callback until the whole batch is queued. The gate's
  // command is refused (an empty party id) and writes nothing.
  std::promise<void> entered, opened;
  std::shared_future<void> open_gate = opened.get_future().share();
  const bool gated = sequencer_->try_submit(market::RegisterParty{}, [&entered, open_gate](ubm::Result<market::Outcome>) {
    entered.set_value();
    open_gate.wait();
  });
  require(gated, "the sequencer refused the gate job");
  entered.get_future().wait();
  std::vector<std::future<ubm::Result<market::Outcome>>> futures;
  futures.reserve(commands.size());
  for (auto& c : commands) futures.push_back(sequencer_->submit(std::move(c)));
  opened.set_value();
  std::vector<ubm::Result<market::Outcome>> results;
  results.reserve(futures.size());
  for (auto& f : futures) results.push_back(f.get());
  return results;
}

void SimMaster::restart(Stop how, size_t checkpoints_kept) {
  sequencer_.reset();  // nothing is queued: run() waits for every outcome
  storage_->clear_faults();
  // A crash never reaches the shutdown checkpoint: make that write fail, then lose what was not synced.
  if (how == Stop::crash) storage_->fail_next_writes(1);
  // A torn shutdown checkpoint reaches the disk in part (the fault storage keeps that prefix durable).
  if (how == Stop::torn_checkpoint) storage_->tear_next_write(checkpoints_kept);
  ledger_.reset();
  storage_->clear_faults();
  if (how == Stop::crash) storage_->crash();
  identities_.reset();
  market_.reset();
  open();
}

}  // namespace slap::sim
