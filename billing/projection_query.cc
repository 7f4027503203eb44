// BillingProjection::query: whole months inside the window are read from the month roll-ups, the
// partial months at its edges (or every day, when grouping by day) from the day lines.
#include <algorithm>
#include <limits>
#include <mutex>

#include "billing/calendar.h"
#include "billing/projection.h"

namespace slap::billing {
namespace {

using GroupKey = std::array<int64_t, kDims>;
struct GroupHash {
  size_t operator()(const GroupKey& k) const noexcept {
    uint64_t h = 0;
    for (int64_t v : k) h ^= static_cast<uint64_t>(v) + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return static_cast<size_t>(h);
  }
};
struct Acc {
  Q18 quantity = 0;
  __int128 amount = 0;  // sums of int64 lines: checked against int64 once summed
  uint64_t movements = 0, unrated = 0, overflowed = 0;
  int64_t unit = -1;
  bool mixed = false;
  bool quantity_overflowed = false;  // the sum went past Q18: no quantity is given
};

}  // namespace

Answer BillingProjection::query(const Query& q) const {
  std::shared_lock lock(mu_);
  Answer out;
  out.currency = currency_;
  out.from_day = q.from_day;
  out.to_day = q.to_day;
  if (q.to_day < q.from_day) return out;
  std::array<std::optional<uint32_t>, kFilterDims> filter;
  for (size_t i = 0; i < kFilterDims; ++i) {
    if (q.filter[i].empty()) continue;
    filter[i] = lookup(q.filter[i]);
    if (!filter[i]) return out;  // nobody by that name: nothing to sum
  }
  auto matches = [&](const Key& k) {
    return (!filter[0] || k.client == *filter[0]) && (!filter[1] || k.supplier == *filter[1]) &&
           (!filter[2] || resources_[k.resource].first == *filter[2]) && (!filter[3] || k.computer == *filter[3]) &&
           (!filter[4] || k.instance == *filter[4]);
  };
  std::unordered_map<GroupKey, Acc, GroupHash> groups;
  size_t expected = 0;  // roll-ups of the window's months: an upper bound that avoids rehashing
  for (auto it = months_.lower_bound(month_of_day(q.from_day)); it != months_.end() && it->first <= month_of_day(q.to_day); ++it) {
    expected += it->second.size();
  }
  groups.reserve(std::min<size_t>(expected, 1u << 20));
  auto fold = [&](const Key& k, int64_t day, int64_t month, Q18 quantity, bool quantity_overflowed, __int128 amount, uint64_t movements,
                  uint64_t unrated, uint64_t overflowed) {
    GroupKey g;
    g.fill(-1);
    if (q.groups(Dim::client)) g[0] = k.client;
    if (q.groups(Dim::supplier)) g[1] = k.supplier;
    if (q.groups(Dim::resource)) g[2] = k.resource;
    if (q.groups(Dim::computer)) g[3] = k.computer;
    if (q.groups(Dim::instance)) g[4] = k.instance;
    if (q.groups(Dim::day)) g[5] = day;
    if (q.groups(Dim::month)) g[6] = month;
    Acc& a = groups[g];
    const int64_t unit = resources_[k.resource].second;
    if (a.unit == -1 && a.movements == 0 && !a.mixed) a.unit = unit;
    else if (a.unit != unit) a.mixed = true;
    if (quantity_overflowed || !add_q18(a.quantity, quantity)) a.quantity_overflowed = true;
    a.amount += amount;
    a.movements += movements;
    a.unrated += unrated;
    a.overflowed += overflowed;
  };
  for (int32_t m = month_of_day(q.from_day); m <= month_of_day(q.to_day); ++m) {
    const int32_t first = first_day_of_month(m), last = first_day_of_month(m + 1) - 1;
    if (q.from_day <= first && last <= q.to_day && !q.groups(Dim::day)) {
      auto it = months_.find(m);
      if (it == months_.end()) continue;
      for (uint32_t idx : it->second) {
        const Rollup& r = rollups_[idx];
        if (matches(r.key)) fold(r.key, -1, m, r.quantity, r.quantity_overflowed, r.amount, r.movements, r.unrated, r.overflowed);
      }
      continue;
    }
    const int32_t to = std::min(q.to_day, last);
    for (auto it = days_.lower_bound(std::max(q.from_day, first)); it != days_.end() && it->first <= to; ++it) {
      for (uint32_t idx : it->second) {
        const Line& l = lines_[idx];
        if (matches(l.key)) {
          fold(l.key, it->first, m, l.quantity, l.quantity_overflowed, l.amount, l.movements, l.rated ? 0 : l.movements, l.overflowed ? 1 : 0);
        }
      }
    }
  }
  // Order the groups by their names (no string copies), then materialise only the rows.
  std::vector<std::pair<GroupKey, Acc>> sorted(groups.begin(), groups.end());
  auto name = [&](size_t dim, int64_t v) -> std::string_view {
    if (v < 0) return {};
    return dim == 2 ? std::string_view(names_[resources_[static_cast<size_t>(v)].first]) : std::string_view(names_[static_cast<size_t>(v)]);
  };
  std::sort(sorted.begin(), sorted.end(), [&](const auto& a, const auto& b) {
    for (size_t d = 0; d < kDims; ++d) {
      if (a.first[d] == b.first[d]) continue;
      if (d >= 5) return a.first[d] < b.first[d];  // days and months: chronological = textual
      const int c = name(d, a.first[d]).compare(name(d, b.first[d]));
      if (c != 0) return c < 0;
    }
    return a.second.unit < b.second.unit;
  });
  out.rows.reserve(sorted.size());
  auto fits = [](__int128 v) { return v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max(); };
  __int128 total = 0;
  for (const auto& [g, a] : sorted) {
    Row r;
    for (size_t i = 0; i < kFilterDims; ++i) {
      if (g[i] >= 0) r.key[i] = name(i, g[i]);
    }
    if (g[5] >= 0) r.key[5] = format_date(static_cast<int32_t>(g[5]));
    if (g[6] >= 0) r.key[6] = format_month(static_cast<int32_t>(g[6]));
    r.unit = a.mixed || a.unit < 0 ? std::string() : names_[static_cast<size_t>(a.unit)];
    // A row of mixed units shows no quantity anyway: it is not said to be out of range.
    r.quantity_out_of_range = a.quantity_overflowed && !r.unit.empty();
    r.quantity = a.quantity_overflowed ? 0 : a.quantity;
    out.quantity_out_of_range = out.quantity_out_of_range || r.quantity_out_of_range;
    if (!fits(a.amount)) out.out_of_range = true;
    else r.amount = static_cast<int64_t>(a.amount);
    r.movements = a.movements;
    r.unrated = a.unrated;
    r.overflowed = a.overflowed;
    total += a.amount;
    out.movements += a.movements;
    out.unrated += a.unrated;
    out.overflowed += a.overflowed;
    out.rows.push_back(std::move(r));
  }
  if (!fits(total)) out.out_of_range = true;
  if (out.out_of_range) {
    for (auto& r : out.rows) r.amount = 0;
  } else {
    out.amount = static_cast<int64_t>(total);
  }
  return out;
}

}  // namespace slap::billing
