#include "market/computer_view.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <mutex>

#include "ubm/ids.h"

namespace slap::market {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += v[i];
  }
  return s;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  for (;;) {
    const size_t at = s.find(sep, start);
    out.emplace_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
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

}  // namespace

std::string pack_addresses(const PartitionSpec& p) {
  if (p.ipv4.empty() && p.ipv6.empty() && p.tap.empty() && p.routed.empty()) return {};
  std::string s = join(p.ipv4) + '|' + join(p.ipv6) + '|' + p.tap;
  if (p.routed.empty()) return s;  // the three parts alone, as before routed addresses
  s += '|';
  s += pack_routed(p.routed);
  return s;
}

std::string pack_routed(const std::vector<RoutedAddress>& routed) {
  std::string s;
  for (size_t k = 0; k < routed.size(); ++k) {
    const auto& r = routed[k];
    if (k) s += ',';
    s += r.iface + ' ' + r.address + ' ' + r.gateway + ' ' + r.netmask + ' ' + r.network;
  }
  return s;
}

std::optional<std::vector<RoutedAddress>> unpack_routed(std::string_view packed) {
  std::vector<RoutedAddress> out;
  bool addressed = true;
  const bool whole = for_each_routed_in(packed, [&](std::string_view iface, std::string_view address, std::string_view gateway,
                                                    std::string_view netmask, std::string_view network) {
    addressed = addressed && !address.empty();
    out.push_back(RoutedAddress{std::string(iface), std::string(address), std::string(gateway), std::string(netmask), std::string(network)});
  });
  if (!whole || !addressed) return std::nullopt;
  return out;
}

PartitionSpec ComputerView::Partition::spec() const {
  PartitionSpec s;
  s.ref = ref;
  auto parts = split(addresses, '|');
  if (parts.size() == 3 || parts.size() == 4) {
    s.ipv4 = split(parts[0], ',');
    s.ipv6 = split(parts[1], ',');
    s.tap = parts[2];
    if (parts.size() == 4) s.routed = unpack_routed(parts[3]).value_or(std::vector<RoutedAddress>{});
  }
  return s;
}

namespace {
uint32_t ref_hash(std::string_view ref) { return static_cast<uint32_t>(std::hash<std::string_view>{}(ref)); }
bool slot_before(const ComputerView::Computer::RefSlot& a, const ComputerView::Computer::RefSlot& b) {
  return a.hash != b.hash ? a.hash < b.hash : a.idx < b.idx;
}
}  // namespace

const ComputerView::Partition* ComputerView::Computer::partition(std::string_view ref) const {
  const uint32_t h = ref_hash(ref);
  auto it = std::lower_bound(by_ref.begin(), by_ref.end(), h, [](const RefSlot& s, uint32_t x) { return s.hash < x; });
  for (; it != by_ref.end() && it->hash == h; ++it) {
    if (partitions[it->idx].ref == ref) return &partitions[it->idx];
  }
  return nullptr;
}

void ComputerView::Computer::index_partition(uint32_t idx) {
  const RefSlot slot{ref_hash(partitions[idx].ref), idx};
  by_ref.insert(std::upper_bound(by_ref.begin(), by_ref.end(), slot, slot_before), slot);
}

namespace {
bool available(const std::string& state) { return state == "available"; }
}  // namespace

bool ComputerView::Computer::supplies_release(std::string_view url) const {
  const std::string* s = find_value(supplies, url);
  return s != nullptr && available(*s);
}

std::vector<std::string> ComputerView::Computer::supplied_releases() const {
  std::vector<std::string> out;
  for (const auto& [url, state] : supplies) {  // kept sorted by URL, each once (the Supplied fold)
    if (available(state)) out.push_back(url);
  }
  assert(std::is_sorted(out.begin(), out.end()));
  return out;
}

std::optional<ComputerView::Computer> ComputerView::get(std::string_view guid) const {
  std::shared_lock lock(mu_);
  const Computer* c = find(guid);
  if (c == nullptr) return std::nullopt;
  return *c;
}

uint64_t ComputerView::version(std::string_view guid) const {
  std::shared_lock lock(mu_);
  const Computer* c = find(guid);
  return c == nullptr ? 0 : c->version;
}

