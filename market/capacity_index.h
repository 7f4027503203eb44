#pragma once
// Projection: the free-capacity index the matcher decides on. For every (release, capability) the
// computers that are open, supply the release and have a free partition, ordered by
// (price, busy partitions, guid); the same again per region. Finding the best candidate is one
// ordered-set lookup (log of the number of computers); conditions the index does not key on are
// checked while walking the order (bounded by the matcher).
//
// Threading: sequencer thread only (folding and deciding happen there); `size` locks.
#include <set>
#include <unordered_map>

#include "market/fact_projection.h"
#include "market/interner.h"

namespace slap::market {

class CapacityIndex final : public FactProjection {
 public:
  struct Computer {
    std::string guid;
    uint32_t owner = kNone, network = kNone, capability = kNone, region = kNone;
    int64_t price = 0;
    Scope scope = Scope::open;
    uint32_t present = 0;  // declared partitions not retired
    uint32_t busy = 0;     // partitions holding an instance
    std::vector<uint32_t> categories;  // interned "key=value", sorted
    std::vector<uint32_t> releases;    // interned release URLs supplied (available), sorted
    bool listed = false;               // in the ordered sets
    bool has_free() const noexcept { return present > busy; }
    bool supplies(uint32_t release) const;
    bool has_category(uint32_t kv) const;
  };
  // Orders computers by (price, busy, guid); the comparator reads the computer table.
  struct Order {
    const std::vector<Computer>* table;
    bool operator()(uint32_t a, uint32_t b) const;
  };
  using Candidates = std::set<uint32_t, Order>;

  std::string_view name() const override { return "market.capacity"; }
  size_t size() const;

  // Sequencer thread only.
  const Computer* find(std::string_view guid) const;
  const Computer& computer(uint32_t idx) const { return computers_[idx]; }
  uint32_t id(std::string_view s) const { return strings_.id(s); }  // kNone: nobody declared it
  // Open computers with a free partition supplying `release` under `capability` (kNone ids allowed:
  // they give nullptr), optionally in one region.
  const Candidates* candidates(uint32_t release, uint32_t capability) const;
  const Candidates* candidates(uint32_t release, uint32_t capability, uint32_t region) const;
  // Whether any computer at all supplies the release (for pending reasons).
  bool supplied_anywhere(uint32_t release) const;

 protected:
  void fold(const Fact& fact) override;
  void write(ledger::SnapshotWriter& w) const override;
  bool read(ledger::SnapshotReader& r) override;
  void clear() override;

 private:
  static uint64_t key(uint32_t release, uint32_t capability) { return (uint64_t{release} << 32) | capability; }
  static uint64_t key(uint32_t release, uint32_t capability, uint32_t region) {
    return (uint64_t{release} << 42) | (uint64_t{capability & 0x1fffff} << 21) | (region & 0x1fffff);
  }
  uint32_t at(std::string_view guid) const;
  void unlist(uint32_t idx);
  void list(uint32_t idx);
  Candidates& set_of(std::unordered_map<uint64_t, Candidates>& m, uint64_t k);

  std::vector<Computer> computers_;
  std::unordered_map<std::string, uint32_t> by_guid_;
  Interner strings_;
  std::unordered_map<uint64_t, Candidates> by_release_;
  std::unordered_map<uint64_t, Candidates> by_region_;
  std::unordered_map<uint32_t, uint32_t> suppliers_;  // release -> computers supplying it (any state of capacity)
};

}  // namespace slap::market
