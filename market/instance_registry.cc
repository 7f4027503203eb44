#include "market/instance_registry.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <mutex>

#include <boost/container_hash/hash.hpp>

namespace slap::market {
namespace {

std::string host_key(std::string_view release, std::string_view type) {
  std::string k(release);
  k += '\n';
  k += type;
  return k;
}

void write_map(ledger::SnapshotWriter& w, const StringMap& m) {
  w.u64(m.size());
  for (const auto& [k, v] : m) {
    w.str(k);
    w.str(v);
  }
}

StringMap read_map(ledger::SnapshotReader& r) {
  StringMap m;
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    std::string k = r.str();
    m.emplace_back(std::move(k), r.str());
  }
  return m;
}

void write_list(ledger::SnapshotWriter& w, const std::vector<std::string>& v) {
  w.u64(v.size());
  for (const auto& s : v) w.str(s);
}

std::vector<std::string> read_list(ledger::SnapshotReader& r) {
  std::vector<std::string> v;
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) v.push_back(r.str());
  return v;
}

// The guids the market mints are "SOFTINST-<position + 1>" (next_guid): their position, when the
// guid has that form. Such an instance is found by its number, without an index; only other guids
// (none today) are kept in by_guid_, which saves an insert into a million-entry table per request.
std::optional<uint32_t> minted_position(std::string_view guid) {
  constexpr std::string_view kPrefix = "SOFTINST-";
  if (!guid.starts_with(kPrefix)) return std::nullopt;
  const std::string_view digits = guid.substr(kPrefix.size());
  if (digits.empty() || digits.size() > 9 || digits[0] == '0') return std::nullopt;
  uint32_t n = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return std::nullopt;
    n = n * 10 + static_cast<uint32_t>(ch - '0');
  }
  return n - 1;
}

bool is_host(const InstanceRegistry::Instance& i) {
  return !i.request.shared && !i.computer.empty() && i.request.state != RequestedState::destroyed;
}

}  // namespace

InstanceRegistry::View InstanceRegistry::view(const Instance& i) const {
  View v{i, i.request.title, i.computer, i.partition};
  if (i.request.shared && !i.host.empty()) {  // a shared instance lives where its host lives
    if (const Instance* host = find(i.host)) {
      v.computer = host->computer;
      v.partition = host->partition;
    }
  }
  // Up the requesters to a person (not an instance); bounded: trees are shallow, and a cycle
  // cannot loop forever.
  const Instance* up = &i;
  for (int depth = 0; depth < 64; ++depth) {
    const Instance* parent = find(up->request.requester);
    if (parent == nullptr) break;
    v.root_title = parent->request.title;
    up = parent;
  }
  return v;
}

std::optional<InstanceRegistry::Instance> InstanceRegistry::get(std::string_view guid) const {
  std::shared_lock lock(mu_);
  const Instance* i = find(guid);
  if (i == nullptr) return std::nullopt;
  return *i;
}

std::optional<InstanceRegistry::Instance> InstanceRegistry::get(std::string_view requester, std::string_view title) const {
  std::shared_lock lock(mu_);
  const Instance* i = find(requester, title);
  if (i == nullptr) return std::nullopt;
  return *i;
}

std::vector<InstanceRegistry::Instance> InstanceRegistry::list(const std::function<bool(const Instance&)>& pred, size_t limit) const {
  std::shared_lock lock(mu_);
  std::vector<Instance> out;
  for (const auto& i : instances_) {
    if (out.size() >= limit) break;
    if (pred(i)) out.push_back(i);
  }
  return out;
}

InstanceRegistry::Page InstanceRegistry::page(size_t from, size_t limit, size_t max_scan,
                                               const std::function<bool(const Instance&, const Instance*)>& pred) const {
  std::shared_lock lock(mu_);
  Page out;
  size_t at = std::min(from, instances_.size());
  for (size_t scanned = 0; at < instances_.size() && out.guids.size() < limit && scanned < max_scan; ++at, ++scanned) {
    const Instance& i = instances_[at];
    if (pred(i, i.host.empty() ? nullptr : find(i.host))) out.guids.push_back(i.request.instance);
  }
  out.next = at;
  out.done = at >= instances_.size();
  return out;
}

size_t InstanceRegistry::size() const {
  std::shared_lock lock(mu_);
  return instances_.size();
}

