#pragma once
// The market's commands: plain values that slapd/ builds after authenticating and parsing a call.
// `actor`/`computer` fields name the authenticated identity the rules check ownership against.
#include <string>
#include <variant>
#include <vector>

#include "market/types.h"
#include "ubm/model.h"

namespace slap::market {

// A person or organisation that can own computers and request instances.
struct RegisterParty {
  std::string id;
  ubm::NodeKind kind = ubm::NodeKind::person;  // person or organisation
  std::string title;
};

// Registers a computer, or (same owner) changes its properties.
struct RegisterComputer {
  std::string computer;
  std::string owner;    // the registering party; must be registered
  std::string network;  // network node; registered on first use
  Scope scope = Scope::open;
  int64_t price_minor = 0;  // per partition-hour, integer minor units
  std::string currency;     // must be the market's currency
  std::string capability;   // "" = none
  StringMap categories;     // keys from sla.h kCategoryKeys (region, cpu_core, ..., project)
};

// Sent by the computer's node: the complete list of its partitions.
struct DeclareCapacity {
  std::string computer;
  std::vector<PartitionSpec> partitions;
};

struct Supply {
  std::string actor;  // must own the computer
  std::string computer;
  std::string release;  // URL
  bool available = true;  // false: unsupply (requested destroyed)
};

// The node removed a release its computer was asked to destroy (it reported it destroyed): the
// computer's list of releases forgets it, as the SlapOS master stops listing a software
// installation once destroyed. Only the computer itself; once forgotten, again is no change.
struct SoftwareRemoved {
  std::string computer;
  std::string release;  // URL
};

struct RequestInstance {
  std::string requester;  // a party, or an instance guid requesting a child
  std::string title;
  std::string release;
  std::string software_type;
  StringMap parameters;  // values may be JSON
  StringMap sla;
  bool shared = false;
  RequestedState state = RequestedState::started;
};

// Sent by the node hosting the instance.
struct ReportState {
  std::string computer;
  std::string instance;
  ReportedState state = ReportedState::started;
  // Certificates of the instance (serials) revoked in the same decision when, and only when, this
  // report is accepted and frees the instance: a refused report revokes nothing.
  std::vector<std::string> revoke_when_freed;
};

// Sent by the node hosting the instance (or the host of a shared instance).
struct ReportConnection {
  std::string computer;
  std::string instance;
  StringMap parameters;
};

struct Bang {
  std::string actor;  // the requester, the client or the instance itself
  std::string instance;
};

struct Rename {
  std::string actor;
  std::string instance;
  std::string title;
};

// A certificate issued to or revoked from a registered party, computer or instance (slapd's CA
// decides; the market records it, being the ledger's single writer).
struct RecordIdentity {
  ubm::Identity identity;
};

// Usage a node measured, from one TioXML journal (slapd parses and checks the XML).
struct UsageLine {
  std::string resource;  // "usage/cpu_s", "custom/transaction", ...
  ubm::Decimal quantity;
  std::string unit;      // a known unit
  std::string reference; // instance guid, partition id, "slapuserN", or the computer guid
  std::string title;
};
struct UsageTransaction {
  std::string reference;  // the journal's transaction reference (a partition id for slapnode)
  ubm::TimestampNs start, stop;
  std::vector<UsageLine> lines;
};
struct ReportUsage {
  std::string computer;  // the posting computer: every reference must be its own
  std::vector<UsageTransaction> transactions;
};

// The master's signed checkpoint (slapd signs; the market records it, being the single writer).
struct RecordCheckpoint {
  ubm::Checkpoint checkpoint;
};

// A supplier's price for a resource (market/price_rules.h states the rules), from a UTC day on.
struct SetPrice {
  std::string actor;     // the supplier: a person or organisation (the authenticated caller)
  std::string computer;  // "" = every computer of the actor; else a computer the actor owns
  std::string resource;  // "usage/cpu_s", "hosting/running", "custom/transaction", ...
  std::string unit;      // the unit the price is per: a known unit ("partition_h" for hosting)
  ubm::Decimal price;    // minor units of `currency` per unit, >= 0, at most 9 decimals
  std::string currency;  // must be the market's
  int32_t effective_day = 0;  // days since 1970-01-01 UTC
  bool correction = false;    // a correction may be effective in the past (re-rate to apply it)
};

// Re-rates the supplier's day lines of [from_day, to_day] with the price lists as they stand.
struct Rerate {
  std::string actor;
  std::string computer;  // "" = every line the actor supplies
  int32_t from_day = 0, to_day = 0;  // inclusive
  std::string reason;
};

using Command = std::variant<RegisterParty, RegisterComputer, DeclareCapacity, Supply, RequestInstance, ReportState,
                             ReportConnection, Bang, Rename, RecordIdentity, ReportUsage, RecordCheckpoint, SetPrice,
                             Rerate, SoftwareRemoved>;

// What a successful command did.
struct Outcome {
  bool written = false;    // false: nothing changed, nothing was appended
  std::string instance;    // request: the instance guid
  std::string computer;    // request: where it runs (allocated)
  std::string partition;
  std::string host;        // request (shared): the host instance
  std::string pending;     // request: why it waits, when it does
};

}  // namespace slap::market
