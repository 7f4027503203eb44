#include "billing/rating.h"

#include <array>
#include <limits>

namespace slap::billing {
namespace {

using U128 = unsigned __int128;

constexpr U128 pow10(unsigned n) {
  U128 v = 1;
  while (n-- > 0) v *= 10;
  return v;
}
constexpr U128 kOne = pow10(kQScale);

// 10^0 .. 10^18: to_q18 runs once per usage movement in a replay.
constexpr auto kPow10 = [] {
  std::array<Q18, kQScale + 1> t{};
  for (unsigned i = 0; i <= kQScale; ++i) t[i] = static_cast<Q18>(pow10(i));
  return t;
}();

}  // namespace

Q18 to_q18(ubm::Decimal d) noexcept {
  return static_cast<Q18>(d.mantissa()) * kPow10[kQScale - d.scale()];
}

bool add_q18(Q18& acc, Q18 v) noexcept {
  Q18 out;
  if (__builtin_add_overflow(acc, v, &out)) return false;
  acc = out;
  return true;
}

std::string q18_to_string(Q18 q) {
  const bool neg = q < 0;
  U128 a = neg ? static_cast<U128>(-(q + 1)) + 1 : static_cast<U128>(q);
  U128 whole = a / kOne, frac = a % kOne;
  std::string w;
  do {
    w.insert(w.begin(), static_cast<char>('0' + static_cast<int>(whole % 10)));
    whole /= 10;
  } while (whole != 0);
  std::string f(kQScale, '0');
  for (int i = kQScale - 1; i >= 0; --i) {
    f[static_cast<size_t>(i)] = static_cast<char>('0' + static_cast<int>(frac % 10));
    frac /= 10;
  }
  while (!f.empty() && f.back() == '0') f.pop_back();
  return (neg ? "-" : "") + w + (f.empty() ? "" : "." + f);
}

std::optional<uint32_t> unit_divisor(std::string_view price_unit, std::string_view quantity_unit) noexcept {
  if (price_unit == quantity_unit) return 1;
  if (quantity_unit == "s") {
    if (price_unit == "hour" || price_unit == "partition_h") return 3600;
    if (price_unit == "minute") return 60;
    if (price_unit == "day") return 86400;
  }
  return std::nullopt;
}

std::optional<int64_t> rate(Q18 q, UnitPrice p) noexcept {
  if (q == 0 || p.mantissa == 0) return int64_t{0};
  if (p.scale > kMaxPriceScale || p.divisor == 0) return std::nullopt;
  const bool neg = (q < 0) != (p.mantissa < 0);
  const U128 aq = q < 0 ? static_cast<U128>(-(q + 1)) + 1 : static_cast<U128>(q);
  const U128 ap = p.mantissa < 0 ? static_cast<U128>(-(p.mantissa + 1)) + 1 : static_cast<U128>(p.mantissa);
  // |q x p| / (10^18 x 10^scale x divisor), in two exact steps so nothing overflows 128 bits:
  // the whole part of q times p, then the fraction of q times p plus what the first step left.
  const U128 den1 = pow10(p.scale) * p.divisor;
  U128 x;
  if (__builtin_mul_overflow(aq / kOne, ap, &x)) return std::nullopt;
  const U128 whole1 = x / den1, rem1 = x % den1;
  const U128 num2 = rem1 * kOne + (aq % kOne) * ap;  // < den1 x 10^18 + 10^18 x 2^63: fits
  const U128 den2 = den1 * kOne;
  U128 total = whole1 + num2 / den2;
  const U128 rem2 = num2 % den2;
  if (rem2 * 2 >= den2) ++total;  // half away from zero (on the magnitude)
  if (total > static_cast<U128>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  const int64_t t = static_cast<int64_t>(total);
  return neg ? -t : t;
}

}  // namespace slap::billing

namespace slap::billing {

int minor_digits(std::string_view c) noexcept {
  for (std::string_view zero : {"JPY", "KRW", "CLP", "ISK", "VND", "XAF", "XOF"}) {
    if (c == zero) return 0;
  }
  return 2;
}

std::string format_minor(int64_t minor, std::string_view currency) {
  auto d = ubm::Decimal::make(minor, static_cast<uint8_t>(minor_digits(currency)));
  return d ? d->to_string() : std::to_string(minor);
}

}  // namespace slap::billing
