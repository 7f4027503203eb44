#pragma once
// After the request scenario: was any allocation lost or duplicated? Checks the acknowledged
// answers against each other (distinct instances, distinct partitions) and against the master's
// own state, read back afterwards through every computer's view.
#include <cstdint>
#include <string>
#include <vector>

#include "bench/load/master_setup.h"

namespace slap::load {

struct AuditResult {
  uint64_t acknowledged = 0;    // 200 answers
  uint64_t lost = 0;            // acknowledged, but not on that partition in the master's views
  uint64_t duplicated = 0;      // an instance or a partition acknowledged more than once
  uint64_t placed = 0;          // instances the views show on the run's computers
  uint64_t unacknowledged = 0;  // placed, but no 200 named them (their answer was lost in transit)
};

// `owner` reads the views of `computers` (it owns them). Throws if a view cannot be read.
AuditResult audit_allocations(MasterSetup& setup, const Identity& owner, const std::vector<std::string>& computers,
                              const std::vector<Allocation>& acknowledged);

}  // namespace slap::load