const InstanceRegistry::Instance* InstanceRegistry::find(std::string_view guid) const {
  if (auto at = minted_position(guid); at && *at < instances_.size() && instances_[*at].request.instance == guid) {
    return &instances_[*at];
  }
  if (by_guid_.empty()) return nullptr;
  auto it = by_guid_.find(guid);
  return it == by_guid_.end() ? nullptr : &instances_[it->second];
}

InstanceRegistry::TitleProbe InstanceRegistry::title_probe(std::string_view requester, std::string_view title) noexcept {
  size_t h = std::hash<std::string_view>{}(requester);
  boost::hash_combine(h, std::hash<std::string_view>{}(title));
  return TitleProbe{requester, title, static_cast<uint32_t>(h ^ (h >> 32))};
}

void InstanceRegistry::index_title(uint32_t idx) {
  const auto& r = instances_[idx].request;
  by_title_.insert(TitleSlot{idx, title_probe(r.requester, r.title).hash});  // one probe; kept out if the title is taken
}

const InstanceRegistry::Instance* InstanceRegistry::find(std::string_view requester, std::string_view title) const {
  auto it = by_title_.find(title_probe(requester, title));
  return it == by_title_.end() ? nullptr : &instances_[it->idx];
}

std::vector<std::string> InstanceRegistry::pending() const {
  std::vector<std::string> out;
  out.reserve(pending_.size());
  for (const auto& [arrival, idx] : pending_) out.push_back(instances_[idx].request.instance);
  return out;
}

InstanceRegistry::Queued InstanceRegistry::queued_after(const std::map<uint64_t, uint32_t>& queue, uint64_t arrival) const {
  auto it = queue.upper_bound(arrival);
  if (it == queue.end()) return {};
  return {it->first, &instances_[it->second]};
}

const InstanceRegistry::Hosts& InstanceRegistry::hosts(std::string_view release, std::string_view type) const {
  static const Hosts none;
  auto it = hosts_.find(host_key(release, type));
  if (it == hosts_.end()) return none;
  return it->second;
}

const InstanceRegistry::Instance* InstanceRegistry::root_of(std::string_view guid) const {
  const Instance* root = find(guid);
  if (root == nullptr) return nullptr;
  // Bounded: a chain of requesters cannot be longer than the registry.
  for (size_t steps = 0; steps < instances_.size(); ++steps) {
    const Instance* up = find(root->request.requester);
    if (up == nullptr) break;
    root = up;
  }
  return root;
}

std::vector<std::string> InstanceRegistry::tree(std::string_view guid) const {
  std::vector<std::string> out;
  const Instance* root = root_of(guid);
  if (root == nullptr) return out;
  std::vector<const Instance*> stack{root};
  while (!stack.empty() && out.size() <= instances_.size()) {
    const Instance* i = stack.back();
    stack.pop_back();
    out.push_back(i->request.instance);
    for (auto it = i->children.rbegin(); it != i->children.rend(); ++it) {
      if (const Instance* c = find(*it)) stack.push_back(c);
    }
  }
  return out;
}

void InstanceRegistry::unqueue(Instance& i) {
  if (!i.pending) return;
  pending_.erase(i.arrival);
  if (i.request.shared) pending_shared_.erase(i.arrival);
  ungroup(i);
  i.pending = false;
}

namespace {
// A field of a group key: its length, ':', itself (conditions may hold any byte).
void put_field(std::string& key, std::string_view field) {
  key += std::to_string(field.size());
  key += ':';
  key += field;
}
// The field at `at` of a key put_field built; `at` moves past it.
std::string_view field_at(std::string_view key, size_t& at) {
  const size_t colon = key.find(':', at);
  size_t size = 0;
  std::from_chars(key.data() + at, key.data() + colon, size);
  at = colon + 1 + size;
  return key.substr(colon + 1, size);
}
}  // namespace

std::string InstanceRegistry::group_key(const fact::Request& r) {
  std::string_view named;
  for (const auto& [k, v] : r.sla) {
    if (k == "computer_guid") named = v;
  }
  std::string key;
  put_field(key, named);
  put_field(key, r.release);
  put_field(key, named.empty() ? std::string_view() : std::string_view(r.client));
  for (const auto& [k, v] : r.sla) {
    put_field(key, k);
    put_field(key, v);
  }
  return key;
}

std::string InstanceRegistry::shared_group_of_kind(std::string_view release, std::string_view type) {
  std::string key("k");
  put_field(key, release);
  put_field(key, type);
  return key;
}

std::string InstanceRegistry::shared_group_naming(std::string_view host) {
  std::string key("i");
  put_field(key, host);
  return key;
}