size_t ComputerView::size() const {
  std::shared_lock lock(mu_);
  return computers_.size();
}

const ComputerView::Computer* ComputerView::find(std::string_view guid) const {
  auto it = by_guid_.find(guid);
  return it == by_guid_.end() ? nullptr : &computers_[it->second];
}

const ComputerView::Computer* ComputerView::find(uint32_t idx, std::string_view guid) const {
  if (idx < computers_.size() && computers_[idx].props.computer == guid) return &computers_[idx];
  return find(guid);
}

ComputerView::Computer* ComputerView::at(std::string_view guid) { return const_cast<Computer*>(find(guid)); }

const ComputerView::Partition* ComputerView::first_free(const Computer& c) const {
  for (size_t i = c.free_from; i < c.partitions.size(); ++i) {
    const Partition& p = c.partitions[i];
    if (p.present && p.instance.empty()) return &p;
  }
  return nullptr;
}

void ComputerView::skip_taken(Computer& c) {
  while (c.free_from < c.partitions.size()) {
    const Partition& p = c.partitions[c.free_from];
    if (p.present && p.instance.empty()) return;
    ++c.free_from;
  }
}

const ComputerView::Computer* ComputerView::location(std::string_view instance) const {
  auto it = location_.find(instance);
  return it == location_.end() ? nullptr : &computers_[it->second];
}

std::optional<uint32_t> ComputerView::index_of(const Computer& c) const {
  // One of computers_ (find() hands those out): its position, without hashing its guid.
  std::less<const Computer*> before;
  if (!computers_.empty() && !before(&c, computers_.data()) && before(&c, computers_.data() + computers_.size())) {
    return static_cast<uint32_t>(&c - computers_.data());
  }
  auto it = by_guid_.find(c.props.computer);
  if (it == by_guid_.end()) return std::nullopt;
  return it->second;
}

std::span<const ComputerView::PastTenancy> ComputerView::past(const Computer& c, uint32_t partition) const {
  const auto ci = index_of(c);
  if (!ci) return {};
  const History& h = past_[*ci];
  auto it = h.find(partition);
  if (it == h.end()) return {};
  return it->second;
}

std::vector<const ComputerView::PastTenancy*> ComputerView::past_of(const Computer& c, std::string_view instance) const {
  std::vector<const PastTenancy*> out;
  auto it = ended_by_.find(instance);
  if (it == ended_by_.end()) return out;
  const auto ci = index_of(c);
  if (!ci) return out;
  for (const Ended& e : it->second) {
    if (e.computer == *ci) out.push_back(&past_[*ci].at(e.partition)[e.pos]);
  }
  return out;
}

void ComputerView::bump_location(std::string_view instance) {
  auto it = location_.find(instance);
  if (it != location_.end()) ++computers_[it->second].version;
}

