#pragma once
// UBM inventory: for each (node, resource, unit), the quantity received, the quantity sent and the
// number of movements. Sums are exact: 128-bit integers at 18 decimal places.
// Thread-safe for readers (shared lock).
#include <map>
#include <shared_mutex>
#include <tuple>

#include "ledger/projection.h"

namespace slap::ledger {

class Balances final : public Projection {
 public:
  struct Key {
    std::string node, resource, unit;
    friend auto operator<=>(const Key&, const Key&) = default;
  };
  struct Totals {
    __int128 in = 0;   // mantissa at scale 18
    __int128 out = 0;
    uint64_t movements = 0;
    friend bool operator==(const Totals&, const Totals&) = default;
  };

  std::string_view name() const override { return "balances"; }
  void apply(std::span<const EntryView> entries) override;
  ubm::Seq last_applied() const override;
  std::string snapshot() const override;
  ubm::Status restore(std::string_view snapshot, ubm::Seq last_applied) override;
  void reset() override;

  std::optional<Totals> get(const Key& key) const;
  std::map<Key, Totals> all() const;

  // Prints a scale-18 mantissa as a decimal without trailing zeros ("12.5", "3").
  static std::string format(__int128 mantissa18);

 private:
  mutable std::shared_mutex mu_;
  std::map<Key, Totals> totals_;
  ubm::Seq last_{0};
};

}  // namespace slap::ledger
