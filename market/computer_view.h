#pragma once
// Projection: each computer as its node sees it — properties, partitions (addresses, the instance
// each hosts), the releases to install with their requested state — and a version that changes
// whenever any of it (or an instance it hosts, or a shared instance served there) changes.
// Instance details are joined from the InstanceRegistry at read time (Market::computer_view).
//
// Threading: the `*_locked`-free accessors taking a shared lock are for any thread; `find` and
// `first_free` are for the sequencer (the only folding thread) and take no lock.
#include <optional>
#include <shared_mutex>
#include <span>
#include <unordered_map>

#include <boost/unordered/unordered_flat_map.hpp>

#include "market/fact_projection.h"
#include "market/string_key_map.h"

namespace slap::market {

// Calls fn(iface, address, gateway, netmask, network) for each entry of packed routed addresses
// (pack_routed below), in order, copying nothing; false at the first entry that does not have
// exactly five fields (the rest are not visited).
template <class F>
bool for_each_routed_in(std::string_view packed, F&& fn) {
  if (packed.empty()) return true;
  for (;;) {
    const size_t comma = packed.find(',');
    std::string_view entry = packed.substr(0, comma);
    std::string_view f[5];
    for (int k = 0; k < 5; ++k) {
      const size_t space = entry.find(' ');
      if ((k < 4) == (space == std::string_view::npos)) return false;  // fewer or more than five fields
      f[k] = entry.substr(0, space);
      entry = k < 4 ? entry.substr(space + 1) : std::string_view();
    }
    fn(f[0], f[1], f[2], f[3], f[4]);
    if (comma == std::string_view::npos) return true;
    packed.remove_prefix(comma + 1);  // an entry follows every comma, even the last
  }
}

class ComputerView final : public FactProjection {
 public:
  struct Partition {
    std::string ref;
    std::string addresses;  // "ipv4,..|ipv6,..|tap[|routed]": compact; spec() expands it
    std::string instance;   // guid of the instance it hosts, "" when free
    bool present = true;    // false: retired by a later declaration
    int64_t since = 0;      // when `instance` got it (its allocation's decision time, ns)
    PartitionSpec spec() const;
    // Calls fn(interface, address) for each address, IPv4 first, straight from `addresses`
    // (no spec() and its vectors): the interface is the tap when there is one, else the ref.
    template <class F>
    void for_each_address(F&& fn) const {
      std::string_view rest = addresses;
      const size_t bar1 = rest.find('|');
      const size_t bar2 = bar1 == std::string_view::npos ? bar1 : rest.find('|', bar1 + 1);
      if (bar2 == std::string_view::npos) return;
      const size_t bar3 = rest.find('|', bar2 + 1);
      const std::string_view tap = rest.substr(bar2 + 1, bar3 == std::string_view::npos ? std::string_view::npos : bar3 - bar2 - 1);
      const std::string_view iface = tap.empty() ? std::string_view(ref) : tap;
      for (std::string_view list : {rest.substr(0, bar1), rest.substr(bar1 + 1, bar2 - bar1 - 1)}) {
        while (!list.empty()) {
          const size_t comma = list.find(',');
          fn(iface, list.substr(0, comma));
          list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        }
      }
    }
    // Calls fn(iface, address, gateway, netmask, network) for each routed address, in order.
    template <class F>
    void for_each_routed(F&& fn) const {
      std::string_view rest = addresses;
      for (int bars = 0; bars < 3; ++bars) {
        const size_t bar = rest.find('|');
        if (bar == std::string_view::npos) return;
        rest.remove_prefix(bar + 1);
      }
      (void)for_each_routed_in(rest, fn);  // checked when declared (DeclareCapacity)
    }
  };
  struct Computer {
    fact::ComputerSet props;
    std::vector<Partition> partitions;  // declaration order
    // Every partition by a hash of its ref, sorted by (hash, index): a lookup binary-searches
    // integers side by side and compares one ref, where searching indexes sorted by ref compared
    // strings in partitions scattered through memory (a cache miss per step: 7% of the deciding
    // thread and 3% of an I/O thread under the HTTP allocation load, 100 partitions per computer).
    struct RefSlot {
      uint32_t hash;
      uint32_t idx;
    };
    std::vector<RefSlot> by_ref;
    StringMap supplies;                 // release URL -> "available" | "destroyed"
    uint64_t version = 0;
    uint32_t busy = 0;
    // Every partition before this index is busy or retired: first_free starts here, so taking
    // partitions in order costs O(1) each instead of a scan of all of them. Not in the snapshot.
    uint32_t free_from = 0;
    const Partition* partition(std::string_view ref) const;
    void index_partition(uint32_t idx);  // adds partitions[idx] (not indexed yet) to by_ref
    bool supplies_release(std::string_view url) const;
    std::vector<std::string> supplied_releases() const;  // those supplies_release() holds for, sorted
  };