void ComputerView::fold(const Fact& fact) {
  struct V {
    ComputerView& v;
    int64_t at;  // the fact's decision time
    void operator()(const fact::ComputerSet& f) {
      Computer* c = v.at(f.computer);
      if (c == nullptr) {
        v.by_guid_.emplace(f.computer, static_cast<uint32_t>(v.computers_.size()));
        c = &v.computers_.emplace_back();
        v.past_.emplace_back();
      }
      c->props = f;
      ++c->version;
    }
    void operator()(const fact::Formatted& f) {
      Computer* c = v.at(f.computer);
      assert(c != nullptr);
      if (c == nullptr) return;
      for (const auto& p : f.upserts) {
        if (auto* part = const_cast<Partition*>(c->partition(p.ref))) {
          part->addresses = pack_addresses(p);
          part->present = true;
        } else {
          c->partitions.push_back(Partition{p.ref, pack_addresses(p), {}, true});
          c->index_partition(static_cast<uint32_t>(c->partitions.size() - 1));
        }
      }
      for (const auto& ref : f.retired) {
        if (auto* p = const_cast<Partition*>(c->partition(ref))) p->present = false;
      }
      c->free_from = 0;  // a partition may have been revived anywhere
      skip_taken(*c);
      ++c->version;
    }
    void operator()(const fact::Supplied& f) {
      Computer* c = v.at(f.computer);
      if (c == nullptr) return;
      auto it = std::lower_bound(c->supplies.begin(), c->supplies.end(), f.release,
                                 [](const auto& kv, const std::string& k) { return kv.first < k; });
      if (f.removed) {  // its node removed it: no longer listed
        if (it != c->supplies.end() && it->first == f.release) c->supplies.erase(it);
        ++c->version;
        return;
      }
      const char* state = f.available ? "available" : "destroyed";
      if (it != c->supplies.end() && it->first == f.release) {
        it->second = state;
      } else {
        c->supplies.insert(it, {f.release, state});
      }
      ++c->version;
    }
    void operator()(const fact::Requested& f) {
      v.bump_location(f.instance);
      if (f.allocated()) allocate(f.instance, f.computer, f.partition);
    }
    void operator()(const fact::Allocated& f) { allocate(f.instance, f.computer, f.partition); }
    void allocate(const std::string& instance, std::string_view computer, std::string_view partition) {
      Computer* c = v.at(computer);
      if (c == nullptr) return;
      auto* p = const_cast<Partition*>(c->partition(partition));
      if (p == nullptr) return;
      p->instance = instance;
      p->since = at;
      skip_taken(*c);
      ++c->busy;
      ++c->version;
      v.location_[instance] = static_cast<uint32_t>(c - v.computers_.data());
    }
    void operator()(const fact::Pending&) {}
    void operator()(const fact::Attached& f) {
      auto it = v.location_.find(f.host);
      if (it == v.location_.end()) return;
      const uint32_t idx = it->second;
      v.location_[f.instance] = idx;
      ++v.computers_[idx].version;
    }
    void operator()(const fact::Freed& f) {
      auto it = v.location_.find(f.instance);
      if (it == v.location_.end()) return;
      Computer& c = v.computers_[it->second];
      if (!f.partition.empty()) {
        if (auto* p = const_cast<Partition*>(c.partition(f.partition)); p != nullptr && p->instance == f.instance) {
          const auto part = static_cast<uint32_t>(p - c.partitions.data());
          auto& ended = v.past_[it->second][part];
          // A tenancy of no time still says who held the partition at that instant.
          ended.push_back(PastTenancy{std::move(p->instance), p->since, std::max(at, p->since)});
          v.ended_by_[ended.back().instance].push_back(Ended{it->second, part, static_cast<uint32_t>(ended.size() - 1)});
          p->instance.clear();
          p->since = 0;
          c.free_from = std::min(c.free_from, static_cast<uint32_t>(p - c.partitions.data()));
          --c.busy;
        }
      }
      ++c.version;
      v.location_.erase(it);
    }
    void operator()(const fact::Reported&) {}
    void operator()(const fact::Connection& f) { v.bump_location(f.instance); }
    void operator()(const fact::Banged& f) {
      for (const auto& g : f.tree) v.bump_location(g);
    }
    void operator()(const fact::Renamed& f) {
      v.bump_location(f.instance);
      for (const auto& g : f.tree) v.bump_location(g);
    }
  };
  std::visit(V{*this, fact.at.value()}, fact.body);
}

namespace {
// Leads the snapshot since partitions carry their tenancy: an image of an earlier format (no mark,
// starting with the computer count, or an earlier mark) does not parse, so the view is rebuilt from
// the log rather than read with its fields shifted.
constexpr uint64_t kFormat = 0xC0E1'0000'0000'0003;  // 3: ended tenancies by partition
}  // namespace

void ComputerView::write(ledger::SnapshotWriter& w) const {
  w.u64(kFormat);
  w.u64(computers_.size());
  for (size_t ci = 0; ci < computers_.size(); ++ci) {
    const Computer& c = computers_[ci];
    const auto& p = c.props;
    w.mark("computer", p.computer);
    w.str(p.computer);
    w.str(p.owner);
    w.str(p.network);
    w.u8(static_cast<uint8_t>(p.scope));
    w.u64(static_cast<uint64_t>(p.price_minor));
    w.str(p.currency);
    w.str(p.capability);
    write_map(w, p.categories);
    w.u64(c.partitions.size());
    for (const auto& part : c.partitions) {
      w.str(part.ref);
      w.str(part.addresses);
      w.str(part.instance);
      w.u8(part.present ? 1 : 0);
      w.u64(static_cast<uint64_t>(part.since));
    }
    write_map(w, c.supplies);
    w.u64(c.version);
    // By partition index: the history map's own order differs between a replay and a restore.
    std::vector<uint32_t> parts;
    parts.reserve(past_[ci].size());
    for (const auto& [part, list] : past_[ci]) parts.push_back(part);
    std::sort(parts.begin(), parts.end());
    w.u64(parts.size());
    for (uint32_t part : parts) {
      const auto& list = past_[ci].at(part);
      w.u64(part);
      w.u64(list.size());
      for (const PastTenancy& t : list) {
        w.str(t.instance);
        w.u64(static_cast<uint64_t>(t.from));
        w.u64(static_cast<uint64_t>(t.to));
      }
    }
  }
  std::vector<std::pair<std::string_view, uint32_t>> loc(location_.begin(), location_.end());
  std::sort(loc.begin(), loc.end());
  w.mark("(locations)");
  w.u64(loc.size());
  for (const auto& [g, i] : loc) {
    w.str(g);
    w.u64(i);
  }
}

