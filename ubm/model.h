#pragma once
// The UBM value types the ledger stores: Movement between Nodes about Items, plus the Node, Item
// and Identity registrations. Plain values; encoding lives in ubm/codec.h, rules in ubm/validate.h.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "ubm/decimal.h"
#include "ubm/ids.h"

namespace slap::ubm {

struct Attribute {
  std::string key;
  std::string value;
  friend bool operator==(const Attribute&, const Attribute&) = default;
};

struct Quantity {
  Decimal amount;
  std::string unit;  // one of known_units()
  friend bool operator==(const Quantity& a, const Quantity& b) { return a.amount.identical(b.amount) && a.unit == b.unit; }
};

// amount = minor * 10^-scale minor units of `currency` (cents for EUR).
struct Money {
  Decimal minor;
  std::string currency;  // ISO 4217; may be empty only when minor is zero
  friend bool operator==(const Money& a, const Money& b) { return a.minor.identical(b.minor) && a.currency == b.currency; }
};

enum class ItemKind : uint8_t { computer = 0, partition = 1, software_release = 2, instance = 3, subscription = 4 };

struct Item {
  ItemId id;
  ItemKind kind = ItemKind::computer;
  std::string title;
  NodeId owner;   // may be empty
  ItemId parent;  // may be empty
  std::vector<Attribute> attributes;
  friend bool operator==(const Item&, const Item&) = default;
};

struct Movement {
  std::string resource;
  Quantity quantity;
  Money price;  // per unit of quantity
  NodeId source;
  NodeId destination;
  std::string source_section;
  std::string destination_section;
  std::vector<ItemId> items;
  TimestampNs start;
  TimestampNs stop;  // 0 = still open; otherwise >= start
  Seq cause;         // entry that caused it; 0 = none
  std::vector<Attribute> attributes;
  // Items this movement is the first to name, registered by it (schema/ledger.capnp `registers`);
  // each id is also in `items`.
  std::vector<Item> registers;
  friend bool operator==(const Movement&, const Movement&) = default;
};

enum class NodeKind : uint8_t { person = 0, organisation = 1, network = 2 };

struct Node {
  NodeId id;
  NodeKind kind = NodeKind::person;
  std::string title;
  std::vector<Attribute> attributes;
  friend bool operator==(const Node&, const Node&) = default;
};

enum class IdentityAction : uint8_t { issue = 0, revoke = 1 };

struct Identity {
  IdentityAction action = IdentityAction::issue;
  std::string subject;  // a NodeId or ItemId
  std::string serial;   // hex
  std::string fingerprint_sha256;  // 32 raw bytes
  TimestampNs not_before;
  TimestampNs not_after;
  std::string role;
  friend bool operator==(const Identity&, const Identity&) = default;
};

// The master's signature over (seq, chain hash at seq).
struct Checkpoint {
  Seq seq;
  std::string head_hash;  // 32 raw bytes
  std::string signature;  // DER
  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

// The bytes a checkpoint signs.
std::string checkpoint_message(Seq seq, std::string_view head_hash);

// What one ledger entry holds.
using EntryBody = std::variant<Movement, Node, Item, Identity, Checkpoint>;

std::string_view to_string(NodeKind k) noexcept;
std::string_view to_string(ItemKind k) noexcept;

}  // namespace slap::ubm
