#pragma once
// Projection: every instance by guid and by (requester, title), what was requested, where it is
// (a partition, a host for a shared instance, or the pending queue in arrival order), what the
// node reported, its connection parameters, its timestamp, and the instance trees (children).
//
// Threading: `get` takes the shared lock (any thread); the other accessors are for the sequencer.
#include <array>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <unordered_map>

#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

#include "market/candidates.h"
#include "market/fact_projection.h"
#include "market/string_key_map.h"

namespace slap::market {

class InstanceRegistry final : public FactProjection {
 public:
  struct Instance {
    fact::Request request;     // guid, requester, title, client, release, type, parameters, sla, shared, state
    std::string computer;      // allocated partition, when any
    std::string partition;
    std::string host;          // shared: the host instance guid, when attached
    std::vector<std::string> slaves;    // shared instances attached here, in attach order
    std::vector<std::string> children;  // instances this one requested, in request order
    StringMap connection;
    ReportedState reported = ReportedState::none;
    ubm::TimestampNs timestamp{0};
    bool pending = false;
    std::string pending_reason;
    uint64_t arrival = 0;      // position in the pending queue
    uint32_t index = 0;        // position in the registry (registration order)
    bool placed() const noexcept { return !computer.empty() || !host.empty(); }
  };

  std::string_view name() const override { return "market.instances"; }

  // Any thread.
  std::optional<Instance> get(std::string_view guid) const;
  std::optional<Instance> get(std::string_view requester, std::string_view title) const;
  // What rendering an instance needs, read in place under the shared lock (see read()).
  struct View {
    const Instance& instance;
    std::string_view root_title;  // the title of the root of its tree (its own for a root)
    std::string_view computer;    // where it runs: its own partition, or its host's when shared
    std::string_view partition;
  };
  // Calls fn(const View&) under the shared lock, copying nothing: get() copied every string and
  // map of the instance, and the root title's walk up the tree copied each ancestor. False (fn
  // not called) for an unknown guid. Keep fn short and take no other projection's lock in it:
  // the folding thread waits for it.
  template <class F>
  bool read(std::string_view guid, F&& fn) const {
    std::shared_lock lock(mu_);
    const Instance* i = find(guid);
    if (i == nullptr) return false;
    fn(view(*i));
    return true;
  }
  // Instances matching `pred`, in guid-registration order, at most `limit` (a full scan: for
  // listings, not hot paths).
  std::vector<Instance> list(const std::function<bool(const Instance&)>& pred, size_t limit) const;
  // One page of a listing: the guids of instances from registration position `from` on for which
  // pred(instance, its host or nullptr) holds, at most `limit` of them, after examining at most
  // `max_scan` instances. Copies only the guids, so a listing never holds the lock (which the
  // folding thread waits for) longer than `max_scan` predicate calls. `next`: where the next page
  // starts; `done` when nothing is left past it.
  struct Page {
    std::vector<std::string> guids;
    size_t next = 0;
    bool done = true;
  };
  Page page(size_t from, size_t limit, size_t max_scan, const std::function<bool(const Instance&, const Instance*)>& pred) const;
  size_t size() const;