bool ComputerView::read(ledger::SnapshotReader& r) {
  if (r.u64() != kFormat || !r.ok()) return false;
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    Computer c;
    auto& p = c.props;
    p.computer = r.str();
    p.owner = r.str();
    p.network = r.str();
    const uint8_t scope = r.u8();
    if (scope > 1) return false;
    p.scope = static_cast<Scope>(scope);
    p.price_minor = static_cast<int64_t>(r.u64());
    p.currency = r.str();
    p.capability = r.str();
    p.categories = read_map(r);
    for (uint64_t k = r.u64(); r.ok() && k > 0; --k) {
      Partition part;
      part.ref = r.str();
      part.addresses = r.str();
      part.instance = r.str();
      part.present = r.u8() != 0;
      part.since = static_cast<int64_t>(r.u64());
      if (!part.instance.empty()) ++c.busy;
      c.partitions.push_back(std::move(part));
    }
    c.by_ref.resize(c.partitions.size());
    for (uint32_t i = 0; i < c.by_ref.size(); ++i) c.by_ref[i] = Computer::RefSlot{ref_hash(c.partitions[i].ref), i};
    std::sort(c.by_ref.begin(), c.by_ref.end(), slot_before);
    c.supplies = read_map(r);
    c.version = r.u64();
    // Each partition's tenancies follow one another: ended ones in order, then the present one.
    std::vector<int64_t> ended(c.partitions.size(), 0);
    History past;
    for (uint64_t k = r.u64(); r.ok() && k > 0; --k) {
      const uint64_t part = r.u64();
      if (!r.ok() || part >= c.partitions.size() || past.count(static_cast<uint32_t>(part))) return false;
      auto& list = past[static_cast<uint32_t>(part)];
      for (uint64_t j = r.u64(); r.ok() && j > 0; --j) {
        PastTenancy t;
        t.instance = r.str();
        t.from = static_cast<int64_t>(r.u64());
        t.to = static_cast<int64_t>(r.u64());
        if (!r.ok() || !ubm::is_valid_id(t.instance) || t.from < ended[part] || t.to < t.from) return false;
        ended[part] = t.to;
        list.push_back(std::move(t));
      }
      if (list.empty()) return false;  // never written so
    }
    for (size_t k = 0; k < c.partitions.size(); ++k) {
      const Partition& part = c.partitions[k];
      if (part.instance.empty() ? part.since != 0 : part.since < ended[k]) return false;
    }
    skip_taken(c);
    by_guid_.emplace(p.computer, static_cast<uint32_t>(computers_.size()));
    const auto ci = static_cast<uint32_t>(computers_.size());
    for (const auto& [part, list] : past) {
      for (size_t pos = 0; pos < list.size(); ++pos) ended_by_[list[pos].instance].push_back(Ended{ci, part, static_cast<uint32_t>(pos)});
    }
    computers_.push_back(std::move(c));
    past_.push_back(std::move(past));
  }
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    std::string g = r.str();
    const uint64_t i = r.u64();
    if (i >= computers_.size()) return false;
    location_.emplace(std::move(g), static_cast<uint32_t>(i));
  }
  return r.ok();
}

void ComputerView::clear() {
  computers_.clear();
  past_.clear();
  ended_by_.clear();
  by_guid_.clear();
  location_.clear();
}

}  // namespace slap::market
