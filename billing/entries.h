#pragma once
// The ledger Movements billing reads and writes, besides usage (market/usage_journals.h):
//
//  - a price list entry: resource "billing/price", supplier -> market, items {computer} for a
//    computer's price (none for every computer of the supplier), quantity 1 of the priced unit,
//    price = the unit price (fixed-point minor units of the market currency), start = the first
//    UTC day it is effective; attributes billing=price, resource=<priced resource>, correction=0|1.
//  - a re-rating entry: resource "billing/rerate", supplier -> market, items {computer} or none,
//    start = first day, stop = the day after the last; attributes billing=rerate, reason=<text>.
//  - a closed hosting interval (written by the market when a node reports an instance stopped or
//    destroyed after it had reported it started): resource "hosting/running", supplier -> client,
//    items {instance, partition, computer, release, subscription}, start/stop = the interval,
//    quantity = its length in seconds (scale 9: exact nanoseconds), unit "s"; first attribute
//    hosting=interval.
// The first attribute names the kind, so a projection recognises an entry without decoding it all.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ubm/model.h"

namespace slap::billing {

inline constexpr std::string_view kPriceResource = "billing/price";
inline constexpr std::string_view kRerateResource = "billing/rerate";
inline constexpr std::string_view kHostingResource = "hosting/running";
inline constexpr std::string_view kBillingKey = "billing";
inline constexpr std::string_view kHostingKey = "hosting";
inline constexpr std::string_view kHostingInterval = "interval";
inline constexpr std::string_view kHostingPriceUnit = "partition_h";

struct PriceEntry {
  std::string supplier;
  std::string computer;  // "" = every computer of the supplier
  std::string resource;  // "usage/cpu_s", "hosting/running", ...
  std::string unit;      // the unit the price is per (a known unit)
  ubm::Decimal price;    // minor units per unit, scale <= 9
  std::string currency;
  int32_t effective_day = 0;
  bool correction = false;  // may be effective in the past: only a re-rating applies it to lines already rated
};

struct RerateEntry {
  std::string supplier;
  std::string computer;  // "" = every computer of the supplier
  int32_t from_day = 0;  // inclusive
  int32_t to_day = 0;    // inclusive
  std::string reason;
};

ubm::Movement encode_price(const PriceEntry& p, std::string_view market_node);
ubm::Movement encode_rerate(const RerateEntry& r, std::string_view market_node);

}  // namespace slap::billing

namespace slap::billing {

// A closed hosting interval (see the top of this file).
struct HostingInterval {
  std::string supplier;
  std::string client;
  std::vector<std::string> items;  // instance, partition, computer, release, subscription
  int64_t start_ns = 0, stop_ns = 0;
  std::string state;  // what closed it: "stopped" | "destroyed"
};
ubm::Movement encode_interval(const HostingInterval& h);

}  // namespace slap::billing