std::string InstanceRegistry::shared_group_key(const fact::Request& r) {
  for (const auto& [k, v] : r.sla) {
    if (k == "instance_guid") return shared_group_naming(v);  // Matcher::host tries that host alone
  }
  return shared_group_of_kind(r.release, r.software_type);
}

void InstanceRegistry::enqueue(const Instance& i) {
  pending_.emplace(i.arrival, i.index);
  if (i.request.shared) pending_shared_.emplace(i.arrival, i.index);
  group(i);
}

void InstanceRegistry::group(const Instance& i) {
  if (!i.pending) return;
  if (i.request.shared) {
    shared_groups_[shared_group_key(i.request)].emplace(i.arrival, i.index);
    return;
  }
  const std::string key = group_key(i.request);
  auto it = groups_.find(key);
  if (it == groups_.end()) {
    it = groups_.emplace(key, std::map<uint64_t, uint32_t>{}).first;
    group_keys_by_release_[i.request.release].insert(key);
  }
  it->second.emplace(i.arrival, i.index);
  if (i.pending_reason.starts_with(kScanBoundReason)) pending_scan_bound_.emplace(i.arrival, i.index);
}

void InstanceRegistry::ungroup(const Instance& i) {
  if (!i.pending) return;
  if (!i.request.shared) pending_scan_bound_.erase(i.arrival);
  auto& groups = i.request.shared ? shared_groups_ : groups_;
  auto it = groups.find(i.request.shared ? shared_group_key(i.request) : group_key(i.request));
  if (it == groups.end()) return;
  it->second.erase(i.arrival);
  if (!it->second.empty()) return;
  if (!i.request.shared) {
    auto r = group_keys_by_release_.find(i.request.release);
    assert(r != group_keys_by_release_.end() && r->second.contains(it->first));
    r->second.erase(it->first);
    if (r->second.empty()) group_keys_by_release_.erase(r);
  }
  groups.erase(it);
}

bool InstanceRegistry::queues_consistent() const {
  std::map<uint64_t, uint32_t> pending, shared, scan_bound;
  std::map<std::string, std::map<uint64_t, uint32_t>> groups, shared_groups;
  for (uint32_t idx = 0; idx < instances_.size(); ++idx) {
    const Instance& i = instances_[idx];
    if (!i.pending) continue;
    pending.emplace(i.arrival, idx);
    if (i.request.shared) {
      shared.emplace(i.arrival, idx);
      shared_groups[shared_group_key(i.request)].emplace(i.arrival, idx);
      continue;
    }
    groups[group_key(i.request)].emplace(i.arrival, idx);
    if (i.pending_reason.starts_with(kScanBoundReason)) scan_bound.emplace(i.arrival, idx);
  }
  // The same keys, each with the same queue.
  auto same = [](const std::map<std::string, std::map<uint64_t, uint32_t>>& want, const Map<std::map<uint64_t, uint32_t>>& have) {
    if (want.size() != have.size()) return false;
    for (const auto& [key, queue] : want) {
      auto it = have.find(key);
      if (it == have.end() || it->second != queue) return false;
    }
    return true;
  };
  if (pending != pending_ || shared != pending_shared_ || scan_bound != pending_scan_bound_ || !same(groups, groups_)) return false;
  // Each group's key under its requests' release, once.
  std::map<std::string, std::vector<std::string>> by_release;
  for (const auto& [key, queue] : groups) by_release[instances_[queue.begin()->second].request.release].push_back(key);
  if (by_release.size() != group_keys_by_release_.size()) return false;
  for (auto& [release, keys] : by_release) {
    auto it = group_keys_by_release_.find(release);
    if (it == group_keys_by_release_.end()) return false;
    std::vector<std::string> have(it->second.begin(), it->second.end());
    std::sort(have.begin(), have.end());
    if (have != keys) return false;  // `keys` is sorted: `groups` is an ordered map
  }
  if (!same(shared_groups, shared_groups_)) return false;
  // The hosts of each release and type, oldest first (Matcher::host walks them).
  std::map<std::string, std::vector<uint32_t>> hosts;
  for (uint32_t idx = 0; idx < instances_.size(); ++idx) {
    if (is_host(instances_[idx])) hosts[host_key(instances_[idx].request.release, instances_[idx].request.software_type)].push_back(idx);
  }
  if (hosts.size() != hosts_.size()) return false;
  for (const auto& [key, v] : hosts) {
    auto it = hosts_.find(key);
    if (it == hosts_.end() || !it->second.consistent(std::less<uint32_t>{}) ||
        !std::equal(v.begin(), v.end(), it->second.begin(), it->second.end())) {
      return false;
    }
  }
  return true;
}

