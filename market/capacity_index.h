#pragma once
// Projection: the free-capacity index the matcher decides on. For every (release, capability) the
// computers that are open, supply the release and have a free partition, ordered by
// (price, busy partitions, guid); the same again per region and per network (the selective
// conditions: walking the release-wide order to the first computer of one network among 100 would
// cost a hundred steps). Finding the best candidate is one ordered-set lookup (log of the number
// of computers); conditions the index does not key on are checked while walking the order
// (bounded by the matcher).
//
// An order is a chunked sorted sequence (candidates.h), not a tree and not one flat vector: an
// allocation (busy + 1) moves a computer past the computers of its price that were as busy as it;
// a tree paid an erase and an insert, each a walk of scattered nodes (profiled: 22% of the
// sequencer thread with 10,000 computers), a flat vector a rotation over all of them (thousands
// when a fleet shares one price). In short sorted chunks it is an erase and an insert that shift
// one chunk each. An element carries its own sort key (price, busy, the guid's first 16 bytes),
// so searching reads only the order; only guids equal on 16 bytes fall back to the table.
//
// Threading: sequencer thread only (folding and deciding happen there); `size` locks.
#include <unordered_map>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "market/candidates.h"
#include "market/fact_projection.h"
#include "market/interner.h"

namespace slap::market {

class CapacityIndex final : public FactProjection {
 public:
  struct Computer;
  // One element of an ordered set: a computer with its sort key (price, busy, guid).
  struct Entry {
    int64_t price = 0;
    uint32_t busy = 0;
    uint32_t idx = 0;           // into the computer table
    uint64_t guid_prefix[2]{};  // the guid's first 16 bytes, big-endian, zero-padded
  };
  struct Order {
    const std::vector<Computer>* table;  // read only for guids equal on their first 16 bytes
    bool operator()(const Entry& a, const Entry& b) const;
  };
  // Sorted by Order, no two elements of one computer; walked from the head by the matcher.
  using Candidates = ChunkedSortedSequence<Entry, Order>;

  struct Computer {
    std::string guid;
    uint32_t owner = kNone, network = kNone, capability = kNone, region = kNone;
    int64_t price = 0;
    Scope scope = Scope::open;
    uint32_t present = 0;  // declared partitions not retired
    uint32_t busy = 0;     // partitions holding an instance
    std::vector<uint32_t> categories;  // interned "key=value", sorted
    std::vector<uint32_t> releases;    // interned release URLs supplied (available), sorted
    // The orders it is listed in (empty: not listed), each holding Entry{price, busy, ...} of it.
    std::vector<Candidates*> entries;
    bool listed() const noexcept { return !entries.empty(); }
    bool has_free() const noexcept { return present > busy; }
    bool supplies(uint32_t release) const;
    bool has_category(uint32_t kv) const;
  };

  std::string_view name() const override { return "market.capacity"; }
  size_t size() const;

  // Sequencer thread only.
  const Computer* find(std::string_view guid) const;
  const Computer& computer(uint32_t idx) const { return computers_[idx]; }
  uint32_t index_of(const Computer& c) const { return static_cast<uint32_t>(&c - computers_.data()); }
  uint32_t id(std::string_view s) const { return strings_.id(s); }  // kNone: nobody declared it
  // Open computers with a free partition supplying `release` under `capability` (kNone ids allowed:
  // they give nullptr), optionally in one region.
  const Candidates* candidates(uint32_t release, uint32_t capability) const;
  const Candidates* candidates(uint32_t release, uint32_t capability, uint32_t region) const;
  const Candidates* network_candidates(uint32_t release, uint32_t capability, uint32_t network) const;
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
  void reorder(uint32_t idx, uint32_t old_busy);  // after a change of `busy` only
  Entry entry(uint32_t idx) const;
  Order order() const { return Order{&computers_}; }

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::vector<Computer> computers_;
  boost::unordered_flat_map<std::string, uint32_t, Hash, std::equal_to<>> by_guid_;
  Interner strings_;
  // Candidates live at stable addresses (computers point to them): node-based maps, never erased.
  std::unordered_map<uint64_t, Candidates> by_release_;
  std::unordered_map<uint64_t, Candidates> by_region_;
  std::unordered_map<uint64_t, Candidates> by_network_;  // keyed like by_region_, network id last
  std::unordered_map<uint32_t, uint32_t> suppliers_;  // release -> computers supplying it (any state of capacity)
};

}  // namespace slap::market