  std::string_view name() const override { return "market.computers"; }

  // Any thread.
  std::optional<Computer> get(std::string_view guid) const;
  uint64_t version(std::string_view guid) const;  // 0 for an unknown computer
  // Calls fn(const Partition&) under the shared lock, copying nothing; false (fn not called) for
  // an unknown computer or partition. Keep fn short: the folding thread waits for it.
  template <class F>
  bool read_partition(std::string_view guid, std::string_view ref, F&& fn) const {
    std::shared_lock lock(mu_);
    const Computer* c = find(guid);
    const Partition* p = c == nullptr ? nullptr : c->partition(ref);
    if (p == nullptr) return false;
    fn(*p);
    return true;
  }
  size_t size() const;

  // Sequencer thread only.
  const Computer* find(std::string_view guid) const;
  // The computer at `idx` in registration order when its guid is `guid` (the CapacityIndex numbers
  // computers the same way: both append on a computer's first fact), else find(guid). Saves a
  // hash lookup, that is cache misses, on each placement in a large world.
  const Computer* find(uint32_t idx, std::string_view guid) const;
  // The first present free partition in declaration order; nullptr when none.
  const Partition* first_free(const Computer& c) const;
  // The computer hosting an instance (allocated, or shared through its host); nullptr when none.
  const Computer* location(std::string_view instance) const;
  // A partition's tenancy that has ended: who held it, from when until it was freed (ns). Usage a
  // node reports later for a period of it is that instance's (partition_tenancy.h).
  struct PastTenancy {
    std::string instance;
    int64_t from = 0, to = 0;
  };
  // Sequencer thread. The ended tenancies of partitions[partition] of `c` (found by its guid, so
  // a copy does as well; none for a computer this view lacks), in time order: each begins when or
  // after the previous one ended. Valid until the next fold.
  std::span<const PastTenancy> past(const Computer& c, uint32_t partition) const;
  // The ended tenancies `instance` held on `c`.
  std::vector<const PastTenancy*> past_of(const Computer& c, std::string_view instance) const;

 protected:
  void fold(const Fact& fact) override;
  void write(ledger::SnapshotWriter& w) const override;
  bool read(ledger::SnapshotReader& r) override;
  void clear() override;

 private:
  Computer* at(std::string_view guid);
  void bump_location(std::string_view instance);
  static void skip_taken(Computer& c);  // advances free_from past busy and retired partitions

  using Index = StringKeyMap<uint32_t>;
  std::vector<Computer> computers_;
  // Parallel to computers_, apart from Computer (get() copies a Computer for every node's poll, and
  // a history only grows): partition index -> its ended tenancies, only for partitions that have
  // some. A usage line looks up its partition's and binary-searches it.
  using History = boost::unordered_flat_map<uint32_t, std::vector<PastTenancy>>;
  std::vector<History> past_;
  // Instance -> where its ended tenancies are (rebuilt on restore, not in the snapshot).
  struct Ended {
    uint32_t computer, partition, pos;
  };
  StringKeyMap<std::vector<Ended>> ended_by_;
  std::optional<uint32_t> index_of(const Computer& c) const;  // by its guid; nullopt: not one of this view's
  Index by_guid_;
  Index location_;  // instance guid -> computer index
};

std::string pack_addresses(const PartitionSpec& p);
// Routed addresses as Partition::addresses holds them after a fourth '|': "iface address gateway
// netmask network" each (fields never hold a space, a comma or a bar: DeclareCapacity checks),
// comma-separated. The ledger's "p <ref> routed" attribute is the same text.
std::string pack_routed(const std::vector<RoutedAddress>& routed);
std::optional<std::vector<RoutedAddress>> unpack_routed(std::string_view packed);

}  // namespace slap::market
