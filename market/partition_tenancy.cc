#include "market/partition_tenancy.h"

#include <algorithm>
#include <limits>

namespace slap::market {

namespace {
// Leads the snapshot, so that a later format can tell this one apart (and an image that is not
// one of these does not parse: the projection is then rebuilt from the log).
constexpr uint64_t kFormat = 0x7E4A'0000'0000'0001;
constexpr int64_t kForever = std::numeric_limits<int64_t>::max();
}  // namespace

std::string_view PartitionTenancy::key_of(std::string_view computer, std::string_view ref) const {
  // '\n' is in no id (ubm::is_valid_id), so no two (computer, ref) pairs give the same key.
  scratch_.assign(computer);
  scratch_ += '\n';
  scratch_ += ref;
  return scratch_;
}

const PartitionTenancy::Partition* PartitionTenancy::find(std::string_view computer, std::string_view ref) const {
  auto it = index_.find(key_of(computer, ref));
  return it == index_.end() ? nullptr : &partitions_[it->second];
}

PartitionTenancy::Partition* PartitionTenancy::find(std::string_view computer, std::string_view ref) {
  return const_cast<Partition*>(std::as_const(*this).find(computer, ref));
}

void PartitionTenancy::open(const std::string& instance, std::string_view computer, std::string_view ref, int64_t at) {
  Partition* p = find(computer, ref);
  if (p == nullptr) {
    partitions_.push_back(Partition{std::string(key_of(computer, ref)), {}});
    p = &partitions_.back();
    index_.emplace(p->key, static_cast<uint32_t>(partitions_.size() - 1));
  }
  // The market allocates only free partitions; a tenancy still open here would be a bug upstream.
  // It is closed at this instant rather than left open beside the new one.
  if (!p->tenancies.empty() && p->tenancies.back().to == kOpen) {
    p->tenancies.back().to = std::max(at, p->tenancies.back().from);
    index_closed(p->tenancies.back().instance, static_cast<uint32_t>(p - &partitions_[0]));
  }
  p->tenancies.push_back(Tenancy{instance, at, kOpen});
}

void PartitionTenancy::close(const std::string& instance, std::string_view computer, std::string_view ref, int64_t at) {
  Partition* p = find(computer, ref);
  if (p == nullptr || p->tenancies.empty()) return;
  Tenancy& t = p->tenancies.back();
  if (t.to != kOpen || t.instance != instance) return;
  // A tenancy of no time at all still says who held the partition at that instant.
  t.to = std::max(at, t.from);
  index_closed(instance, static_cast<uint32_t>(p - &partitions_[0]));
}

void PartitionTenancy::index_closed(const std::string& instance, uint32_t partition) {
  auto& held = closed_[instance];
  if (std::find(held.begin(), held.end(), partition) == held.end()) held.push_back(partition);
}

void PartitionTenancy::fold(const Fact& f) {
  if (const auto* r = std::get_if<fact::Requested>(&f.body)) {
    if (r->allocated()) open(r->instance, r->computer, r->partition, f.at.value());
  } else if (const auto* a = std::get_if<fact::Allocated>(&f.body)) {
    open(a->instance, a->computer, a->partition, f.at.value());
  } else if (const auto* x = std::get_if<fact::Freed>(&f.body)) {
    if (!x->partition.empty()) close(x->instance, x->computer, x->partition, f.at.value());
  }
}

std::vector<PartitionTenancy::Share> PartitionTenancy::holders(std::string_view computer, std::string_view partition, int64_t start,
                                                               int64_t stop) const {
  std::vector<Share> out;
  const Partition* p = find(computer, partition);
  if (p == nullptr) return out;
  for (const Tenancy& t : p->tenancies) {
    const int64_t to = t.to == kOpen ? kForever : t.to;
    if (start == stop) {
      // An instant: the holder then (the new one at a hand-over instant; a tenancy of no time
      // holds only its own instant).
      if (t.from <= start && (start < to || (t.from == to && start == to))) out = {Share{t.instance, start, stop, 1}};
      continue;
    }
    const int64_t from = std::max(start, t.from), until = std::min(stop, to);
    if (until > from) out.push_back(Share{t.instance, from, until, until - from});
  }
  return out;
}

bool PartitionTenancy::held_before(std::string_view instance, std::string_view computer, int64_t start, int64_t stop) const {
  auto it = closed_.find(std::string(instance));
  if (it == closed_.end()) return false;
  for (uint32_t idx : it->second) {
    const Partition& p = partitions_[idx];
    if (p.key.size() <= computer.size() || p.key.compare(0, computer.size(), computer) != 0 || p.key[computer.size()] != '\n') continue;
    for (const Tenancy& t : p.tenancies) {
      if (t.instance != instance || t.to == kOpen) continue;
      // Closed intervals on both sides: usage measured up to the destroy instant is the instance's.
      if (t.from <= stop && start <= t.to) return true;
    }
  }
  return false;
}

void PartitionTenancy::write(ledger::SnapshotWriter& w) const {
  w.u64(kFormat);
  w.u64(partitions_.size());
  for (const Partition& p : partitions_) {
    w.mark("partition", p.key);
    w.str(p.key);
    w.u64(p.tenancies.size());
    for (const Tenancy& t : p.tenancies) {
      w.str(t.instance);
      w.u64(static_cast<uint64_t>(t.from));
      w.u64(static_cast<uint64_t>(t.to));
    }
  }
}

bool PartitionTenancy::read(ledger::SnapshotReader& r) {
  if (r.u64() != kFormat || !r.ok()) return false;
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    Partition p;
    p.key = r.str();
    if (p.key.find('\n') == std::string::npos) return false;
    for (uint64_t k = r.u64(); r.ok() && k > 0; --k) {
      Tenancy t;
      t.instance = r.str();
      t.from = static_cast<int64_t>(r.u64());
      t.to = static_cast<int64_t>(r.u64());
      // Only the last tenancy may be open.
      if (!p.tenancies.empty() && p.tenancies.back().to == kOpen) return false;
      p.tenancies.push_back(std::move(t));
    }
    if (!r.ok()) return false;
    partitions_.push_back(std::move(p));
    const auto idx = static_cast<uint32_t>(partitions_.size() - 1);
    if (!index_.emplace(partitions_.back().key, idx).second) return false;  // listed twice
    for (const Tenancy& t : partitions_.back().tenancies) {
      if (t.to != kOpen) index_closed(t.instance, idx);
    }
  }
  return r.ok();
}

void PartitionTenancy::clear() {
  index_.clear();
  closed_.clear();
  partitions_.clear();
}

}  // namespace slap::market
