#include "billing/query.h"

#include <algorithm>
#include <map>

#include "billing/calendar.h"

namespace slap::billing {

namespace {
constexpr std::array<std::string_view, kDims> kDimNames = {"client", "supplier", "resource", "computer", "instance", "day", "month"};
}

std::string_view to_string(Dim d) noexcept { return kDimNames[static_cast<size_t>(d)]; }

std::optional<Dim> parse_dim(std::string_view s) noexcept {
  for (size_t i = 0; i < kDims; ++i) {
    if (kDimNames[i] == s) return static_cast<Dim>(i);
  }
  return std::nullopt;
}

Query previous_window(const Query& q) {
  Query p = q;
  const int32_t len = q.to_day - q.from_day + 1;
  p.to_day = q.from_day - 1;
  p.from_day = q.from_day - len;
  return p;
}

namespace {
// A row's identity across the two windows: its key, and its unit when grouped by resource (a
// resource reported under two units is two rows of one name there; elsewhere the unit is only
// what the row's lines share, and may differ between windows).
std::pair<std::array<std::string, kDims>, std::string> identity(const Row& r) {
  return {r.key, r.key[static_cast<size_t>(Dim::resource)].empty() ? std::string() : r.unit};
}
}  // namespace

void compare(Answer& cur, const Answer& prev) {
  std::map<std::pair<std::array<std::string, kDims>, std::string>, size_t> index;
  for (size_t i = 0; i < cur.rows.size(); ++i) index.emplace(identity(cur.rows[i]), i);
  for (const auto& r : prev.rows) {
    auto it = index.find(identity(r));
    if (it == index.end()) {
      Row n;
      n.key = r.key;
      n.unit = r.unit;
      n.previous_amount = r.amount;
      n.previous_quantity = r.quantity;
      cur.rows.push_back(std::move(n));
    } else {
      cur.rows[it->second].previous_amount = r.amount;
      cur.rows[it->second].previous_quantity = r.quantity;
    }
  }
  std::sort(cur.rows.begin(), cur.rows.end(), [](const Row& a, const Row& b) { return identity(a) < identity(b); });
  cur.previous_amount = prev.amount;
  cur.out_of_range = cur.out_of_range || prev.out_of_range;
}

std::optional<Window> parse_window(std::string_view name, int32_t today) noexcept {
  if (name == "today") return Window{today, today};
  if (name == "7d") return Window{today - 6, today};
  if (name == "month") return Window{first_day_of_month(month_of_day(today)), today};
  if (auto m = parse_month(name)) return Window{first_day_of_month(*m), first_day_of_month(*m + 1) - 1};
  if (auto d = parse_date(name)) return Window{*d, *d};
  return std::nullopt;
}

}  // namespace slap::billing
