#include "ubm/decimal.h"

#include <limits>

namespace slap::ubm {
namespace {

constexpr __int128 pow10(unsigned n) {
  __int128 r = 1;
  for (unsigned i = 0; i < n; ++i) r *= 10;
  return r;
}

bool fits(__int128 v) {
  return v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max();
}

// Built with append(): GCC 12 reports a false -Wrestrict on chains of operator+ here.
std::string quoted(std::string_view text, std::string_view tail) {
  std::string s;
  s.reserve(80 + tail.size());
  s.append("'").append(text.substr(0, 64)).append("'").append(tail);
  return s;
}

Error malformed(std::string_view text, std::string_view why) {
  return make_error(Rejection::MALFORMED_DECIMAL, "", quoted(text, std::string(" is not an exact decimal: ").append(why)));
}

Error too_large(std::string_view text) { return make_error(Rejection::DECIMAL_OVERFLOW, "", quoted(text, " is too large")); }

}  // namespace

Result<Decimal> Decimal::make(int64_t mantissa, uint8_t scale) {
  if (scale > kMaxScale) {
    return make_error(Rejection::MALFORMED_DECIMAL, "", "scale " + std::to_string(scale) + " exceeds 18");
  }
  return Decimal(mantissa, scale);
}

Result<Decimal> Decimal::parse(std::string_view text) {
  if (text.empty()) return malformed(text, "empty");
  size_t i = 0;
  const bool negative = text[0] == '-';
  if (negative) ++i;
  __int128 m = 0;
  size_t int_digits = 0;
  uint8_t scale = 0;
  for (; i < text.size() && text[i] != '.'; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return malformed(text, "unexpected character");
    m = m * 10 + (c - '0');
    if (m > pow10(19)) return too_large(text);
    ++int_digits;
  }
  if (int_digits == 0) return malformed(text, "no digit before the point");
  if (i < text.size()) {  // text[i] == '.'
    ++i;
    if (i == text.size()) return malformed(text, "no digit after the point");
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (c < '0' || c > '9') return malformed(text, "unexpected character");
      if (scale == kMaxScale) return malformed(text, "more than 18 digits after the point");
      m = m * 10 + (c - '0');
      ++scale;
      if (m > pow10(19)) return too_large(text);
    }
  }
  if (negative) m = -m;
  if (!fits(m)) return too_large(text);
  return Decimal(static_cast<int64_t>(m), scale);
}

std::string Decimal::to_string() const {
  // Work on the magnitude as unsigned so INT64_MIN prints correctly.
  const bool negative = mantissa_ < 0;
  uint64_t mag = negative ? (~static_cast<uint64_t>(mantissa_) + 1) : static_cast<uint64_t>(mantissa_);
  std::string digits = std::to_string(mag);
  if (scale_ > 0) {
    if (digits.size() <= scale_) digits.insert(0, scale_ + 1 - digits.size(), '0');
    digits.insert(digits.size() - scale_, 1, '.');
  }
  if (negative) digits.insert(0, 1, '-');
  return digits;
}

Result<Decimal> Decimal::rescaled(uint8_t new_scale) const {
  if (new_scale < scale_ || new_scale > kMaxScale) {
    return make_error(Rejection::MALFORMED_DECIMAL, "", "cannot rescale from " + std::to_string(scale_) + " to " + std::to_string(new_scale));
  }
  const __int128 m = static_cast<__int128>(mantissa_) * pow10(new_scale - scale_);
  if (!fits(m)) return make_error(Rejection::DECIMAL_OVERFLOW, "", to_string() + " overflows at scale " + std::to_string(new_scale));
  return Decimal(static_cast<int64_t>(m), new_scale);
}

Result<Decimal> Decimal::add(Decimal a, Decimal b) {
  const uint8_t s = a.scale_ > b.scale_ ? a.scale_ : b.scale_;
  const __int128 m = static_cast<__int128>(a.mantissa_) * pow10(s - a.scale_) +
                     static_cast<__int128>(b.mantissa_) * pow10(s - b.scale_);
  if (!fits(m)) return make_error(Rejection::DECIMAL_OVERFLOW, "", a.to_string() + " + " + b.to_string() + " overflows");
  return Decimal(static_cast<int64_t>(m), s);
}

Result<Decimal> Decimal::multiply(Decimal a, Decimal b, uint8_t scale) {
  if (scale > kMaxScale) return make_error(Rejection::MALFORMED_DECIMAL, "", "scale exceeds 18");
  // a*b has scale a.s + b.s (<= 36); the exact product of two int64 fits in int128.
  const __int128 p = static_cast<__int128>(a.mantissa_) * b.mantissa_;
  const int from = a.scale_ + b.scale_;
  __int128 r;
  if (from >= scale) {
    const __int128 d = pow10(static_cast<unsigned>(from - scale));
    r = p / d;
    const __int128 rem = p % d;
    if (rem * 2 >= d) ++r;
    else if (rem * 2 <= -d) --r;
  } else {
    const __int128 f = pow10(static_cast<unsigned>(scale - from));
    if (p != 0 && (p > std::numeric_limits<__int128>::max() / f || p < std::numeric_limits<__int128>::min() / f)) {
      return make_error(Rejection::DECIMAL_OVERFLOW, "", a.to_string() + " * " + b.to_string() + " overflows");
    }
    r = p * f;
  }
  if (!fits(r)) return make_error(Rejection::DECIMAL_OVERFLOW, "", a.to_string() + " * " + b.to_string() + " overflows");
  return Decimal(static_cast<int64_t>(r), scale);
}

std::strong_ordering operator<=>(Decimal a, Decimal b) noexcept {
  const uint8_t s = a.scale_ > b.scale_ ? a.scale_ : b.scale_;
  const __int128 x = static_cast<__int128>(a.mantissa_) * pow10(s - a.scale_);
  const __int128 y = static_cast<__int128>(b.mantissa_) * pow10(s - b.scale_);
  return x <=> y;
}

}  // namespace slap::ubm