  // Sequencer thread only.
  const Instance* find(std::string_view guid) const;
  const Instance* find(std::string_view requester, std::string_view title) const;
  // Pending instances in arrival order.
  std::vector<std::string> pending() const;
  // The pending instance queued first after `arrival` (0: the oldest), with its place in the queue;
  // nullptr when none. A walk of the queue that copies nothing and survives folds in between.
  struct Queued {
    uint64_t arrival = 0;
    const Instance* instance = nullptr;
  };
  Queued pending_after(uint64_t arrival) const { return queued_after(pending_, arrival); }
  // The same among the shared instances pending only.
  Queued pending_shared_after(uint64_t arrival) const { return queued_after(pending_shared_, arrival); }
  // Requests waiting for a partition (not shared), grouped by what decides which computers can
  // take them: the release, the conditions, and the client when they name a computer (a closed
  // computer admits its owner's requests only when named). Every request of a group fits the same
  // computers, so a partition freed is offered to the groups its computer fits, one request of each
  // checked, not to every request waiting (20,000 waiting on conditions the freed computer did not
  // meet: each free read all of them, 5.6 ms). `named`: the computer the conditions name, if any.
  struct PendingGroup {
    std::string_view key;
    std::string_view named;    // the computer its requests name, if any
    std::string_view release;  // what its requests run (read off the key: no instance touched)
    const Instance* oldest;
  };
  std::vector<PendingGroup> pending_groups() const;
  // The groups of requests for `release` alone (appended to `out`): a pass offering one
  // computer's capacity lists those of the releases it supplies, not every group.
  void pending_groups_of(std::string_view release, std::vector<PendingGroup>& out) const;
  size_t pending_group_count_of(std::string_view release) const;
  // The request of the group `key` queued first after `arrival`; nothing once the group is gone.
  Queued pending_in_group_after(std::string_view key, uint64_t arrival) const;
  size_t pending_group_count() const { return groups_.size(); }
  // Shared instances waiting, grouped by the hosts that could take them: those naming a host
  // (instance_guid) under that host, the others under the release and software type they run in
  // (what Matcher::host walks). A host made or gone is offered to its two groups only: every shared
  // instance waiting was tried on each request and each free, 3.5 ms a request with 5,000 of
  // them waiting for a frontend that was down, and a request for each of 50,000 walked them all.
  static std::string shared_group_of_kind(std::string_view release, std::string_view type);
  static std::string shared_group_naming(std::string_view host);
  static std::string shared_group_key(const fact::Request& r);  // a shared request's group
  // The two groups a host (its request) may take from: its release and type's, and its guid's.
  static std::array<std::string, 2> shared_groups_of_host(const fact::Request& host) {
    return {shared_group_of_kind(host.release, host.software_type), shared_group_naming(host.instance)};
  }
  Queued pending_shared_in_group_after(std::string_view key, uint64_t arrival) const;
  // The groups of shared instances waiting whose hosts changed (a host of theirs made, changed
  // kind or state, destroyed or freed) since the last mark_host_changes(), in the order noted,
  // maybe repeated: what a pass that offers hosts walks. A host made may take them; one gone
  // changes their reasons, and may bring another host within Matcher::host's bounded walk. Only
  // groups with an instance waiting are noted; past kMaxHostChangesNoted the notes stop and
  // host_changes_overflowed() says to offer every shared instance. Not projection state: neither
  // snapshotted nor compared (folds outside a command, as a replay's, fill it; nobody reads it
  // then).
  static constexpr size_t kMaxHostChangesNoted = 4096;
  void mark_host_changes() {
    host_changes_.clear();
    host_changes_overflowed_ = false;
  }
  std::span<const std::string> host_changes() const { return host_changes_; }
  bool host_changes_overflowed() const { return host_changes_overflowed_; }
  // Whether the queues (pending, shared, groups, shared groups, scan-bound), the groups' index by
  // release and the index of hosts are exactly what the instances' state makes them, recomputed
  // from scratch: for tests, after any fold.
  bool queues_consistent() const;
  // Requests for a partition whose last reason is the matcher's scan bound (kScanBoundReason): a
  // partition freed anywhere offers itself to them whatever it suits.
  Queued pending_scan_bound_after(uint64_t arrival) const { return queued_after(pending_scan_bound_, arrival); }
  // The place the last instance queued took (0: none ever).
  uint64_t last_arrival() const { return arrivals_; }
  size_t pending_count() const { return pending_.size(); }
  size_t pending_shared_count() const { return pending_shared_.size(); }
  // Hosts for shared instances of (release, type): allocated, not shared, not requested destroyed;
  // oldest first. Indexes into instance(); valid until the next fold.
  using Hosts = ChunkedSortedSequence<uint32_t, std::less<uint32_t>>;
  const Hosts& hosts(std::string_view release, std::string_view type) const;
  const Instance& instance(uint32_t idx) const { return instances_[idx]; }
  // The root of the instance's tree, then every descendant (depth first, request order).
  std::vector<std::string> tree(std::string_view guid) const;
  // The root of the instance's tree alone (itself when no instance requested it); nullptr when the
  // instance is unknown. A walk up its requesters: it does not visit the tree.
  const Instance* root_of(std::string_view guid) const;
  ubm::TimestampNs last_at() const { return last_at_; }
  uint64_t next_guid() const { return instances_.size() + 1; }

 protected:
  void fold(const Fact& fact) override;
  void write(ledger::SnapshotWriter& w) const override;
  bool read(ledger::SnapshotReader& r) override;
  void clear() override;

