#include "market/capacity_index.h"

#include <algorithm>
#include <cassert>
#include <mutex>

namespace slap::market {
namespace {

std::string category(std::string_view k, std::string_view v) {
  std::string s(k);
  s += '=';
  s += v;
  return s;
}

void insert_sorted(std::vector<uint32_t>& v, uint32_t x) {
  auto it = std::lower_bound(v.begin(), v.end(), x);
  if (it == v.end() || *it != x) v.insert(it, x);
}

bool erase_sorted(std::vector<uint32_t>& v, uint32_t x) {
  auto it = std::lower_bound(v.begin(), v.end(), x);
  if (it == v.end() || *it != x) return false;
  v.erase(it);
  return true;
}

void write_ids(ledger::SnapshotWriter& w, const std::vector<uint32_t>& v) {
  w.u64(v.size());
  for (uint32_t x : v) w.u64(x);
}

std::vector<uint32_t> read_ids(ledger::SnapshotReader& r, size_t limit, bool& ok) {
  std::vector<uint32_t> v;
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    const uint64_t x = r.u64();
    if (x >= limit) ok = false;
    v.push_back(static_cast<uint32_t>(x));
  }
  return v;
}

}  // namespace

bool CapacityIndex::Computer::supplies(uint32_t release) const {
  return std::binary_search(releases.begin(), releases.end(), release);
}

bool CapacityIndex::Computer::has_category(uint32_t kv) const {
  return std::binary_search(categories.begin(), categories.end(), kv);
}

bool CapacityIndex::Order::operator()(const Entry& a, const Entry& b) const {
  if (a.price != b.price) return a.price < b.price;
  if (a.busy != b.busy) return a.busy < b.busy;
  if (a.guid_prefix[0] != b.guid_prefix[0]) return a.guid_prefix[0] < b.guid_prefix[0];
  if (a.guid_prefix[1] != b.guid_prefix[1]) return a.guid_prefix[1] < b.guid_prefix[1];
  if (a.idx == b.idx) return false;
  return (*table)[a.idx].guid < (*table)[b.idx].guid;
}

// Big-endian bytes compare as unsigned integers in the order std::string compares them; zero
// padding sorts a shorter guid first, as std::string does (ids hold no NUL).
CapacityIndex::Entry CapacityIndex::entry(uint32_t idx) const {
  const Computer& c = computers_[idx];
  Entry e{c.price, c.busy, idx, {0, 0}, 0};
  for (uint32_t rel : c.releases) e.release_bits |= release_bit(rel).mask;
  for (size_t i = 0; i < 16; ++i) {
    const uint64_t byte = i < c.guid.size() ? static_cast<unsigned char>(c.guid[i]) : 0;
    e.guid_prefix[i / 8] |= byte << (56 - 8 * (i % 8));
  }
  return e;
}

size_t CapacityIndex::size() const {
  std::shared_lock lock(mu_);
  return computers_.size();
}

uint32_t CapacityIndex::at(std::string_view guid) const {
  auto it = by_guid_.find(guid);
  return it == by_guid_.end() ? kNone : it->second;
}

const CapacityIndex::Computer* CapacityIndex::find(std::string_view guid) const {
  const uint32_t idx = at(guid);
  return idx == kNone ? nullptr : &computers_[idx];
}

const CapacityIndex::Candidates* CapacityIndex::candidates(uint32_t release, uint32_t capability) const {
  if (release == kNone || capability == kNone) return nullptr;
  auto it = by_release_.find(key(release, capability));
  return it == by_release_.end() ? nullptr : &it->second;
}

const CapacityIndex::Candidates* CapacityIndex::region_candidates(uint32_t capability, uint32_t region) const {
  if (capability == kNone || region == kNone) return nullptr;
  auto it = by_region_.find(key(capability, region));
  return it == by_region_.end() ? nullptr : &it->second;
}

const CapacityIndex::Candidates* CapacityIndex::network_candidates(uint32_t capability, uint32_t network) const {
  if (capability == kNone || network == kNone) return nullptr;
  auto it = by_network_.find(key(capability, network));
  return it == by_network_.end() ? nullptr : &it->second;
}

