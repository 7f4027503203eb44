#include "simulation.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <optional>

namespace slap::sim {

const char* fault_name(Fault f) {
  switch (f) {
    case Fault::failed_write: return "failed write";
    case Fault::torn_write: return "torn write";
    case Fault::crash: return "crash (unsynced writes dropped)";
    case Fault::torn_checkpoint: return "torn shutdown checkpoint";
    case Fault::count: break;
  }
  return "?";
}

void SimStats::add(const SimStats& o) {
  steps += o.steps;
  commands += o.commands;
  acknowledged += o.acknowledged;
  refused += o.refused;
  failed += o.failed;
  for (size_t k = 0; k < faults.size(); ++k) faults[k] += o.faults[k];
  restarts += o.restarts;
  crash_restarts += o.crash_restarts;
  unsynced_lost += o.unsynced_lost;
  torn_kept_whole += o.torn_kept_whole;
  buffered_seeds += o.buffered_seeds;
  buffered_batches_lost += o.buffered_batches_lost;
  full_checks += o.full_checks;
  entries += o.entries;
  usage_movements += o.usage_movements;
  instances += o.instances;
  allocated += o.allocated;
  attached += o.attached;
  certificates += o.certificates;
}

// Checkpoints every few entries, so that unsynced checkpoint writes exist for a crash to drop and
// restarts restore from checkpoints of every age.
Simulation::Simulation(uint64_t seed, SimOptions options)
    : options_(options),
      rng_(seed),
      master_(clock_, 1 + rng_() % 40,
              options.buffered_every != 0 && seed % options.buffered_every == 0 ? ledger::Durability::buffered
                                                                                 : ledger::Durability::sync_each_write),
      buffered_(options.buffered_every != 0 && seed % options.buffered_every == 0) {
  stats_.buffered_seeds = buffered_ ? 1 : 0;
}

void Simulation::run() {
  survivors_.assign(1, Survivor{ubm::Seq{0}, {}, ref_});  // the empty ledger
  auto genesis = Workload::genesis(ref_);
  for (auto& r : master_.run(std::move(genesis))) require(r.ok(), "genesis: " + (r.ok() ? std::string() : r.error().to_string()));
  // Durable before the first step even in buffered mode: the workload needs its parties.
  require(master_.ledger().checkpoint().ok(), "checkpoint failed");
  record_boundary();
  for (int n = 0; n < options_.steps; ++n) {
    try {
      step(n);
    } catch (const Failure& f) {
      throw Failure("step " + std::to_string(n) + ": " + f.what());
    }
  }
  tally_.catch_up(master_.ledger());
  stats_.entries = master_.ledger().head().value();
  stats_.usage_movements = tally_.movements();
  stats_.instances = ref_.placement.instances.size();
  for (const auto& i : ref_.placement.instances) {
    stats_.allocated += !i.computer.empty();
    stats_.attached += !i.host.empty();
  }
  stats_.certificates = ref_.certificates.size();
}

void Simulation::step(int n) {
  ++stats_.steps;
  clock_.advance(std::chrono::seconds(1 + dice(60)));
  const Reference before = ref_;  // to undo a batch that is not durable
  const ubm::Seq head_before = master_.ledger().head();
  // A batch of commands decided together and appended in one write (mostly small, now and then big).
  const int size = 1 + dice(dice(8) == 0 ? 16 : 4);
  std::vector<Planned> plan;
  std::vector<market::Command> commands;
  for (int k = 0; k < size; ++k) {
    plan.push_back(workload_.next(ref_));
    commands.push_back(plan.back().command);
  }
  std::optional<Fault> armed;
  const int roll = dice(100);
  auto& storage = master_.storage();
  if (roll < 3) {
    armed = Fault::failed_write;
    storage.fail_next_writes(1);
  } else if (roll < 6) {
    armed = Fault::torn_write;
    // Mostly a strict prefix; now and then past the end (all of it reaches the disk, yet the write fails).
    storage.tear_next_write(dice(5) == 0 ? size_t{1000} : static_cast<size_t>(dice(size / 2 + 1)));
  }
  const size_t failed_before = storage.failed_writes();
  auto results = master_.run(std::move(commands));
  const bool fired = storage.failed_writes() > failed_before;
  storage.clear_faults();  // an armed fault the batch did not reach (it wrote nothing) must not linger

  bool wrote = false;
  bool storage_error = false;  // from the first writing command of a failed batch on, every answer is one
  bool accepted_before = false;  // a command the model accepts came earlier in the batch (only one can write)
  for (size_t k = 0; k < results.size(); ++k) {
    ++stats_.commands;
    const auto& r = results[k];
    const Planned& p = plan[k];
    const std::string where = std::string(p.what) + " (command " + std::to_string(k + 1) + " of " + std::to_string(size) + ")";
    const bool this_storage_error = !r.ok() && r.error().code == ubm::Rejection::STORAGE_ERROR;
    require(!storage_error || this_storage_error, where + ": answered after a storage error of its batch, which it may have read");
    // Before the batch's first writing command, answers read nothing of it: they stand.
    require(!this_storage_error || accepted_before || p.accepted, where + ": a storage error before any command of its batch could write");
    accepted_before = accepted_before || p.accepted;
    storage_error = storage_error || this_storage_error;
    if (this_storage_error && !p.accepted) {
      // Refused by the model, but decided after the batch's failed first writer: it read what the
      // rebuild took back, so it is answered with the storage error too (Market::commit_batch).
      require(fired, where + ": a storage error, but no write failed");
      ++stats_.failed;
    } else if (!p.accepted) {
      require(!r.ok(), where + ": accepted, but the model refuses it");
      ++stats_.refused;
    } else if (r.ok()) {
      ++stats_.acknowledged;
      wrote = wrote || r->written;
    } else {
      require(fired && r.error().code == ubm::Rejection::STORAGE_ERROR, where + ": refused (" + r.error().to_string() + "), the model accepts it");
      ++stats_.failed;
    }
  }

  if (fired) {
    require(armed.has_value(), "a write failed with no fault armed");
    ++stats_.faults[static_cast<size_t>(*armed)];
    // Readers never keep a decision that is not durable: the market has undone the whole batch.
    try {
      Reference undone = before;
      check_against_reference(master_, undone);
    } catch (const Failure& f) {
      throw Failure(std::string("after a ") + fault_name(*armed) + ", before the restart: " + f.what());
    }
    // After a failed write the ledger refuses appends until reopened.
    restart(dice(2) == 0 ? Stop::crash : Stop::clean, *armed == Fault::torn_write ? &ref_ : nullptr);
    return check(n, true);
  }

  const ubm::Seq head = master_.ledger().head();
  require(wrote ? head > head_before : head == head_before,
          "the head moved from " + std::to_string(head_before.value()) + " to " + std::to_string(head.value()) +
              (wrote ? " though commands wrote" : " though nothing wrote"));
  record_boundary();
  // Between batches: a power cut (unsynced writes lost) or an orderly restart.
  const int between = dice(100);
  if (between < 5) {
    const Stop how = between < 2 ? Stop::crash : between < 3 ? Stop::torn_checkpoint : Stop::clean;
    if (how == Stop::crash) ++stats_.faults[static_cast<size_t>(Fault::crash)];
    if (how == Stop::torn_checkpoint) ++stats_.faults[static_cast<size_t>(Fault::torn_checkpoint)];
    restart(how, nullptr);
    return check(n, true);
  }
  // Buffered mode: sync now and then (as a checkpoint does), which bounds what a power cut can take.
  // Called from this thread, not the sequencer's: safe because the sequencer is idle between steps.
  if (buffered_ && n % 16 == 15) {
    require(master_.ledger().checkpoint().ok(), "checkpoint failed");
    record_boundary();
  }
  check(n, n < 20 || n % options_.full_check_every == 0);
}

void Simulation::record_boundary() {
  const ubm::Seq head = master_.ledger().head();
  Survivor now{head, master_.ledger().head_hash(), ref_};
  if (!buffered_ || master_.storage().unsynced_writes() == 0) {
    survivors_.assign(1, std::move(now));  // durable: nothing before it can be lost any more
  } else if (survivors_.back().head != head) {
    survivors_.push_back(std::move(now));
  }
}

void Simulation::restart(Stop how, const Reference* whole_batch) {
  const size_t unsynced = master_.storage().unsynced_writes();
  Reference whole;  // copied: `whole_batch` may be ref_ itself
  if (whole_batch != nullptr) whole = *whole_batch;
  const size_t projections = master_.projections().size() + 1;  // + the ledger's directory
  master_.restart(how, static_cast<size_t>(dice(static_cast<int>(projections))));
  ++stats_.restarts;
  if (how == Stop::crash) {
    ++stats_.crash_restarts;
    stats_.unsynced_lost += unsynced;
  }
  tally_.reset();  // the next check rescans the whole log
  const ubm::Seq head = master_.ledger().head();
  // Everything durable is there, with the same chain hash.
  const Survivor& floor = survivors_.front();
  require(head >= floor.head, "acknowledged seq " + std::to_string(floor.head.value()) + " lost: the head is " + std::to_string(head.value()) +
                                  (how == Stop::clean ? " after a clean restart" : " after a crash"));
  if (floor.head.value() > 0) {
    std::optional<ledger::Hash> hash;
    auto s = master_.ledger().scan(floor.head, floor.head, [&](const ledger::EntryView& v) {
      hash = v.hash;
      return false;
    });
    require(s.ok() && hash.has_value() && *hash == floor.hash, "acknowledged seq " + std::to_string(floor.head.value()) + " changed after a restart");
  }
  // What survived is a whole number of batches: a recorded state, or the failed batch whole.
  auto it = std::find_if(survivors_.begin(), survivors_.end(), [&](const Survivor& s) { return s.head == head; });
  if (it != survivors_.end()) {
    // A process restart loses nothing written; only a power cut may take unsynced batches back (a
    // torn checkpoint write is a synced write: it made everything before it durable).
    require(how == Stop::crash || std::next(it) == survivors_.end(),
            "a clean restart lost written batches: the head went back to " + std::to_string(head.value()));
    stats_.buffered_batches_lost += static_cast<uint64_t>(std::distance(it, survivors_.end()) - 1);
    ref_ = it->ref;
    survivors_.erase(std::next(it), survivors_.end());
  } else {
    require(whole_batch != nullptr && head > survivors_.back().head,
            "after a restart the head " + std::to_string(head.value()) + " is no batch boundary that could have survived");
    ++stats_.torn_kept_whole;
    ref_ = std::move(whole);
    survivors_.push_back({head, master_.ledger().head_hash(), ref_});
  }
  if (!buffered_ || master_.storage().unsynced_writes() == 0) survivors_.erase(survivors_.begin(), std::prev(survivors_.end()));
}

void Simulation::check(int, bool full) {
  check_against_reference(master_, ref_);
  tally_.catch_up(master_.ledger());
  check_usage(tally_, ref_);
  check_billing(master_, tally_);
  if (full) {
    check_log_and_replay(master_, clock_);
    ++stats_.full_checks;
  }
}

}  // namespace slap::sim
