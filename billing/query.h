#pragma once
// What analysts ask of the billing projection, and what it answers. Plain values.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "billing/rating.h"

namespace slap::billing {

enum class Dim : uint8_t { client = 0, supplier = 1, resource = 2, computer = 3, instance = 4, day = 5, month = 6 };
inline constexpr size_t kDims = 7;
inline constexpr size_t kFilterDims = 5;  // client .. instance
std::string_view to_string(Dim d) noexcept;
std::optional<Dim> parse_dim(std::string_view s) noexcept;

struct Query {
  int32_t from_day = 0;  // inclusive, UTC day numbers (calendar.h)
  int32_t to_day = 0;    // inclusive
  uint32_t group = 0;    // bit (1 << Dim) per grouped dimension; 0 = one total row
  std::array<std::string, kFilterDims> filter;  // exact match per dimension; "" = any
  bool groups(Dim d) const noexcept { return (group >> static_cast<unsigned>(d)) & 1u; }
};

struct Row {
  std::array<std::string, kDims> key;  // filled for grouped dimensions only
  std::string unit;        // the quantity's unit; "" when the row mixes units (quantity then meaningless)
  Q18 quantity = 0;        // exact sum of the movements' quantities (0 when quantity_out_of_range)
  bool quantity_out_of_range = false;  // that sum does not fit (above ~1.7e20 units): not given
  int64_t amount = 0;      // minor units: the sum of its day lines' amounts
  uint64_t movements = 0;  // pieces of movements (a hosting interval counts once per day it spans)
  uint64_t unrated = 0;    // of which in lines without a price
  uint64_t overflowed = 0; // day lines whose amount does not fit in int64 (counted 0 in `amount`)
  // Period-over-period (filled by compare()).
  int64_t previous_amount = 0;
  Q18 previous_quantity = 0;
};

struct Answer {
  std::vector<Row> rows;   // sorted by key
  int64_t amount = 0;      // sum of rows
  uint64_t movements = 0;
  uint64_t unrated = 0;
  uint64_t overflowed = 0;
  // A row's amount or the total does not fit in int64 minor units: the amounts are not given (0),
  // and the answer must be refused rather than shown wrapped.
  bool out_of_range = false;
  bool quantity_out_of_range = false;  // some row's quantity is not given (Row::quantity_out_of_range)
  int64_t previous_amount = 0;
  std::string currency;
  int32_t from_day = 0, to_day = 0;
};

// The window just before q's, of the same length.
Query previous_window(const Query& q);
// Joins `previous` into `current` by key (rows only in `previous` are added with zero current).
void compare(Answer& current, const Answer& previous);

// Windows as analysts write them: "today", "7d" (the last 7 days, today included), "month" (this
// calendar month up to today), "YYYY-MM" (a whole month), or from/to dates. nullopt: malformed.
struct Window {
  int32_t from_day, to_day;
};
std::optional<Window> parse_window(std::string_view name, int32_t today) noexcept;

}  // namespace slap::billing
