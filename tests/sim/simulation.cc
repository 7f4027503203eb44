#include "simulation.h"

#include <chrono>
#include <optional>

namespace slap::sim {

const char* fault_name(Fault f) {
  switch (f) {
    case Fault::failed_write: return "failed write";
    case Fault::torn_write: return "torn write";
    case Fault::crash: return "crash (unsynced writes dropped)";
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
    : options_(options), rng_(seed), master_(clock_, 1 + rng_() % 40) {}

void Simulation::run() {
  auto genesis = Workload::genesis(ref_);
  for (auto& r : master_.run(std::move(genesis))) require(r.ok(), "genesis: " + (r.ok() ? std::string() : r.error().to_string()));
  acked_ = master_.ledger().head();
  acked_hash_ = master_.ledger().head_hash();
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
    storage.tear_next_write(static_cast<size_t>(dice(3 * size + 2)));  // sometimes past the end: all of it
  }
  const size_t failed_before = storage.failed_writes();
  auto results = master_.run(std::move(commands));
  const bool fired = storage.failed_writes() > failed_before;
  storage.clear_faults();  // an armed fault the batch did not reach (it wrote nothing) must not linger

  bool wrote = false;
  for (size_t k = 0; k < results.size(); ++k) {
    ++stats_.commands;
    const auto& r = results[k];
    const Planned& p = plan[k];
    const std::string where = std::string(p.what) + " (command " + std::to_string(k + 1) + " of " + std::to_string(size) + ")";
    if (!p.accepted) {
      require(!r.ok(), where + ": accepted, but the model refuses it");
      require(r.error().code != ubm::Rejection::STORAGE_ERROR, where + ": a storage error, but the model refuses it");
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
    restart(dice(2) == 0 ? Stop::crash : Stop::clean);
    const ubm::Seq head = master_.ledger().head();
    if (head == head_before) {
      ref_ = before;  // wholly absent
    } else {
      // Wholly present: only a torn write that kept every record can leave the batch behind.
      require(*armed == Fault::torn_write && head > head_before,
              "after a " + std::string(fault_name(*armed)) + " the head moved from " + std::to_string(head_before.value()) + " to " +
                  std::to_string(head.value()));
      ++stats_.torn_kept_whole;
      acked_ = head;
      acked_hash_ = master_.ledger().head_hash();
    }
    return check(n, true);
  }

  const ubm::Seq head = master_.ledger().head();
  require(wrote ? head > head_before : head == head_before,
          "the head moved from " + std::to_string(head_before.value()) + " to " + std::to_string(head.value()) +
              (wrote ? " though commands wrote" : " though nothing wrote"));
  if (wrote) {
    acked_ = head;
    acked_hash_ = master_.ledger().head_hash();
  }
  // Between batches: a power cut (unsynced writes lost) or an orderly restart.
  const int between = dice(100);
  if (between < 4) {
    const Stop how = between < 2 ? Stop::crash : Stop::clean;
    if (how == Stop::crash) ++stats_.faults[static_cast<size_t>(Fault::crash)];
    restart(how);
    // Nothing acknowledged is lost (restart() checked) and nothing is invented.
    require(master_.ledger().head() == acked_, "the head moved from " + std::to_string(acked_.value()) + " to " +
                                                   std::to_string(master_.ledger().head().value()) + " across a restart");
    return check(n, true);
  }
  check(n, n < 20 || n % options_.full_check_every == 0);
}

void Simulation::restart(Stop how) {
  const size_t unsynced = master_.storage().unsynced_writes();
  master_.restart(how);
  ++stats_.restarts;
  if (how == Stop::crash) {
    ++stats_.crash_restarts;
    stats_.unsynced_lost += unsynced;
  }
  tally_.reset();  // the next check rescans the whole log
  // Every acknowledged write is there, with the same chain hash.
  const ubm::Seq head = master_.ledger().head();
  require(head >= acked_, "acknowledged seq " + std::to_string(acked_.value()) + " lost: the head is " + std::to_string(head.value()) +
                              (how == Stop::crash ? " after a crash" : " after a clean restart"));
  if (acked_.value() == 0) return;
  std::optional<ledger::Hash> hash;
  auto s = master_.ledger().scan(acked_, acked_, [&](const ledger::EntryView& v) {
    hash = v.hash;
    return false;
  });
  require(s.ok() && hash.has_value() && *hash == acked_hash_, "acknowledged seq " + std::to_string(acked_.value()) + " changed after a restart");
}

void Simulation::check(int, bool full) {
  check_against_reference(master_, ref_);
  tally_.catch_up(master_.ledger());
  check_usage(tally_, ref_);
  if (full) {
    check_log_and_replay(master_, clock_);
    ++stats_.full_checks;
  }
}

}  // namespace slap::sim
