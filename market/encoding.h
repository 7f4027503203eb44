#pragma once
// Facts <-> ledger Movements. A market Movement names its fact in the first attribute
// ("fact" = "computer" | "format" | "supply" | "request" | "allocate" | "pending" | "attach" |
// "free" | "report" | "connection" | "bang" | "rename"); the fact's fields follow as attributes
// (string maps as "param <key>", "sla <key>", "cat <key>", "conn <key>"; partitions as
// "p <ref>", "p <ref> ipv4", "p <ref> ipv6", "p <ref> tap"; retired partitions as "rm <ref>").
// The Movement's resource, nodes, items, quantity and price carry the UBM meaning (DESIGN.md §3)
// and are chosen by the market (the Envelope).
//
// An attribute never repeats what the envelope says: an instance fact's instance is the movement's
// first item, the computer of a partition it holds is the front of the partition item
// "<computer>/<ref>" (the ref stays an attribute: "partition"), a request's client is the
// movement's destination when it holds a partition and its source otherwise, and its requester is
// its client unless written; "shared" is written only when 1, a request's "state" only when not
// "started", "requeue" only when 1. The encoder writes the attribute whenever the envelope would
// not give the same value back, and movements written before this rule (every field spelled out)
// decode as they did. It took an allocation's records from ~1,200 to ~975 bytes.
#include <optional>
#include <string>
#include <vector>

#include "market/facts.h"
#include "ubm/error.h"
#include "ubm/model.h"

namespace slap::market {

struct Envelope {
  std::string source;       // node ids, different from each other
  std::string destination;
  std::vector<std::string> items;  // registered item ids
  ubm::Money price;                // per unit (an allocation carries the computer's price)
};

// Whether the market records `resource` itself (capacity/, software/, hosting/, billing/): a usage
// journal reporting it would add to what the market bills (a node's "hosting/running" line merged
// into the hosting it records, billed twice).
bool is_market_resource(std::string_view resource) noexcept;
// The resource a fact is recorded under ("hosting/partition", ...). A Freed fact without a
// partition is recorded under "hosting/shared" or "hosting/request" instead (encode: by its
// envelope's second item, the host it leaves).
std::string_view resource_of(const fact::Body& body) noexcept;

ubm::Movement encode(const Fact& fact, Envelope envelope);

// nullopt: not a market movement (other modules write usage, incidents...). An error: a market
// movement that does not decode (a bug or a corrupted ledger).
ubm::Result<std::optional<Fact>> decode(const ubm::Movement& movement);

}  // namespace slap::market
