#pragma once
// Splits a reported quantity between the instances that held a partition during the period it was
// measured over, by the time each held it (market.cc, ReportUsage). Exact: the parts keep the
// quantity's scale and add up to it to the last digit, so nothing is billed twice or lost.
#include <cstdint>
#include <span>
#include <vector>

#include "ubm/decimal.h"

namespace slap::market {

// Parts of `q` proportional to `weights` (each > 0, their sum within int64), in the weights'
// order. Largest remainder: each part is rounded down, and the units of the last digit left over
// go one each to the parts with the largest remainders, the earlier part first on ties.
std::vector<ubm::Decimal> split_by_weight(ubm::Decimal q, std::span<const int64_t> weights);

}  // namespace slap::market