CapacityIndex::ReleaseBit CapacityIndex::release_bit(uint32_t release) const {
  auto it = release_ordinal_.find(release);
  if (it == release_ordinal_.end()) return {};
  return {uint64_t{1} << (it->second & 63), release_ordinal_.size() <= 64};
}

void CapacityIndex::number_release(uint32_t release) {
  release_ordinal_.try_emplace(release, static_cast<uint32_t>(release_ordinal_.size()));
}

bool CapacityIndex::supplied_anywhere(uint32_t release) const {
  auto it = suppliers_.find(release);
  return it != suppliers_.end() && it->second > 0;
}

// Empty orders stay in their maps: computers hold pointers to them, and their number is bounded by
// the (release, capability), (capability, region) and (capability, network) pairs ever listed.
void CapacityIndex::unlist(uint32_t idx) {
  Computer& c = computers_[idx];
  for (Candidates* set : c.entries) set->erase(c.listed_as, order(), [idx](const Entry& x) { return x.idx == idx; });
  c.entries.clear();
}

void CapacityIndex::list(uint32_t idx) {
  Computer& c = computers_[idx];
  assert(!c.listed());
  if (c.scope != Scope::open || !c.has_free() || c.releases.empty()) return;
  const Entry e = entry(idx);
  c.listed_as = e;
  c.entries.reserve(c.releases.size() + 2);
  auto add = [&](Candidates& set) {
    set.insert(e, order());
    c.entries.push_back(&set);
  };
  for (uint32_t rel : c.releases) add(by_release_[key(rel, c.capability)]);
  add(by_region_[key(c.capability, c.region)]);
  add(by_network_[key(c.capability, c.network)]);
}

// An allocation or a release changes only the computer's load, the hottest change of all: in each
// order its element leaves where (price, old busy, guid) sorts and goes where (price, busy, guid)
// does. A computer that fills up or gets its first free partition back is (un)listed as usual.
void CapacityIndex::reorder(uint32_t idx) {
  Computer& c = computers_[idx];
  const bool listable = c.scope == Scope::open && c.has_free() && !c.releases.empty();
  if (!listable || !c.listed()) {
    unlist(idx);
    list(idx);
    return;
  }
  const Entry from = c.listed_as;
  Entry to = from;  // the same element (guid prefix, release bits) under its new load
  to.busy = c.busy;
  const Order less = order();
  for (Candidates* set : c.entries) set->move(from, to, less, [idx](const Entry& x) { return x.idx == idx; });
  c.listed_as = to;
}

uint64_t CapacityIndex::free_of(uint32_t idx) const {
  const Computer& c = computers_[idx];
  return c.releases.empty() || !c.has_free() ? 0 : c.present - c.busy;
}

uint64_t CapacityIndex::recount_free_partitions() const {
  uint64_t n = 0;
  for (uint32_t idx = 0; idx < computers_.size(); ++idx) n += free_of(idx);
  return n;
}

