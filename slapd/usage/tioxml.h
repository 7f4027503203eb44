#pragma once
// TioXML usage journals (reference/computer_consumption.xsd) parsed with pugixml and checked
// against the schema's structure: the elements each transaction and movement must have, in order.
// Quantities become exact decimals (never floats); each movement gets its unit (below). An error
// names the transaction and movement it concerns.
#include <string>
#include <string_view>
#include <vector>

#include "market/commands.h"
#include "ubm/error.h"

namespace slap::usage {

struct Limits {
  size_t max_transactions = 10'000;
  size_t max_movements = 100'000;  // in the whole journal
};

// Unit of a resource: built-in usage resources (usage/cpu_s → cpu_s, usage/ram_byte_s and
// usage/disk_byte_s → byte_s, usage/net_bytes → net_byte, incident/* → incident), else a
// category "unit:<known unit>", else the resource's last segment when it is a known unit
// ("shop/transaction" → transaction). Empty when none applies.
std::string unit_of(std::string_view resource, const std::vector<std::string>& categories);

// "YYYY-MM-DD HH:MM:SS" (UTC, years 1970..2261: int64 nanoseconds) to nanoseconds since the epoch.
ubm::Result<ubm::TimestampNs> parse_date(std::string_view text);

ubm::Result<std::vector<market::UsageTransaction>> parse_journal(std::string_view xml, const Limits& limits = {});

}  // namespace slap::usage
