#pragma once
// Market facts: what the sequencer decided, as plain values. Each fact is recorded as one ledger
// Movement (encoding.h) and every market projection is a fold over facts, so a replay that applies
// the recorded facts rebuilds the same state without re-running any decision.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "market/types.h"
#include "ubm/ids.h"

namespace slap::market {
// How the reason of a request the matcher's walk gave up on begins (Matcher::place, kMaxScan): it
// was not refused by every computer, so it is tried again in full whenever a partition is freed
// anywhere, as allocations since may have brought a suitable computer within reach.
inline constexpr std::string_view kScanBoundReason = "no match among the ";
}  // namespace slap::market

namespace slap::market::fact {

// A computer registered or its properties changed (first fact of a computer registers it).
struct ComputerSet {
  std::string computer;
  std::string owner;    // person or organisation node
  std::string network;  // network node
  Scope scope = Scope::open;
  int64_t price_minor = 0;  // per partition-hour, integer minor units of `currency`
  std::string currency;
  std::string capability;  // "" = none
  StringMap categories;    // region, cpu_core, ... project (sla.h lists the keys)
};

// Capacity declared: partitions added or updated, free partitions no longer declared retired.
struct Formatted {
  std::string computer;
  std::vector<PartitionSpec> upserts;  // new, revived or with new addresses
  uint32_t added = 0;                  // how many of upserts were not present before (the first ones)
  std::vector<std::string> retired;    // refs of free partitions no longer declared
  // Instances running on partitions whose addresses changed: they render them, so their nodes must
  // see them change (empty in declarations recorded before the field existed).
  std::vector<std::string> touched;
};

struct Supplied {
  std::string computer;
  std::string release;  // URL
  bool available = true;  // false: requested destroyed (unsupplied)
  bool removed = false;   // (not available) its node removed it: the computer's list forgets it
};

// What a requester asked for: what the instance registry keeps per instance.
struct Request {
  std::string instance;   // guid
  std::string requester;  // person node or instance guid
  std::string title;
  std::string client;     // the person or organisation billed (root of the tree)
  std::string release;
  std::string software_type;
  StringMap parameters;
  StringMap sla;
  bool shared = false;
  RequestedState state = RequestedState::started;
};

// A request as written: when new or changed. Where it runs is not part of the Request the
// registry keeps (Instance::computer/partition say that), so two strings less per instance.
struct Requested : Request {
  // Set when a new request was allocated at once: the fact is then also the Allocated fact (one
  // ledger entry, the allocation movement of DESIGN.md §3, instead of a request and an allocation).
  std::string computer;
  std::string partition;  // ref
  bool allocated() const noexcept { return !computer.empty(); }
};

struct Allocated {
  std::string instance;
  std::string computer;
  std::string partition;  // ref
};

struct Pending {
  std::string instance;
  std::string reason;
};

// A shared instance served inside a host instance.
struct Attached {
  std::string instance;
  std::string host;
};

// The instance no longer holds a partition or a host (destroyed, or its host went away when
// `requeue` is set: it goes back to the pending queue).
struct Freed {
  std::string instance;
  std::string computer;   // the partition it held ("" for a shared or pending instance)
  std::string partition;  // ref
  bool requeue = false;   // informational: a Pending fact follows (its host went away)
};

struct Reported {
  std::string instance;
  ReportedState state = ReportedState::none;
};

struct Connection {
  std::string instance;
  StringMap parameters;
};

// Every instance of the tree gets a new timestamp (the tree is listed: replay never walks it).
struct Banged {
  std::string instance;
  std::vector<std::string> tree;  // guids, the banged instance included
};

struct Renamed {
  std::string instance;
  std::string title;
  // The instances that show the new title: every instance of its tree, itself first, when it is a
  // root (each renders its root's title). Empty: the renamed instance alone (and every rename
  // recorded before the field existed).
  std::vector<std::string> tree;
};

using Body = std::variant<ComputerSet, Formatted, Supplied, Requested, Allocated, Pending, Attached, Freed, Reported,
                          Connection, Banged, Renamed>;

}  // namespace slap::market::fact

namespace slap::market {

struct Fact {
  ubm::TimestampNs at;  // decision time (the Movement's start): the same on replay
  fact::Body body;
};

}  // namespace slap::market
