#pragma once
// Exact fixed-point decimals: value = mantissa * 10^-scale, mantissa a signed 64-bit integer,
// scale 0..18. Parsed from and printed to text without floating point, so "76.4371428571"
// round-trips digit for digit. Arithmetic is checked: overflow is an error, never a wrap.
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "ubm/error.h"

namespace slap::ubm {

class Decimal {
 public:
  static constexpr uint8_t kMaxScale = 18;

  constexpr Decimal() = default;
  // Precondition: scale <= kMaxScale.
  static Result<Decimal> make(int64_t mantissa, uint8_t scale);
  static constexpr Decimal integer(int64_t v) { return Decimal(v, 0); }

  // Grammar: ["-"] digit+ ["." digit+]. No exponent, no "+", no spaces, no locale.
  static Result<Decimal> parse(std::string_view text);

  int64_t mantissa() const noexcept { return mantissa_; }
  uint8_t scale() const noexcept { return scale_; }
  bool is_negative() const noexcept { return mantissa_ < 0; }
  bool is_zero() const noexcept { return mantissa_ == 0; }

  // Prints with exactly scale() fractional digits: parse(x).to_string() == x for canonical x.
  std::string to_string() const;

  // The same value at a larger scale (e.g. to add two decimals); overflow is an error.
  Result<Decimal> rescaled(uint8_t new_scale) const;
  // Sum; the result has the larger of the two scales.
  static Result<Decimal> add(Decimal a, Decimal b);
  // Product, rounded half away from zero to `scale` digits.
  static Result<Decimal> multiply(Decimal a, Decimal b, uint8_t scale);

  // Numeric comparison: 1.50 == 1.5.
  friend std::strong_ordering operator<=>(Decimal a, Decimal b) noexcept;
  friend bool operator==(Decimal a, Decimal b) noexcept { return (a <=> b) == 0; }
  // Same digits and same scale (what the ledger stores).
  bool identical(Decimal o) const noexcept { return mantissa_ == o.mantissa_ && scale_ == o.scale_; }

 private:
  constexpr Decimal(int64_t m, uint8_t s) : mantissa_(m), scale_(s) {}
  int64_t mantissa_ = 0;
  uint8_t scale_ = 0;
};

}  // namespace slap::ubm