InstanceRegistry::PendingGroup InstanceRegistry::pending_group(std::string_view key, const std::map<uint64_t, uint32_t>& queue) const {
  size_t at = 0;
  const std::string_view named = field_at(key, at);  // group_key's first two fields
  const std::string_view release = field_at(key, at);
  return {key, named, release, &instances_[queue.begin()->second]};
}

std::vector<InstanceRegistry::PendingGroup> InstanceRegistry::pending_groups() const {
  std::vector<PendingGroup> out;
  out.reserve(groups_.size());
  for (const auto& [key, queue] : groups_) out.push_back(pending_group(key, queue));
  return out;
}

size_t InstanceRegistry::pending_group_count_of(std::string_view release) const {
  auto r = group_keys_by_release_.find(release);
  return r == group_keys_by_release_.end() ? 0 : r->second.size();
}

void InstanceRegistry::pending_groups_of(std::string_view release, std::vector<PendingGroup>& out) const {
  auto r = group_keys_by_release_.find(release);
  if (r == group_keys_by_release_.end()) return;
  for (const std::string& key : r->second) {
    auto it = groups_.find(key);
    out.push_back(pending_group(it->first, it->second));
  }
}

InstanceRegistry::Queued InstanceRegistry::pending_shared_in_group_after(std::string_view key, uint64_t arrival) const {
  auto it = shared_groups_.find(key);
  if (it == shared_groups_.end()) return {};
  return queued_after(it->second, arrival);
}

InstanceRegistry::Queued InstanceRegistry::pending_in_group_after(std::string_view key, uint64_t arrival) const {
  auto it = groups_.find(key);
  if (it == groups_.end()) return {};
  return queued_after(it->second, arrival);
}

void InstanceRegistry::index_host(uint32_t idx) {
  const Instance& i = instances_[idx];
  if (!is_host(i)) return;
  note_host_change(i);
  scratch_.assign(i.request.release).append(1, '\n').append(i.request.software_type);
  auto it = hosts_.find(std::string_view(scratch_));
  if (it == hosts_.end()) it = hosts_.emplace(scratch_, Hosts{}).first;
  if (!it->second.contains(idx, std::less<uint32_t>{})) it->second.insert(idx, std::less<uint32_t>{});
}

void InstanceRegistry::unindex_host(uint32_t idx) {
  const Instance& i = instances_[idx];
  scratch_.assign(i.request.release).append(1, '\n').append(i.request.software_type);
  auto it = hosts_.find(std::string_view(scratch_));
  if (it == hosts_.end()) return;
  Hosts& v = it->second;
  if (v.contains(idx, std::less<uint32_t>{})) {
    v.erase(idx, std::less<uint32_t>{}, [](uint32_t) { return true; });  // indexes are unique
    note_host_change(i);  // as it was: a host that changed kind is noted under both
  }
  if (v.empty()) hosts_.erase(it);
}

void InstanceRegistry::note_host_change(const Instance& h) {
  if (pending_shared_.empty() || host_changes_overflowed_) return;  // nobody to offer it to, or everybody
  for (std::string& key : shared_groups_of_host(h.request)) {
    if (!shared_groups_.contains(key)) continue;  // no shared instance waits there
    // Unindexed, then indexed again: noted already (its two groups are the last two notes at most).
    const size_t n = host_changes_.size();
    if ((n >= 1 && host_changes_[n - 1] == key) || (n >= 2 && host_changes_[n - 2] == key)) continue;
    if (host_changes_.size() == kMaxHostChangesNoted) {
      host_changes_overflowed_ = true;
      return;
    }
    host_changes_.push_back(std::move(key));
  }
}