 private:
  Instance* at(std::string_view guid) { return const_cast<Instance*>(find(guid)); }
  View view(const Instance& i) const;  // caller holds mu_ (or is the folding thread)
  void unqueue(Instance& i);
  // Queues `i` (pending, with its arrival and reason) where it belongs: the pending queue, then the
  // shared queue or its group (and the scan-bound queue when its reason says so: group). ungroup
  // takes a request for a partition out of its group and the scan-bound queue (its request is
  // about to change, or it leaves the queue); group puts it back. A shared instance goes into, or
  // out of, its shared group instead.
  void enqueue(const Instance& i);
  void group(const Instance& i);
  void ungroup(const Instance& i);
  // Length-prefixed fields: the named computer first (pending_groups reads it back), the release,
  // the client when a computer is named, then each condition's key and value.
  static std::string group_key(const fact::Request& r);
  void index_host(uint32_t idx);
  void unindex_host(uint32_t idx);
  void rebuild_indexes();

  template <class V>
  using Map = StringKeyMap<V>;
  // A deque: growing never moves the instances (a vector of a million copied them all, touching
  // fresh pages, at each doubling) and pointers stay valid while folding.
  std::deque<Instance> instances_;
  Map<uint32_t> by_guid_;                   // guids not minted as SOFTINST-<position + 1> only
  // Instances by (requester, title): each entry holds the instance's position and the hash of its
  // two strings, which are the instance's own. A string key per instance (requester + '\n' +
  // title, on the heap past 15 bytes) cost an allocation per request and ~80 bytes per instance,
  // and growing the table read every key again from the heap while deciding waited.
  struct TitleSlot {
    uint32_t idx;
    uint32_t hash;
  };
  struct TitleProbe {
    std::string_view requester, title;
    uint32_t hash;
  };
  static TitleProbe title_probe(std::string_view requester, std::string_view title) noexcept;
  struct TitleHash {
    using is_transparent = void;
    size_t operator()(const TitleSlot& s) const noexcept { return s.hash; }  // the table mixes it further
    size_t operator()(const TitleProbe& p) const noexcept { return p.hash; }
  };
  struct TitleEqual {
    using is_transparent = void;
    const std::deque<Instance>* instances;
    // Entries are equal when their instances have the same requester and title, so inserting an
    // entry finds one already there in the same probe (the first instance keeps the title).
    bool operator()(const TitleSlot& a, const TitleSlot& b) const noexcept {
      if (a.idx == b.idx) return true;
      if (a.hash != b.hash) return false;  // before reading an instance: a cache miss
      const auto& r = (*instances)[b.idx].request;
      return (*this)(TitleProbe{r.requester, r.title, b.hash}, a);
    }
    bool operator()(const TitleProbe& p, const TitleSlot& s) const noexcept {
      if (p.hash != s.hash) return false;
      const auto& r = (*instances)[s.idx].request;
      return r.title == p.title && r.requester == p.requester;
    }
    bool operator()(const TitleSlot& s, const TitleProbe& p) const noexcept { return (*this)(p, s); }
  };
  void index_title(uint32_t idx);  // instances_[idx] exists, with its requester and title
  PendingGroup pending_group(std::string_view key, const std::map<uint64_t, uint32_t>& queue) const;
  boost::unordered_flat_set<TitleSlot, TitleHash, TitleEqual> by_title_{0, TitleHash{}, TitleEqual{&instances_}};
  std::map<uint64_t, uint32_t> pending_;    // arrival -> instance
  // release + '\n' + type -> instances, sorted. Hosts are mostly added newest last (an append);
  // a host destroyed, or brought back, sits anywhere in its kind: chunks keep that a shift of one
  // chunk, where one sorted vector shifted half the kind (a kind of 200,000 hosts: 28 us per
  // destroy and restart instead of 13, growing with the kind). A tree allocated a node per host.
  Map<Hosts> hosts_;
  std::string scratch_;                     // builds hosts_ keys without allocating (folding thread)
  uint64_t arrivals_ = 0;
  std::map<uint64_t, uint32_t> pending_shared_;  // arrival -> instance: the shared among pending_
  Map<std::map<uint64_t, uint32_t>> groups_;       // group_key -> its requests, arrival -> instance
  // release -> the keys of its groups in groups_
  Map<boost::unordered_flat_set<std::string, StringViewHash, std::equal_to<>>> group_keys_by_release_;
  std::map<uint64_t, uint32_t> pending_scan_bound_;  // arrival -> instance: the scan-bound among pending_
  Map<std::map<uint64_t, uint32_t>> shared_groups_;  // shared_group_key -> its shared instances waiting
  std::vector<std::string> host_changes_;            // since mark_host_changes, at most kMaxHostChangesNoted
  bool host_changes_overflowed_ = false;
  void note_host_change(const Instance& h);          // h's groups, as h is now
  Queued queued_after(const std::map<uint64_t, uint32_t>& queue, uint64_t arrival) const;
  ubm::TimestampNs last_at_{0};
};

}  // namespace slap::market
