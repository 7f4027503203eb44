#include "billing/calendar.h"

#include <cstdio>

namespace slap::billing {

int32_t day_of(int64_t ns) noexcept {
  int64_t d = ns / kNsPerDay;
  if (ns % kNsPerDay < 0) --d;
  return static_cast<int32_t>(d);
}

int32_t days_from_civil(int32_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const int32_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int32_t>(doe) - 719468;
}

Civil civil_from_days(int32_t z) noexcept {
  z += 719468;
  const int32_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int32_t y = static_cast<int32_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return Civil{y + (m <= 2), m, d};
}

int32_t month_of_day(int32_t day) noexcept {
  const Civil c = civil_from_days(day);
  return c.year * 12 + static_cast<int32_t>(c.month) - 1;
}

int32_t first_day_of_month(int32_t month) noexcept {
  return days_from_civil(month / 12, static_cast<unsigned>(month % 12) + 1, 1);
}

namespace {
bool digits(std::string_view s, int& out) {
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return !s.empty();
}
}  // namespace

std::optional<int32_t> parse_date(std::string_view t) noexcept {
  int y = 0, m = 0, d = 0;
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return std::nullopt;
  if (!digits(t.substr(0, 4), y) || !digits(t.substr(5, 2), m) || !digits(t.substr(8, 2), d)) return std::nullopt;
  if (y < 1970 || y > 2261 || m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
  const int32_t day = days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  const Civil back = civil_from_days(day);  // refuses 2026-02-30
  if (back.month != static_cast<unsigned>(m) || back.day != static_cast<unsigned>(d)) return std::nullopt;
  return day;
}

std::string format_date(int32_t day) {
  const Civil c = civil_from_days(day);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", c.year, c.month, c.day);
  return buf;
}

std::optional<int32_t> parse_month(std::string_view t) noexcept {
  int y = 0, m = 0;
  if (t.size() != 7 || t[4] != '-') return std::nullopt;
  if (!digits(t.substr(0, 4), y) || !digits(t.substr(5, 2), m)) return std::nullopt;
  if (y < 1970 || y > 2261 || m < 1 || m > 12) return std::nullopt;
  return y * 12 + m - 1;
}

std::string format_month(int32_t month) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d", month / 12, month % 12 + 1);
  return buf;
}

}  // namespace slap::billing