void InstanceRegistry::fold(const Fact& fact) {
  last_at_ = std::max(last_at_, fact.at);
  struct V {
    InstanceRegistry& r;
    ubm::TimestampNs at;
    static uint32_t index_of(const Instance* i) { return i->index; }
    void operator()(const fact::ComputerSet&) {}
    void operator()(const fact::Formatted& f) {
      for (const auto& g : f.touched) {
        if (Instance* i = r.at(g)) touch(*i);
      }
    }
    void operator()(const fact::Supplied&) {}
    void operator()(const fact::Requested& f) {
      Instance* i = r.at(f.instance);
      if (i == nullptr) {
        const auto idx = static_cast<uint32_t>(r.instances_.size());
        if (minted_position(f.instance) != idx) r.by_guid_.emplace(f.instance, idx);
        if (Instance* parent = r.at(f.requester)) parent->children.push_back(f.instance);
        i = &r.instances_.emplace_back();
        i->index = idx;
        i->request = static_cast<const fact::Request&>(f);  // where it runs: Instance::computer/partition
        r.index_title(idx);
      } else {
        const uint32_t idx = index_of(i);
        // Indexed as a host by its release, type and state alone: a change of parameters or
        // conditions leaves it where it is (and is no host change to offer).
        const bool rehost = i->request.release != f.release || i->request.software_type != f.software_type ||
                            i->request.state != f.state || i->request.shared != f.shared;
        if (rehost) r.unindex_host(idx);
        // Its release or conditions may change: out of its group here, back under them below, at
        // its place (and between the shared queue and the groups should it change between shared
        // and not, which the market refuses; older ledgers aside).
        const bool was_shared = i->request.shared;
        r.ungroup(*i);
        i->request.release = f.release;
        i->request.software_type = f.software_type;
        i->request.parameters = f.parameters;
        i->request.sla = f.sla;
        i->request.shared = f.shared;
        i->request.state = f.state;
        if (i->pending && was_shared != i->request.shared) {
          if (was_shared) r.pending_shared_.erase(i->arrival);
          else r.pending_shared_.emplace(i->arrival, idx);
        }
        r.group(*i);
        if (rehost) r.index_host(idx);
        if (!i->host.empty()) {
          if (Instance* h = r.at(i->host)) h->timestamp = at;
        }
      }
      i->timestamp = at;
      if (f.allocated()) allocate(*i, f.computer, f.partition);
    }
    void operator()(const fact::Allocated& f) {
      if (Instance* i = r.at(f.instance)) allocate(*i, f.computer, f.partition);
    }
    void allocate(Instance& inst, const std::string& computer, const std::string& partition) {
      Instance* i = &inst;
      r.unqueue(*i);
      i->pending_reason.clear();
      i->computer = computer;
      i->partition = partition;
      i->reported = ReportedState::none;
      i->timestamp = at;
      r.index_host(index_of(i));
    }
    void operator()(const fact::Pending& f) {
      Instance* i = r.at(f.instance);
      if (i == nullptr) return;
      if (!i->pending) {
        i->pending = true;
        i->arrival = ++r.arrivals_;
        i->pending_reason = f.reason;
        r.enqueue(*i);
        return;
      }
      // Still waiting, for another reason: in or out of the scan-bound queue with it.
      if (!i->request.shared && i->pending_reason.starts_with(kScanBoundReason) != f.reason.starts_with(kScanBoundReason)) {
        if (f.reason.starts_with(kScanBoundReason)) r.pending_scan_bound_.emplace(i->arrival, index_of(i));
        else r.pending_scan_bound_.erase(i->arrival);
      }
      i->pending_reason = f.reason;
    }
    void operator()(const fact::Attached& f) {
      Instance* i = r.at(f.instance);
      Instance* h = r.at(f.host);
      if (i == nullptr || h == nullptr) return;
      r.unqueue(*i);
      i->pending_reason.clear();
      i->host = f.host;
      i->timestamp = at;
      h->slaves.push_back(f.instance);
      h->timestamp = at;
    }
    void operator()(const fact::Freed& f) {
      Instance* i = r.at(f.instance);
      if (i == nullptr) return;
      r.unindex_host(index_of(i));
      r.unqueue(*i);
      i->pending_reason.clear();
      if (!i->host.empty()) {
        if (Instance* h = r.at(i->host)) {
          // Searched from the back, and only the one entry (an instance attaches once): a host
          // destroyed frees its shared instances last-attached first (requeue_slaves), so each
          // erase is at the end. std::erase compared every guid of the host's list for each one,
          // quadratic: 34,000 shared instances took seconds of the deciding thread.
          if (auto it = std::find(h->slaves.rbegin(), h->slaves.rend(), f.instance); it != h->slaves.rend()) {
            h->slaves.erase(std::next(it).base());
          }
          h->timestamp = at;
        }
      }
      i->host.clear();
      i->computer.clear();
      i->partition.clear();
      i->timestamp = at;
    }
    void operator()(const fact::Reported& f) {
      if (Instance* i = r.at(f.instance)) i->reported = f.state;
    }
    void operator()(const fact::Connection& f) {
      if (Instance* i = r.at(f.instance)) i->connection = f.parameters;
    }
    // A shared instance is rendered by its host's node: what touches it touches the host too.
    void touch(Instance& i) {
      i.timestamp = at;
      if (!i.host.empty()) {
        if (Instance* h = r.at(i.host)) h->timestamp = at;
      }
    }
    void operator()(const fact::Banged& f) {
      for (const auto& g : f.tree) {
        if (Instance* i = r.at(g)) touch(*i);
      }
    }
    void operator()(const fact::Renamed& f) {
      Instance* i = r.at(f.instance);
      if (i == nullptr) return;
      const uint32_t idx = index_of(i);
      if (auto it = r.by_title_.find(title_probe(i->request.requester, i->request.title)); it != r.by_title_.end() && it->idx == idx) {
        r.by_title_.erase(it);
      }
      i->request.title = f.title;
      r.index_title(idx);
      touch(*i);
      for (const auto& g : f.tree) {
        if (Instance* t = r.at(g)) touch(*t);
      }
    }
  };
  std::visit(V{*this, fact.at}, fact.body);
}

