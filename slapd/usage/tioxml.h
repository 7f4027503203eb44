#pragma once
// TioXML usage journals (reference/computer_consumption.xsd) parsed with pugixml and checked
// against the schema's structure: the elements each transaction and movement must have, in order.
// Quantities become exact decimals, never read through a float, in the forms both our slapnode and
// slapos.core write (quantity_text.h); each movement gets its unit (below). An error names the
// transaction and movement it concerns.
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
// usage/disk_byte_s → byte_s, usage/net_bytes → net_byte, incident/* → incident), the resources of
// a SlapOS node's consumption journal in the unit slapos.core writes them in (below), else a
// category "unit:<known unit>", else the resource's last segment when it is a known unit
// ("shop/transaction" → transaction). Empty when none applies.
//
// SlapOS (slapos/collect/reporter.py) reports a day's averages, per computer (the movement's
// reference is the computer) and per partition (its user, "slapuserN"):
//   service_module/cpu_load_percent     percent   CPU load (the computer's, or its processes')
//   service_module/memory_used          byte      the computer's used memory
//                                       mebibyte  a partition's processes' resident memory (/2^20)
//   service_module/disk_used            mebibyte  a partition's disk (du -s, KiB, /1024)
//   service_module/zero_emission_ratio  ratio     the last heating test's ratio; -1: never tested
//                                                 (such a line is not a measurement: parse_journal
//                                                 drops it)
std::string unit_of(std::string_view resource, std::string_view reference, const std::vector<std::string>& categories);

// "YYYY-MM-DD HH:MM:SS" (UTC, years 1970..2261: int64 nanoseconds) to nanoseconds since the epoch.
ubm::Result<ubm::TimestampNs> parse_date(std::string_view text);

ubm::Result<std::vector<market::UsageTransaction>> parse_journal(std::string_view xml, const Limits& limits = {});

}  // namespace slap::usage
