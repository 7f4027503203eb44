#include "market/usage_split.h"

#include <algorithm>
#include <cassert>
#include <numeric>

namespace slap::market {

std::vector<ubm::Decimal> split_by_weight(ubm::Decimal q, std::span<const int64_t> weights) {
  assert(!weights.empty());
  const int64_t m = q.mantissa();
  // |m| fits an unsigned 64-bit integer even for INT64_MIN; times a weight it fits 128 bits.
  const unsigned __int128 magnitude = m < 0 ? static_cast<unsigned __int128>(-(static_cast<__int128>(m))) : static_cast<unsigned __int128>(m);
  unsigned __int128 total = 0;
  for (int64_t w : weights) {
    assert(w > 0);
    total += static_cast<unsigned __int128>(w);
  }
  std::vector<unsigned __int128> base(weights.size()), remainder(weights.size());
  unsigned __int128 given = 0;
  for (size_t k = 0; k < weights.size(); ++k) {
    const unsigned __int128 share = magnitude * static_cast<unsigned __int128>(weights[k]);
    base[k] = share / total;
    remainder[k] = share % total;
    given += base[k];
  }
  // Fewer left over than there are parts: each rounding lost less than one unit.
  std::vector<size_t> order(weights.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return remainder[a] > remainder[b]; });
  for (size_t k = 0; given < magnitude; ++k, ++given) ++base[order[k]];
  std::vector<ubm::Decimal> parts;
  parts.reserve(weights.size());
  for (unsigned __int128 b : base) {
    // Each part is at most |m|, so it fits; the sign is the quantity's.
    const auto v = static_cast<__int128>(b);
    parts.push_back(ubm::Decimal::make(static_cast<int64_t>(m < 0 ? -v : v), q.scale()).value());
  }
  return parts;
}

}  // namespace slap::market
