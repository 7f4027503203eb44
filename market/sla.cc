#include "market/sla.h"

#include <algorithm>

namespace slap::market {

bool is_category_key(std::string_view key) noexcept {
  return std::binary_search(kCategoryKeys.begin(), kCategoryKeys.end(), key);
}

ubm::Result<Conditions> parse_sla(const StringMap& sla) {
  static_assert(kCategoryKeys.size() == 12);
  Conditions c;
  for (const auto& [key, value] : sla) {
    auto invalid = [&, &k = key](std::string why) {  // clang 14 cannot capture structured bindings
      return ubm::make_error(ubm::Rejection::INVALID_PARAMETER, "sla." + k, std::move(why));
    };
    if (key == "retention_delay" || key.rfind("fw_", 0) == 0) continue;  // for the node
    if (value.empty()) return invalid("an SLA condition needs a value");
    if (key == "computer_guid") {
      c.computer_guid = value;
    } else if (key == "network_guid") {
      c.network_guid = value;
    } else if (key == "instance_guid") {
      c.instance_guid = value;
    } else if (key == "capability") {
      c.capability = value;
    } else if (key == "max_price") {
      auto d = ubm::Decimal::parse(value);
      if (!d || d->is_negative()) return invalid("max_price must be a non-negative decimal");
      c.max_price = *d;
    } else if (key == "project_guid") {
      c.categories.emplace_back("project", value);
    } else if (key != "project" && is_category_key(key)) {
      c.categories.emplace_back(key, value);
    } else {
      return ubm::make_error(ubm::Rejection::UNKNOWN_SLA_KEY, "sla." + key, "unknown SLA key '" + key + "'");
    }
  }
  c.categories = normalized(std::move(c.categories));
  return c;
}

std::string describe(const Conditions& c) {
  std::string s;
  auto add = [&](std::string_view k, std::string_view v) {
    if (!s.empty()) s += ", ";
    s += k;
    s += '=';
    s += v;
  };
  if (!c.computer_guid.empty()) add("computer_guid", c.computer_guid);
  if (!c.network_guid.empty()) add("network_guid", c.network_guid);
  if (!c.instance_guid.empty()) add("instance_guid", c.instance_guid);
  if (!c.capability.empty()) add("capability", c.capability);
  if (c.max_price) add("max_price", c.max_price->to_string());
  for (const auto& [k, v] : c.categories) add(k == "project" ? "project_guid" : k, v);
  return s;
}

}  // namespace slap::market
