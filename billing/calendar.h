#pragma once
// UTC calendar arithmetic for billing: days since the epoch, months, "YYYY-MM-DD" dates. Integer
// only (Howard Hinnant's civil-date algorithms): no time zone database, no locale, no floating point.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace slap::billing {

inline constexpr int64_t kNsPerDay = 86'400'000'000'000;

// Day number (days since 1970-01-01, UTC) of an instant in nanoseconds; floors for negatives.
int32_t day_of(int64_t ns) noexcept;
inline int64_t day_start_ns(int32_t day) noexcept { return int64_t{day} * kNsPerDay; }

int32_t days_from_civil(int32_t y, unsigned m, unsigned d) noexcept;
struct Civil {
  int32_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};
Civil civil_from_days(int32_t day) noexcept;

// Month number: year * 12 + (month - 1).
int32_t month_of_day(int32_t day) noexcept;
int32_t first_day_of_month(int32_t month) noexcept;

// "2026-11-25"; nullopt unless exactly YYYY-MM-DD with a real date between 1970 and 2261.
std::optional<int32_t> parse_date(std::string_view text) noexcept;
std::string format_date(int32_t day);
// "2026-11"
std::optional<int32_t> parse_month(std::string_view text) noexcept;
std::string format_month(int32_t month);

}  // namespace slap::billing
