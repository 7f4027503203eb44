#pragma once
// Projection: the free-capacity index the matcher decides on. The computers that are open and have
// a free partition, in orders sorted by (price, busy partitions, guid): one per (release,
// capability) holding the computers that supply the release, and one per (capability, region) and
// per (capability, network) holding them whatever they supply (the selective conditions: walking
// the release-wide order to the first computer of one network among 100 would cost a hundred
// steps). Finding the best candidate is one ordered-set lookup (log of the number of computers);
// conditions the chosen order does not key on are checked while walking it (bounded by the
// matcher). A region's or network's order skips the computers that do not supply the release by
// a bit mask carried in each element, without reading the computer table.
//
// Why regions and networks are not ordered per release: an allocation (busy + 1) moves the
// computer in every order that holds it, and each move is a few cache misses in a cold order.
// Per release, a computer of 5 releases sat in 15 orders (profiled: 28% of the deciding thread
// in these moves, 10,000 computers); now it sits in 7. The walk pays instead: it is bounded by
// the smaller of the release's order and the region's (or network's), about 10 skipped elements
// for a release on 1 computer in 10, but as many as that smaller order holds when a release
// supplied by many computers elsewhere has its only supplier in a large region at its far end.
//
// An order is a chunked sorted sequence (candidates.h), not a tree and not one flat vector: an
// allocation moves a computer past the computers of its price that were as busy as it;
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
#include "market/string_key_map.h"

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
    uint64_t release_bits = 0;  // release_bit() of every release supplied; not part of the key
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
    // The element it is listed under in each of them (meaningful while listed): a reorder reads
    // its old key here instead of rebuilding it (a hash lookup per release supplied).
    Entry listed_as;
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
  // Changes whenever id() may answer otherwise: a name joins (it keeps its id until the index is
  // cleared) or the index is cleared (ids are given anew). Never repeats.
  uint64_t names_version() const { return (clears_ << 32) + strings_.size(); }
  const std::string& name(uint32_t id) const { return strings_.name(id); }  // precondition: an id(), not kNone
  // Open computers with a free partition supplying `release` under `capability` (kNone ids allowed:
  // they give nullptr).
  const Candidates* candidates(uint32_t release, uint32_t capability) const;
  // Open computers with a free partition under `capability` in one region or on one network,
  // whatever they supply: a walk checks `supplies(entry, release)`.
  const Candidates* region_candidates(uint32_t capability, uint32_t region) const;
  const Candidates* network_candidates(uint32_t capability, uint32_t network) const;
  // The bit a release sets in Entry::release_bits: its ordinal among the releases ever supplied,
  // modulo 64. Exact for the first 64 (no other release shares it): then the bits alone answer.
  struct ReleaseBit {
    uint64_t mask = 0;  // 0: never supplied, nobody has it
    bool exact = false;
  };
  ReleaseBit release_bit(uint32_t release) const;
  // Whether the element's computer supplies the release; the element's bits answer most "no"s
  // (all of them while fewer than 65 releases were ever supplied) without reading the table.
  bool supplies(const Entry& e, uint32_t release, ReleaseBit bit) const {
    if ((e.release_bits & bit.mask) == 0) return false;
    return bit.exact || computers_[e.idx].supplies(release);
  }
  // Whether any computer at all supplies the release (for pending reasons).
  bool supplied_anywhere(uint32_t release) const;
  // Free partitions on computers supplying at least one release, open or closed: when none, no
  // request for a partition can be placed anywhere (a placement needs one, computer_guid too).
  uint64_t free_partitions() const noexcept { return free_; }
  // The same counted afresh over every computer: for tests, against the count kept by the folds.
  uint64_t recount_free_partitions() const;

 protected:
  void fold(const Fact& fact) override;
  void write(ledger::SnapshotWriter& w) const override;
  bool read(ledger::SnapshotReader& r) override;
  void clear() override;

 private:
  static uint64_t key(uint32_t a, uint32_t b) { return (uint64_t{a} << 32) | b; }
  uint32_t at(std::string_view guid) const;
  void unlist(uint32_t idx);
  void list(uint32_t idx);
  void reorder(uint32_t idx);  // after a change of `busy` only
  // A computer's share of free_: its free partitions when it supplies a release, else none.
  uint64_t free_of(uint32_t idx) const;
  // Keeps free_ right across a change of one computer: takes its share out when made, puts the
  // new one back when gone.
  struct Accounting {
    CapacityIndex& x;
    uint32_t idx;
    Accounting(CapacityIndex& index, uint32_t i) : x(index), idx(i) { x.free_ -= x.free_of(idx); }
    ~Accounting() { x.free_ += x.free_of(idx); }
    Accounting(const Accounting&) = delete;
    Accounting& operator=(const Accounting&) = delete;
  };
  uint64_t free_ = 0;
  Entry entry(uint32_t idx) const;
  Order order() const { return Order{&computers_}; }

  std::vector<Computer> computers_;
  StringKeyMap<uint32_t> by_guid_;
  Interner strings_;
  uint64_t clears_ = 0;  // clear() calls: names_version() never comes back to an earlier value
  // Candidates live at stable addresses (computers point to them): node-based maps, never erased.
  std::unordered_map<uint64_t, Candidates> by_release_;  // key(release, capability)
  std::unordered_map<uint64_t, Candidates> by_region_;   // key(capability, region)
  std::unordered_map<uint64_t, Candidates> by_network_;  // key(capability, network)
  std::unordered_map<uint32_t, uint32_t> suppliers_;  // release -> computers supplying it (any state of capacity)
  // release -> its ordinal in the order releases were first supplied (live) or read (checkpoint):
  // only a filter, so the two orders need not agree.
  boost::unordered_flat_map<uint32_t, uint32_t> release_ordinal_;
  void number_release(uint32_t release);
};

}  // namespace slap::market
