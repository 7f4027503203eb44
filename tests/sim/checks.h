#pragma once
// The invariants checked after every step, each throwing Failure with what differs.
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "failure.h"
#include "reference.h"
#include "sim_master.h"

namespace slap::sim {

// Usage totals per (computer, resource) summed from the usage Movements in the log, scanned
// incrementally (only entries appended since the last call).
class UsageTally {
 public:
  void catch_up(const ledger::Ledger& ledger);
  void reset() { *this = UsageTally(); }
  const std::map<std::pair<std::string, std::string>, ubm::Decimal>& totals() const { return totals_; }
  // (computer, resource, who pays: a movement's destination, or "(split)" for the parts of a line
  // split between a partition's holders) -> total; zero quantities left out.
  const std::map<std::tuple<std::string, std::string, std::string>, ubm::Decimal>& payers() const { return payers_; }
  uint64_t movements() const { return movements_; }

 private:
  ubm::Seq scanned_{0};
  std::map<std::pair<std::string, std::string>, ubm::Decimal> totals_;
  std::map<std::tuple<std::string, std::string, std::string>, ubm::Decimal> payers_;
  uint64_t movements_ = 0;
};

// The live projections against the reference model, plus the rules no decision may break
// (no partition hosts two instances, a shared instance holds none, a partition's computer supplies
// what it runs). Cheap: every step.
void check_against_reference(SimMaster& master, Reference& ref);
// Usage totals in the log equal the model's.
void check_usage(const UsageTally& tally, const Reference& ref);
// Billing totals equal the sum of the usage Movements in the log (per computer and resource).
void check_billing(SimMaster& master, const UsageTally& tally);
// The whole log: contiguous, the hash chain verifies up to the live head, and every projection
// equals a replay from scratch. Costs a pass over the log: run on a cadence and after restarts.
void check_log_and_replay(SimMaster& master, ledger::ManualClock& clock);

}  // namespace slap::sim
