#pragma once
// Exact billing arithmetic. Quantities are summed as 128-bit integers at scale 18 (every ubm::Decimal
// fits exactly: |mantissa| < 2^63 times 10^18 < 2^127), amounts are int64 minor units of the
// market's currency. No floating point anywhere.
//
// Rounding rule (the only one): a day line's amount = its exact summed quantity x its unit price
// (/ the unit conversion, e.g. 3600 seconds per partition-hour), rounded once, half away from zero,
// to an integer number of minor units. Every total is the plain sum of those line amounts.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ubm/decimal.h"

namespace slap::billing {

using Q18 = __int128;  // quantity x 10^18
inline constexpr uint8_t kQScale = 18;
inline constexpr uint8_t kMaxPriceScale = 9;  // a price may go to 10^-9 of a minor unit

Q18 to_q18(ubm::Decimal d) noexcept;
// false on overflow (acc unchanged).
[[nodiscard]] bool add_q18(Q18& acc, Q18 v) noexcept;
// Exact text, trailing fractional zeros trimmed ("12.5", "3").
std::string q18_to_string(Q18 q);

// A unit price: mantissa x 10^-scale minor units per (divisor x quantity unit).
struct UnitPrice {
  int64_t mantissa = 0;
  uint8_t scale = 0;
  uint32_t divisor = 1;
  friend bool operator==(const UnitPrice&, const UnitPrice&) = default;
};

// How many movement units make one price unit (the price's unit per the movement's unit):
// 1 when equal, 3600 for seconds priced per hour or partition-hour, 60 per minute, 86400 per day;
// nullopt when the units do not convert (the line stays unrated).
std::optional<uint32_t> unit_divisor(std::string_view price_unit, std::string_view quantity_unit) noexcept;

// round_half_away_from_zero(q x price) in minor units; nullopt when it does not fit in int64.
std::optional<int64_t> rate(Q18 q, UnitPrice price) noexcept;

}  // namespace slap::billing

namespace slap::billing {
// Digits of the minor unit (ISO 4217 exponent): 0 for JPY, KRW...; 2 otherwise here.
int minor_digits(std::string_view currency) noexcept;
// "1234" EUR cents -> "12.34"; exact.
std::string format_minor(int64_t minor, std::string_view currency);
}  // namespace slap::billing