void InstanceRegistry::write(ledger::SnapshotWriter& w) const {
  w.u64(instances_.size());
  for (const auto& i : instances_) {
    const auto& q = i.request;
    w.mark("instance", q.instance);
    w.str(q.instance);
    w.str(q.requester);
    w.str(q.title);
    w.str(q.client);
    w.str(q.release);
    w.str(q.software_type);
    write_map(w, q.parameters);
    write_map(w, q.sla);
    w.u8(q.shared ? 1 : 0);
    w.u8(static_cast<uint8_t>(q.state));
    w.str(i.computer);
    w.str(i.partition);
    w.str(i.host);
    write_list(w, i.slaves);
    write_list(w, i.children);
    write_map(w, i.connection);
    w.u8(static_cast<uint8_t>(i.reported));
    w.u64(static_cast<uint64_t>(i.timestamp.value()));
    w.u8(i.pending ? 1 : 0);
    w.str(i.pending_reason);
    w.u64(i.arrival);
  }
  w.mark("(counters)");
  w.u64(arrivals_);
  w.u64(static_cast<uint64_t>(last_at_.value()));
}

bool InstanceRegistry::read(ledger::SnapshotReader& r) {
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    Instance i;
    auto& q = i.request;
    q.instance = r.str();
    q.requester = r.str();
    q.title = r.str();
    q.client = r.str();
    q.release = r.str();
    q.software_type = r.str();
    q.parameters = read_map(r);
    q.sla = read_map(r);
    q.shared = r.u8() != 0;
    const uint8_t state = r.u8();
    if (state > 2) return false;
    q.state = static_cast<RequestedState>(state);
    i.computer = r.str();
    i.partition = r.str();
    i.host = r.str();
    i.slaves = read_list(r);
    i.children = read_list(r);
    i.connection = read_map(r);
    const uint8_t reported = r.u8();
    if (reported > 3) return false;
    i.reported = static_cast<ReportedState>(reported);
    i.timestamp = ubm::TimestampNs{static_cast<int64_t>(r.u64())};
    i.pending = r.u8() != 0;
    i.pending_reason = r.str();
    i.arrival = r.u64();
    i.index = static_cast<uint32_t>(instances_.size());
    instances_.push_back(std::move(i));
  }
  arrivals_ = r.u64();
  last_at_ = ubm::TimestampNs{static_cast<int64_t>(r.u64())};
  if (!r.ok()) return false;
  rebuild_indexes();
  return true;
}

void InstanceRegistry::rebuild_indexes() {
  for (uint32_t idx = 0; idx < instances_.size(); ++idx) {
    const Instance& i = instances_[idx];
    if (minted_position(i.request.instance) != idx) by_guid_.emplace(i.request.instance, idx);
    index_title(idx);
    if (i.pending) enqueue(i);
    index_host(idx);
  }
}

void InstanceRegistry::clear() {
  instances_.clear();
  by_guid_.clear();
  by_title_.clear();
  pending_.clear();
  hosts_.clear();
  arrivals_ = 0;
  pending_shared_.clear();
  groups_.clear();
  group_keys_by_release_.clear();
  pending_scan_bound_.clear();
  shared_groups_.clear();
  mark_host_changes();
  last_at_ = ubm::TimestampNs{0};
}

}  // namespace slap::market
