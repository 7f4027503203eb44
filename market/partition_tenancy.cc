#include "market/partition_tenancy.h"

#include <algorithm>
#include <limits>

namespace slap::market {

namespace {

constexpr int64_t kForever = std::numeric_limits<int64_t>::max();

// Adds the part of [start, stop] that [from, to) covers; for an instant, makes the holder then
// the only one (tenancies are visited in time order, so a hand-over instant ends with the new one).
void consider(std::vector<Share>& out, std::string_view instance, int64_t from, int64_t to, int64_t start, int64_t stop) {
  if (start == stop) {
    // A tenancy of no time (freed the instant it was allocated) holds its own instant.
    if (from <= start && (start < to || (from == to && start == to))) out = {Share{instance, start, stop, 1}};
    return;
  }
  const int64_t a = std::max(start, from), b = std::min(stop, to);
  if (b > a) out.push_back(Share{instance, a, b, b - a});
}

}  // namespace

void holders(const ComputerView& view, const ComputerView::Computer& c, const ComputerView::Partition& part, int64_t start, int64_t stop,
             std::vector<Share>& out) {
  out.clear();
  // Ended tenancies in time order, none overlapping the next: skip to the first that ends at or
  // after the period's start (an instant needs one ending there: a tenancy of no time), then take
  // them while they begin by its stop.
  const auto past = view.past(c, static_cast<uint32_t>(&part - c.partitions.data()));
  auto it = std::partition_point(past.begin(), past.end(), [&](const ComputerView::PastTenancy& t) { return t.to < start; });
  for (; it != past.end() && it->from <= stop; ++it) consider(out, it->instance, it->from, it->to, start, stop);
  if (!part.instance.empty()) consider(out, part.instance, part.since, kForever, start, stop);
}

bool held_before(const ComputerView& view, const ComputerView::Computer& c, std::string_view instance, int64_t start, int64_t stop) {
  // Closed on both sides: usage measured up to the instant it was freed is still its own.
  for (const auto* t : view.past_of(c, instance)) {
    if (t->from <= stop && start <= t->to) return true;
  }
  return false;
}

}  // namespace slap::market
