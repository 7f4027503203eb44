#pragma once
// Rules every entry obeys before it is written (and again after it is read back): stop >= start,
// known units, a currency for any non-zero price, well-formed ids, resolvable references.
#include <optional>
#include <span>
#include <string_view>

#include "ubm/error.h"
#include "ubm/model.h"

namespace slap::ubm {

// Answers what an id refers to. The ledger's directory projection implements it; tests use maps.
class Resolver {
 public:
  virtual ~Resolver() = default;
  virtual std::optional<NodeKind> node_kind(std::string_view id) const = 0;
  virtual std::optional<ItemKind> item_kind(std::string_view id) const = 0;
};

// Checks one entry on its own (no references). `field` prefixes the error's field name.
Status validate_structure(const EntryBody& body, std::string_view field = "entry");
// The same for entry `index` of a batch; the field prefix "entries[index]" is built only on error.
Status validate_structure_at(const EntryBody& body, size_t index);

// Checks a batch as a whole: each entry's structure, then its references (below).
Status validate_batch(std::span<const EntryBody> batch, const Resolver& known);

// References only (structure already checked): ids registered at most once (in the ledger or
// earlier in the batch), every reference resolvable in the ledger or earlier in the batch.
Status validate_references(std::span<const EntryBody> batch, const Resolver& known);

}  // namespace slap::ubm
