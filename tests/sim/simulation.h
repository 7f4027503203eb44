#pragma once
// One seeded run of the whole master (TigerBeetle's VOPR in miniature): batches of random commands
// through the sequencer, interleaved with injected faults and restarts, every step checked against
// the reference model. Everything random comes from the seed, so a failing seed fails again.
#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "checks.h"
#include "reference.h"
#include "sim_master.h"
#include "workload.h"

namespace slap::sim {

enum class Fault : uint8_t {
  failed_write,  // the batch's write fails and changes nothing; restart
  torn_write,    // the batch's write persists a prefix of its records, then fails; restart
  crash,         // power cut between batches: unsynced writes (checkpoints) are lost; restart
  torn_checkpoint,  // power cut during the shutdown checkpoint: checkpoints of mixed ages; restart
  count
};
const char* fault_name(Fault f);

struct SimOptions {
  int steps = 300;
  // Seeds whose number is a multiple of this run the ledger with Durability::buffered (writes not
  // synced): a power cut may then lose acknowledged batches, but only a suffix of whole batches.
  uint64_t buffered_every = 3;
  int full_check_every = 25;  // verify the chain and replay from scratch every N steps (and after restarts)
};

struct SimStats {
  uint64_t steps = 0;
  uint64_t commands = 0;
  uint64_t acknowledged = 0;    // answered ok (durable when it wrote)
  uint64_t refused = 0;         // refused as the model predicted
  uint64_t failed = 0;          // storage errors from injected faults
  std::array<uint64_t, static_cast<size_t>(Fault::count)> faults{};  // injected and fired, by kind
  uint64_t restarts = 0;
  uint64_t crash_restarts = 0;   // of which power cuts
  uint64_t unsynced_lost = 0;    // unsynced writes a power cut dropped
  uint64_t torn_kept_whole = 0;  // torn writes that happened to persist the whole batch (present after restart)
  uint64_t buffered_seeds = 0;
  uint64_t buffered_batches_lost = 0;  // buffered mode: acknowledged (not synced) batches a power cut took back
  uint64_t full_checks = 0;
  uint64_t entries = 0;          // ledger head at the end
  uint64_t usage_movements = 0;
  uint64_t instances = 0, allocated = 0, attached = 0, certificates = 0;
  void add(const SimStats& o);
};

class Simulation {
 public:
  Simulation(uint64_t seed, SimOptions options);
  // Runs every step; throws Failure naming the step on the first broken invariant.
  void run();
  const SimStats& stats() const { return stats_; }

 private:
  int dice(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  void step(int n);
  // Restarts and finds which recorded state survived; `whole_batch` is the state had the failed
  // batch been written (a torn write may keep all of it), else null.
  void restart(Stop how, const Reference* whole_batch);
  void record_boundary();
  void check(int n, bool full);

  SimOptions options_;
  std::mt19937_64 rng_;
  ledger::ManualClock clock_;
  SimMaster master_;
  Reference ref_;
  Workload workload_{rng_, clock_};
  UsageTally tally_;
  // The states a power cut may leave: the last durable one first (synced: never lost), then the
  // state after each later batch (buffered mode only: written, not synced). Sync mode keeps one.
  struct Survivor {
    ubm::Seq head;
    ledger::Hash hash;
    Reference ref;
  };
  std::vector<Survivor> survivors_;
  bool buffered_ = false;
  SimStats stats_;
};

}  // namespace slap::sim
