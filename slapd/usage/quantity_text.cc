#include "slapd/usage/quantity_text.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

namespace slap::usage {
namespace {

ubm::Error malformed(std::string_view text, std::string_view why) {
  return ubm::make_error(ubm::Rejection::MALFORMED_DECIMAL, "",
                         "'" + std::string(text.substr(0, 64)) + "' is not a decimal number: " + std::string(why));
}
ubm::Error too_large(std::string_view text) {
  return ubm::make_error(ubm::Rejection::DECIMAL_OVERFLOW, "", "'" + std::string(text.substr(0, 64)) + "' is too large");
}

bool all_digits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

// Drops the last `k` digits of `digits`, rounding half away from zero (on the magnitude).
std::string round_off(std::string digits, size_t k) {
  if (k == 0) return digits;
  if (k > digits.size()) return "";  // every digit dropped, the first of them a leading 0: below half
  const bool up = digits[digits.size() - k] >= '5';
  digits.resize(digits.size() - k);
  if (!up) return digits;
  // Carry: 0.999... rounds to 1.
  size_t i = digits.size();
  while (i > 0 && digits[i - 1] == '9') digits[--i] = '0';
  if (i == 0) digits.insert(digits.begin(), '1');
  else ++digits[i - 1];
  return digits;
}

bool fits_int64(const std::string& digits) {
  static const std::string kMax = std::to_string(std::numeric_limits<int64_t>::max());
  return digits.size() < kMax.size() || (digits.size() == kMax.size() && digits <= kMax);
}

}  // namespace

ubm::Result<ubm::Decimal> parse_quantity_text(std::string_view text) {
  if (text.empty()) return malformed(text, "empty");
  std::string_view rest = text;
  const bool negative = rest.front() == '-';
  if (negative) rest.remove_prefix(1);
  std::string_view exponent_text;
  if (const size_t e = rest.find_first_of("eE"); e != std::string_view::npos) {
    exponent_text = rest.substr(e + 1);
    rest = rest.substr(0, e);
    if (!exponent_text.empty() && (exponent_text.front() == '+' || exponent_text.front() == '-')) {
      if (!all_digits(exponent_text.substr(1))) return malformed(text, "no digit in the exponent");
    } else if (!all_digits(exponent_text)) {
      return malformed(text, "no digit in the exponent");
    }
  }
  std::string_view integer = rest, fraction;
  if (const size_t point = rest.find('.'); point != std::string_view::npos) {
    integer = rest.substr(0, point);
    fraction = rest.substr(point + 1);
    if (!all_digits(fraction)) return malformed(text, "no digit after the point, or a character that is not one");
  }
  if (!all_digits(integer)) return malformed(text, "no digit before the point, or a character that is not one");

  // value = digits * 10^power, digits without leading zeros.
  std::string digits(integer);
  digits += fraction;
  digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size()));
  int64_t power = -static_cast<int64_t>(fraction.size());
  if (!exponent_text.empty()) {
    const bool minus = exponent_text.front() == '-';
    if (exponent_text.front() == '+' || minus) exponent_text.remove_prefix(1);
    exponent_text.remove_prefix(std::min(exponent_text.find_first_not_of('0'), exponent_text.size()));
    // Saturated far beyond any text's length (a request body is at most megabytes): the digits
    // can never bring such a value back to a representable one.
    int64_t e = exponent_text.size() > 15 ? 1'000'000'000'000'000 : 0;
    if (e == 0) {
      for (char c : exponent_text) e = e * 10 + (c - '0');
    }
    power += minus ? -e : e;
  }
  // A zero keeps the digits it was written with ("0.0" is stored as written, as Decimal::parse does).
  if (digits.empty()) return ubm::Decimal::make(0, static_cast<uint8_t>(std::clamp<int64_t>(-power, 0, ubm::Decimal::kMaxScale)));

  if (power >= 0) {
    if (static_cast<int64_t>(digits.size()) + power > 19) return too_large(text);
    digits.append(static_cast<size_t>(power), '0');
    if (!fits_int64(digits)) return too_large(text);
    const int64_t m = std::stoll(digits);
    return ubm::Decimal::integer(negative ? -m : m);
  }
  // power < 0: at most 18 digits after the point, then as many fewer as the mantissa needs. Each
  // try rounds the digits as written, once: rounding a rounded value again can round it wrong
  // (…807|49 is …807, where …8075 would then give …808).
  const int64_t scale = -power;
  for (int64_t drop = std::max<int64_t>(0, scale - ubm::Decimal::kMaxScale); drop <= scale; ++drop) {
    // Rounded away whole: 0 at the digits kept.
    const std::string kept = round_off(digits, static_cast<size_t>(std::min<int64_t>(drop, static_cast<int64_t>(digits.size()) + 1)));
    if (kept.empty()) return ubm::Decimal::make(0, static_cast<uint8_t>(scale - drop));
    if (!fits_int64(kept)) continue;
    const int64_t m = std::stoll(kept);
    return ubm::Decimal::make(negative ? -m : m, static_cast<uint8_t>(scale - drop));
  }
  return too_large(text);
}

}  // namespace slap::usage
