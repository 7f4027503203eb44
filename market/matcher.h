#pragma once
// Where a request goes: pure decisions on the projections (no writes, no clock).
//
// A partition (not shared): among computers that are open (or closed but owned by the client,
// reachable through computer_guid only), supply the release, have a free partition and satisfy
// every condition, the cheapest wins; ties go to the least loaded (fewest busy partitions), then
// the smaller guid. computer_guid skips the ordering but checks the same rules on that computer.
// The partition is the computer's first free one in declaration order.
// A host (shared): the host named by instance_guid, or the oldest busy instance running the same
// release and software type on a computer satisfying the conditions. A closed computer's hosts
// serve its owner only, and only when the request names that computer or host: a shared instance
// uses its host's service and resources as much as an instance uses a partition.
//
// Cost: one hash lookup per condition to compile it, one ordered-set lookup, then a walk in price
// order that skips candidates failing unindexed conditions — at most kMaxScan steps (a request
// that would need more stays pending with a reason saying so). The walk takes the smallest of the
// release's order and, when asked, the region's or network's; those two hold every release, and
// the computers there that do not supply the request's are passed over by their release bits
// (capacity_index.h), not counted as steps: such a walk is bounded by the smaller order's size.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/capacity_index.h"
#include "market/computer_view.h"
#include "market/instance_registry.h"
#include "market/sla.h"

namespace slap::market {

inline constexpr size_t kMaxScan = 1 << 16;
// kScanBoundReason (facts.h) begins the reason of a request the walk gave up on.

struct Placement {
  std::string computer;   // allocated: computer guid and partition ref
  std::string partition;
  std::string host;       // shared: host instance guid
  std::string reason;     // neither: why not
  bool placed() const noexcept { return !computer.empty() || !host.empty(); }
};

class Matcher {
 public:
  Matcher(const CapacityIndex& capacity, const ComputerView& computers, const InstanceRegistry& instances)
      : capacity_(capacity), computers_(computers), instances_(instances) {}

  // `client` is the party billed (a closed computer accepts its owner's requests).
  Placement place(std::string_view release, std::string_view client, const Conditions& c) const;
  Placement host(std::string_view release, std::string_view software_type, std::string_view client, const Conditions& c) const;
  // Whether the host a shared instance of `client` is attached to still serves it under `c`:
  // running, the host `c` names if it names one, and meeting the rest as host() would require.
  bool still_hosts(const InstanceRegistry::Instance& host, std::string_view release, std::string_view client, const Conditions& c) const;
  // Conditions against the capacity index's names (kNone: nobody declared it).
  struct Compiled {
    uint32_t release = kNone;
    uint32_t capability = kNone;
    uint32_t region = kNone;   // kNone: not asked
    uint32_t network = kNone;  // kNone: not asked
    std::vector<uint32_t> categories;
    std::optional<ubm::Decimal> max_price;
    int64_t max_minor = INT64_MAX;  // floor(max_price): an integer price satisfies it iff <= this
    std::string impossible;  // a condition no computer can satisfy
  };
  // A request's conditions compiled once, for could_place_on on many computers or many times (a
  // pass after a free asks it of each group of waiting requests): valid while the capacity index's
  // names_version() is `names_version` (a name joining may make a condition possible; a cleared
  // index gives ids anew).
  struct Prepared {
    Compiled k;
    std::string computer_guid;  // the computer the conditions name, if any
    uint64_t names_version = 0;
  };
  Prepared prepare(std::string_view release, const Conditions& c) const;
  // Whether a request could take a partition of this computer: it has one free, supplies the
  // release, is open to `client` (or is the closed computer the request names: then `client`
  // must be the request's), and meets every condition. After partitions were freed on one
  // computer, only the waiting requests it suits can be placed (every other capacity refused them
  // already): a pass tries those alone.
  bool could_place_on(const CapacityIndex::Computer& computer, std::string_view client, const Prepared& p) const;

 private:
  Compiled compile(std::string_view release, const Conditions& c) const;
  bool satisfies(const CapacityIndex::Computer& computer, const Compiled& k) const;
  std::string explain(const Compiled& k, const Conditions& c) const;
  // The first condition a computer named by computer_guid fails, in words.
  std::string unmet(const CapacityIndex::Computer& computer, const Compiled& k, const Conditions& c) const;
  Placement at_computer(std::string_view client, const Compiled& k, const Conditions& c) const;
  Placement on(const CapacityIndex::Computer& computer) const;
  // Whether `client` may use the computer through a request naming it (`named`) or not.
  bool admits(const CapacityIndex::Computer& computer, std::string_view client, bool named) const;
  // Whether running host `h` meets `c` for a shared instance of `client` (`named`: the request
  // names a computer or a host).
  bool host_fits(const InstanceRegistry::Instance& h, std::string_view release, std::string_view client, const Conditions& c,
                 bool named) const;

  const CapacityIndex& capacity_;
  const ComputerView& computers_;
  const InstanceRegistry& instances_;
};

}  // namespace slap::market
