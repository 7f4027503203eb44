#pragma once
// The rules of the billing commands (SetPrice, Rerate), apart from the market's other rules so
// they read on their own. Each turns a command into the one ledger Movement that records it
// (billing/entries.h), or a rejection; nothing is written for a rejection.
//
// SetPrice: the actor is a registered person or organisation; a computer price needs the actor to
// own the computer; the resource is an id with a '/' (not "billing/..."); the unit is known (and
// converts from seconds for "hosting/running"); the price is >= 0 with at most 9 decimals, in the
// market's currency; it takes effect at the earliest the next UTC day (a new price never rewrites
// the past), unless it is a correction, which a re-rating then applies to the lines already rated.
// Rerate: the same actor and computer rules; from <= to <= today, at most 366 days.
#include <functional>
#include <optional>
#include <string>

#include "market/commands.h"
#include "ubm/error.h"

namespace slap::market {

struct PriceContext {
  ubm::TimestampNs now;
  std::string currency;
  std::string market_node;
  std::function<std::optional<ubm::NodeKind>(const std::string&)> node_kind;
  std::function<const std::string*(const std::string&)> owner_of;  // nullptr: unknown computer
};

inline constexpr int32_t kMaxRerateDays = 366;

ubm::Result<ubm::Movement> decide_price(const SetPrice& c, const PriceContext& ctx);
ubm::Result<ubm::Movement> decide_rerate(const Rerate& c, const PriceContext& ctx);

}  // namespace slap::market
