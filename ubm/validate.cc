#include "ubm/validate.h"

#include <algorithm>
#include <array>
#include <span>
#include <unordered_map>

#include "ubm/unit.h"

namespace slap::ubm {
namespace {

std::string at(std::string_view field, std::string_view member) {
  std::string s(field);
  s += '.';
  s += member;
  return s;
}

// Field names are built only on the error path: validation runs for every appended entry.
Error bad_id(std::string field) {
  return make_error(Rejection::INVALID_ID, std::move(field), "id must be 1..128 printable characters without spaces");
}

// Duplicates found by sorting views of the keys: one allocation per movement (none for the usual
// dozen attributes), where a set allocated a node per attribute of every appended entry.
Status check_attributes(const std::vector<Attribute>& attrs, std::string_view field) {
  constexpr size_t kInline = 32;
  std::array<std::string_view, kInline> inline_keys;
  std::vector<std::string_view> heap_keys;
  std::span<std::string_view> keys;
  if (attrs.size() <= kInline) {
    keys = std::span(inline_keys.data(), attrs.size());
  } else {
    heap_keys.resize(attrs.size());
    keys = heap_keys;
  }
  for (size_t i = 0; i < attrs.size(); ++i) {
    if (attrs[i].key.empty()) return make_error(Rejection::INVALID_ATTRIBUTE, at(field, "attributes"), "empty attribute key");
    keys[i] = attrs[i].key;
  }
  std::sort(keys.begin(), keys.end());
  if (auto dup = std::adjacent_find(keys.begin(), keys.end()); dup != keys.end()) {
    return make_error(Rejection::INVALID_ATTRIBUTE, at(field, "attributes"), "duplicated attribute key '" + std::string(*dup) + "'");
  }
  return {};
}

Status check_item(const Item& it, std::string_view field) {
  if (!is_valid_id(it.id.value())) return bad_id(at(field, "id"));
  if (!it.owner.value().empty() && !is_valid_id(it.owner.value())) return bad_id(at(field, "owner"));
  if (!it.parent.value().empty() && !is_valid_id(it.parent.value())) return bad_id(at(field, "parent"));
  return check_attributes(it.attributes, field);
}

Status check_movement(const Movement& m, std::string_view field) {
  if (m.resource.empty()) return make_error(Rejection::EMPTY_RESOURCE, at(field, "resource"), "a movement needs a resource");
  if (!is_known_unit(m.quantity.unit)) {
    return make_error(Rejection::UNKNOWN_UNIT, at(field, "quantity.unit"), "unknown unit '" + m.quantity.unit + "'");
  }
  if (m.quantity.amount.is_negative() && !unit_allows_negative(m.quantity.unit)) {
    return make_error(Rejection::NEGATIVE_QUANTITY, at(field, "quantity"), "quantity " + m.quantity.amount.to_string() + " is negative");
  }
  if (m.price.currency.empty()) {
    if (!m.price.minor.is_zero()) return make_error(Rejection::MISSING_CURRENCY, at(field, "price.currency"), "a price needs a currency");
  } else if (!is_valid_currency(m.price.currency)) {
    return make_error(Rejection::INVALID_CURRENCY, at(field, "price.currency"), "currency '" + m.price.currency + "' is not three upper-case letters");
  }
  if (!is_valid_id(m.source.value())) return bad_id(at(field, "source"));
  if (!is_valid_id(m.destination.value())) return bad_id(at(field, "destination"));
  if (m.source == m.destination) {
    return make_error(Rejection::SAME_SOURCE_AND_DESTINATION, at(field, "destination"), "source and destination are both '" + m.source.value() + "'");
  }
  for (size_t i = 0; i < m.items.size(); ++i) {
    if (!is_valid_id(m.items[i].value())) return bad_id(at(field, "items[" + std::to_string(i) + "]"));
  }
  if (m.start.value() < 0 || m.stop.value() < 0) return make_error(Rejection::INVALID_TIME, at(field, "start"), "times are nanoseconds since the epoch, never negative");
  if (m.stop.value() != 0 && m.stop < m.start) {
    return make_error(Rejection::STOP_BEFORE_START, at(field, "stop"), "stop is before start");
  }
  for (size_t i = 0; i < m.registers.size(); ++i) {
    // Field names are built only on the error path, as everywhere here.
    auto f = [&] { return at(field, "registers[" + std::to_string(i) + "]"); };
    if (auto s = check_item(m.registers[i], ""); !s) {
      Error e = s.error();
      e.field = f() + e.field;
      return e;
    }
    // A movement registers only what it is about: the item is one of its items.
    if (std::find(m.items.begin(), m.items.end(), m.registers[i].id) == m.items.end()) {
      return make_error(Rejection::UNRESOLVED_REFERENCE, at(f(), "id"), "registered item '" + m.registers[i].id.value() + "' is not among the movement's items");
    }
  }
  return check_attributes(m.attributes, field);
}

Status check_identity(const Identity& id, std::string_view field) {
  if (!is_valid_id(id.subject)) return bad_id(at(field, "subject"));
  if (id.serial.empty()) return make_error(Rejection::INVALID_ID, at(field, "serial"), "a certificate needs a serial");
  if (id.action == IdentityAction::issue) {
    if (id.fingerprint_sha256.size() != 32) return make_error(Rejection::INVALID_ID, at(field, "fingerprint_sha256"), "a fingerprint is 32 bytes");
    if (id.not_after < id.not_before) return make_error(Rejection::STOP_BEFORE_START, at(field, "not_after"), "certificate expires before it starts");
  }
  return {};
}

}  // namespace

Status validate_structure(const EntryBody& body, std::string_view field) {
  struct V {
    std::string_view field;
    Status operator()(const Movement& m) const { return check_movement(m, field); }
    Status operator()(const Node& n) const {
      if (!is_valid_id(n.id.value())) return bad_id(at(field, "id"));
      return check_attributes(n.attributes, field);
    }
    Status operator()(const Item& it) const { return check_item(it, field); }
    Status operator()(const Identity& id) const { return check_identity(id, field); }
    Status operator()(const Checkpoint& c) const {
      if (c.seq.value() == 0) return make_error(Rejection::INVALID_ID, at(field, "seq"), "a checkpoint attests an entry, seq >= 1");
      if (c.head_hash.size() != 32) return make_error(Rejection::INVALID_ID, at(field, "head_hash"), "a chain hash is 32 bytes");
      if (c.signature.empty() || c.signature.size() > 512) return make_error(Rejection::INVALID_ID, at(field, "signature"), "a signature is 1..512 bytes");
      return {};
    }
  };
  return std::visit(V{field}, body);
}

Status validate_structure_at(const EntryBody& body, size_t index) {
  Status s = validate_structure(body, "");
  if (s.ok()) return s;
  Error e = s.error();
  e.field = "entries[" + std::to_string(index) + "]" + e.field;
  return e;
}

Status validate_batch(std::span<const EntryBody> batch, const Resolver& known) {
  if (batch.empty()) return make_error(Rejection::EMPTY_BATCH, "entries", "nothing to append");
  for (size_t i = 0; i < batch.size(); ++i) {
    if (auto s = validate_structure_at(batch[i], i); !s) return s;
  }
  return validate_references(batch, known);
}

Status validate_references(std::span<const EntryBody> batch, const Resolver& known) {
  // Ids registered earlier in this batch, visible to later entries of the same batch.
  std::unordered_map<std::string_view, NodeKind> new_nodes;
  std::unordered_map<std::string_view, ItemKind> new_items;
  // The maps are most often empty (a batch registers one instance, if any): no hashing then.
  auto node_known = [&](std::string_view id) { return (!new_nodes.empty() && new_nodes.count(id)) || known.node_kind(id).has_value(); };
  auto item_known = [&](std::string_view id) { return (!new_items.empty() && new_items.count(id)) || known.item_kind(id).has_value(); };
  auto unresolved = [](std::string field, std::string_view what, std::string_view id) {
    return make_error(Rejection::UNRESOLVED_REFERENCE, std::move(field), std::string(what) + " '" + std::string(id) + "' is not registered");
  };

  // An item registered here: not registered before, its owner and parent known. By an Item entry
  // or by a movement's `registers`. `prefix` builds the field name, only on the error path.
  auto register_item = [&](const Item& it, auto prefix) -> Status {
    if (node_known(it.id.value()) || item_known(it.id.value())) {
      return make_error(Rejection::DUPLICATE_ID, at(prefix(), "id"), "id '" + it.id.value() + "' is already registered");
    }
    if (!it.owner.value().empty() && !node_known(it.owner.value())) return unresolved(at(prefix(), "owner"), "node", it.owner.value());
    if (!it.parent.value().empty() && !item_known(it.parent.value())) return unresolved(at(prefix(), "parent"), "item", it.parent.value());
    new_items.emplace(it.id.value(), it.kind);
    return {};
  };

  for (size_t i = 0; i < batch.size(); ++i) {
    // Built only on the error path: this loop runs in the ledger's single writer.
    auto field = [i] { return "entries[" + std::to_string(i) + "]"; };
    const EntryBody& b = batch[i];
    if (const auto* m = std::get_if<Movement>(&b)) {
      for (size_t k = 0; k < m->registers.size(); ++k) {
        if (auto s = register_item(m->registers[k], [&] { return at(field(), "registers[" + std::to_string(k) + "]"); }); !s) return s;
      }
      if (!node_known(m->source.value())) return unresolved(at(field(), "source"), "node", m->source.value());
      if (!node_known(m->destination.value())) return unresolved(at(field(), "destination"), "node", m->destination.value());
      for (size_t k = 0; k < m->items.size(); ++k) {
        if (!item_known(m->items[k].value())) return unresolved(at(field(), "items[" + std::to_string(k) + "]"), "item", m->items[k].value());
      }
    } else if (const auto* n = std::get_if<Node>(&b)) {
      if (node_known(n->id.value()) || item_known(n->id.value())) {
        return make_error(Rejection::DUPLICATE_ID, at(field(), "id"), "id '" + n->id.value() + "' is already registered");
      }
      new_nodes.emplace(n->id.value(), n->kind);
    } else if (const auto* it = std::get_if<Item>(&b)) {
      if (auto s = register_item(*it, field); !s) return s;
    } else if (const auto* id = std::get_if<Identity>(&b)) {
      if (!node_known(id->subject) && !item_known(id->subject)) return unresolved(at(field(), "subject"), "identity subject", id->subject);
    }
  }
  return {};
}

}  // namespace slap::ubm
