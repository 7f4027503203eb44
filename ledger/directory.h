#pragma once
// The registry of every Node and Item the ledger has seen, by id, with its kind. The ledger uses it
// to resolve a batch's references before writing; readers use it to look ids up.
// Thread-safe: lookups take a shared lock, apply takes it exclusively.
#include <shared_mutex>
#include <unordered_map>

#include <boost/unordered/unordered_flat_map.hpp>

#include "ledger/projection.h"
#include "ubm/validate.h"

namespace slap::ledger {

class Directory final : public Projection, public ubm::Resolver {
 public:
  std::string_view name() const override { return "directory"; }
  void apply(std::span<const EntryView> entries) override;
  ubm::Seq last_applied() const override;
  std::string snapshot() const override;
  ubm::Status restore(std::string_view snapshot, ubm::Seq last_applied) override;
  void reset() override;
  std::vector<SnapshotRecord> records() const override;  // one per node and item

  std::optional<ubm::NodeKind> node_kind(std::string_view id) const override;
  std::optional<ubm::ItemKind> item_kind(std::string_view id) const override;
  size_t node_count() const;
  size_t item_count() const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  // Open addressing (Boost 1.81): a lookup reads a metadata group and one slot holding the key,
  // where std::unordered_map chased a bucket, then nodes; the directory holds every id ever seen.
  template <typename V>
  using Map = boost::unordered_flat_map<std::string, V, Hash, std::equal_to<>>;

  void write(SnapshotWriter& w) const;  // caller holds mu_

  mutable std::shared_mutex mu_;
  Map<ubm::NodeKind> nodes_;
  Map<ubm::ItemKind> items_;
  ubm::Seq last_{0};
};

}  // namespace slap::ledger
