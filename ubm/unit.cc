#include "ubm/unit.h"

#include <algorithm>
#include <array>

#include "ubm/ids.h"

namespace slap::ubm {
namespace {

// Keep sorted: lookups use binary search (checked by a test).
constexpr std::array<std::string_view, 19> kUnits = {
    "byte",         // disk or memory size at an instant
    "byte_s",       // byte-seconds (memory or disk integrated over time)
    "correction",   // signed adjustment in the unit of the movement it corrects
    "cpu_s",        // CPU seconds
    "day",
    "hour",
    "incident",     // a failed promise
    "instance",
    "mebibyte",     // 2^20 bytes (SlapOS reports a partition's memory and disk in it)
    "minute",
    "net_byte",     // bytes sent or received
    "partition",
    "partition_h",  // partition-hours
    "percent",      // a share in hundredths, e.g. an average CPU load over the period
    "ratio",        // a share as a fraction of 1
    "request",
    "s",            // seconds of wall time
    "transaction",
    "unit",         // a generic countable
};

}  // namespace

std::span<const std::string_view> known_units() noexcept { return kUnits; }

bool is_known_unit(std::string_view unit) noexcept {
  return std::binary_search(kUnits.begin(), kUnits.end(), unit);
}

bool unit_allows_negative(std::string_view unit) noexcept { return unit == "correction"; }

bool is_valid_currency(std::string_view code) noexcept {
  return code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool is_valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace slap::ubm