void CapacityIndex::fold(const Fact& fact) {
  struct V {
    CapacityIndex& x;
    void operator()(const fact::ComputerSet& f) {
      uint32_t idx = x.at(f.computer);
      if (idx == kNone) {
        idx = static_cast<uint32_t>(x.computers_.size());
        x.computers_.emplace_back().guid = f.computer;
        x.by_guid_.emplace(f.computer, idx);
      }
      const Accounting a(x, idx);
      x.unlist(idx);
      Computer& c = x.computers_[idx];
      c.owner = x.strings_.intern(f.owner);
      c.network = x.strings_.intern(f.network);
      c.capability = x.strings_.intern(f.capability);
      const std::string* region = find_value(f.categories, "region");
      c.region = x.strings_.intern(category("region", region ? *region : std::string()));  // the category's id
      c.price = f.price_minor;
      c.scope = f.scope;
      c.categories.clear();
      for (const auto& [k, v] : f.categories) insert_sorted(c.categories, x.strings_.intern(category(k, v)));
      assert(x.strings_.size() < (1u << 21));
      x.list(idx);
    }
    void operator()(const fact::Formatted& f) {
      const uint32_t idx = x.at(f.computer);
      if (idx == kNone) return;
      const Accounting a(x, idx);
      x.unlist(idx);
      Computer& c = x.computers_[idx];
      c.present += f.added;
      c.present -= std::min<uint32_t>(c.present, static_cast<uint32_t>(f.retired.size()));
      x.list(idx);
    }
    void operator()(const fact::Supplied& f) {
      const uint32_t idx = x.at(f.computer);
      if (idx == kNone) return;
      const Accounting a(x, idx);
      x.unlist(idx);
      Computer& c = x.computers_[idx];
      const uint32_t rel = x.strings_.intern(f.release);
      if (f.available) {
        x.number_release(rel);
        if (!c.supplies(rel)) ++x.suppliers_[rel];
        insert_sorted(c.releases, rel);
      } else if (erase_sorted(c.releases, rel)) {
        --x.suppliers_[rel];
      }
      x.list(idx);
    }
    void operator()(const fact::Requested& f) {
      if (f.allocated()) allocate(f.computer);
    }
    void operator()(const fact::Allocated& f) { allocate(f.computer); }
    void allocate(std::string_view computer) {
      const uint32_t idx = x.at(computer);
      if (idx == kNone) return;
      const Accounting a(x, idx);
      ++x.computers_[idx].busy;
      x.reorder(idx);
    }
    void operator()(const fact::Pending&) {}
    void operator()(const fact::Attached&) {}
    void operator()(const fact::Freed& f) {
      if (f.computer.empty()) return;
      const uint32_t idx = x.at(f.computer);
      if (idx == kNone) return;
      const Accounting a(x, idx);
      Computer& c = x.computers_[idx];
      if (c.busy == 0) return;
      --c.busy;
      x.reorder(idx);
    }
    void operator()(const fact::Reported&) {}
    void operator()(const fact::Connection&) {}
    void operator()(const fact::Banged&) {}
    void operator()(const fact::Renamed&) {}
  };
  std::visit(V{*this}, fact.body);
}

void CapacityIndex::write(ledger::SnapshotWriter& w) const {
  w.mark("(strings)");
  w.u64(strings_.size());
  for (size_t i = 0; i < strings_.size(); ++i) w.str(strings_.name(static_cast<uint32_t>(i)));
  w.mark("(computers)");
  w.u64(computers_.size());
  for (const auto& c : computers_) {
    w.mark("computer", c.guid);
    w.str(c.guid);
    w.u64(c.owner);
    w.u64(c.network);
    w.u64(c.capability);
    w.u64(c.region);
    w.u64(static_cast<uint64_t>(c.price));
    w.u8(static_cast<uint8_t>(c.scope));
    w.u64(c.present);
    w.u64(c.busy);
    write_ids(w, c.categories);
    write_ids(w, c.releases);
  }
}

bool CapacityIndex::read(ledger::SnapshotReader& r) {
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) strings_.intern(r.str());
  const size_t limit = strings_.size();
  bool ok = true;
  auto id = [&](uint64_t v) {
    if (v >= limit) ok = false;
    return static_cast<uint32_t>(v);
  };
  for (uint64_t n = r.u64(); r.ok() && ok && n > 0; --n) {
    Computer c;
    c.guid = r.str();
    c.owner = id(r.u64());
    c.network = id(r.u64());
    c.capability = id(r.u64());
    c.region = id(r.u64());
    c.price = static_cast<int64_t>(r.u64());
    const uint8_t scope = r.u8();
    if (scope > 1) return false;
    c.scope = static_cast<Scope>(scope);
    c.present = static_cast<uint32_t>(r.u64());
    c.busy = static_cast<uint32_t>(r.u64());
    c.categories = read_ids(r, limit, ok);
    c.releases = read_ids(r, limit, ok);
    by_guid_.emplace(c.guid, static_cast<uint32_t>(computers_.size()));
    computers_.push_back(std::move(c));
  }
  if (!r.ok() || !ok) return false;
  for (uint32_t idx = 0; idx < computers_.size(); ++idx) {
    for (uint32_t rel : computers_[idx].releases) {
      ++suppliers_[rel];
      number_release(rel);
    }
    list(idx);
    free_ += free_of(idx);
  }
  return true;
}

void CapacityIndex::clear() {
  ++clears_;
  computers_.clear();
  by_guid_.clear();
  strings_.clear();
  by_release_.clear();
  by_region_.clear();
  by_network_.clear();
  suppliers_.clear();
  release_ordinal_.clear();
  free_ = 0;
}

}  // namespace slap::market
