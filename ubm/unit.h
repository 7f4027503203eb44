#pragma once
// Units of quantity the ledger accepts, and currencies. A quantity always carries its unit; a
// price always carries its currency.
#include <span>
#include <string_view>

namespace slap::ubm {

// The known units, sorted. Usage resources map to these (DESIGN.md §3); custom resources reported
// by instances use "unit", "transaction" or "request".
std::span<const std::string_view> known_units() noexcept;
bool is_known_unit(std::string_view unit) noexcept;
// Units whose quantities may be negative (corrections); all others must be >= 0.
bool unit_allows_negative(std::string_view unit) noexcept;

// ISO 4217 shape: exactly three upper-case ASCII letters.
bool is_valid_currency(std::string_view code) noexcept;

}  // namespace slap::ubm
