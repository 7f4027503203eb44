#pragma once
// SLA conditions as SlapOS understands them: which keys exist, which are matched against a
// computer, which are only passed to the node. Parsing is pure; matching lives in matcher.h.
//
//   matched:      computer_guid, network_guid, instance_guid (shared: the host), project_guid,
//                 capability (exact; computers with a capability serve only requests naming it),
//                 the category keys below (exact match on the computer's category), max_price
//                 (decimal, minor units of the market currency per partition-hour, inclusive)
//   passed on:    retention_delay, fw_* (firewall)
//   anything else is refused with unknown_sla_key naming the key.
#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "market/types.h"
#include "ubm/decimal.h"
#include "ubm/error.h"

namespace slap::market {

// The category keys a computer may declare and a request may ask for. "project" is the category
// that `project_guid` matches.
inline constexpr std::array<std::string_view, 12> kCategoryKeys = {
    "cpu_core",     "cpu_frequency",    "cpu_type",          "group",          "local_area_network_type", "memory_size",
    "memory_type",  "project",          "region",            "storage_capacity", "storage_interface",     "storage_redundancy"};
bool is_category_key(std::string_view key) noexcept;

struct Conditions {
  std::string computer_guid;
  std::string network_guid;
  std::string instance_guid;
  std::string capability;
  std::optional<ubm::Decimal> max_price;
  StringMap categories;  // category key -> required value, sorted
  bool empty() const noexcept {
    return computer_guid.empty() && network_guid.empty() && instance_guid.empty() && capability.empty() &&
           !max_price && categories.empty();
  }
};

// Refuses unknown keys (unknown_sla_key, field "sla.<key>") and ill-formed values
// (invalid_parameter). Passed-on keys are accepted and ignored here.
ubm::Result<Conditions> parse_sla(const StringMap& sla);

// "region=fr, max_price=5" — for pending reasons.
std::string describe(const Conditions& c);

}  // namespace slap::market
