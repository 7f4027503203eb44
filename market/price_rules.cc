#include "market/price_rules.h"

#include "billing/calendar.h"
#include "billing/entries.h"
#include "billing/rating.h"
#include "ubm/unit.h"
#include "ubm/validate.h"

namespace slap::market {
namespace {

using ubm::Rejection;

ubm::Error reject(Rejection code, std::string field, std::string detail) {
  return ubm::make_error(code, std::move(field), std::move(detail));
}

// The actor may price (or re-rate) this scope: a party, owning the computer when one is named.
ubm::Status check_scope(const std::string& actor, const std::string& computer, const PriceContext& ctx) {
  auto kind = ctx.node_kind(actor);
  if (!kind || *kind == ubm::NodeKind::network) {
    return reject(Rejection::UNKNOWN_PARTY, "actor", "'" + actor + "' is not a registered person or organisation");
  }
  if (computer.empty()) return {};
  // An unknown computer is refused as someone else's: a price command must not tell anyone which
  // computer guids exist.
  const std::string* owner = ctx.owner_of(computer);
  if (owner == nullptr || *owner != actor) return reject(Rejection::NOT_OWNER, "computer", actor + " does not own " + computer);
  return {};
}

}  // namespace

ubm::Result<ubm::Movement> decide_price(const SetPrice& c, const PriceContext& ctx) {
  if (auto s = check_scope(c.actor, c.computer, ctx); !s) return s.error();
  if (!ubm::is_valid_id(c.resource) || c.resource.find('/') == std::string::npos || c.resource.rfind("billing/", 0) == 0) {
    return reject(Rejection::INVALID_PARAMETER, "resource", "a priced resource looks like usage/cpu_s or hosting/running");
  }
  if (!ubm::is_known_unit(c.unit)) return reject(Rejection::UNKNOWN_UNIT, "unit", "unknown unit '" + c.unit + "'");
  if (c.resource == billing::kHostingResource && !billing::unit_divisor(c.unit, "s")) {
    return reject(Rejection::INVALID_PARAMETER, "unit", "hosting is priced per partition_h, hour, minute, day or s");
  }
  if (c.price.is_negative()) return reject(Rejection::INVALID_PARAMETER, "price", "a price is never negative");
  if (c.price.scale() > billing::kMaxPriceScale) {
    return reject(Rejection::INVALID_PARAMETER, "price", "a price has at most 9 decimals of the minor unit");
  }
  if (!ubm::is_valid_currency(c.currency)) return reject(Rejection::INVALID_CURRENCY, "currency", "'" + c.currency + "' is not a currency code");
  if (c.currency != ctx.currency) return reject(Rejection::INVALID_PARAMETER, "currency", "this market prices in " + ctx.currency);
  const int32_t today = billing::day_of(ctx.now.value());
  if (c.effective_day < 0 || c.effective_day > today + 3660) {
    return reject(Rejection::INVALID_PARAMETER, "effective", "effective date out of range");
  }
  if (!c.correction && c.effective_day <= today) {
    return reject(Rejection::INVALID_PARAMETER, "effective",
                  "a new price takes effect tomorrow at the earliest (" + billing::format_date(today + 1) +
                      "): it never rewrites the past; correct the past with a correction and a re-rating");
  }
  billing::PriceEntry e{c.actor, c.computer, c.resource, c.unit, c.price, c.currency, c.effective_day, c.correction};
  ubm::Movement m = billing::encode_price(e, ctx.market_node);
  if (auto st = ubm::validate_structure(ubm::EntryBody{m}, "price"); !st) return st.error();
  return m;
}

ubm::Result<ubm::Movement> decide_rerate(const Rerate& c, const PriceContext& ctx) {
  if (auto s = check_scope(c.actor, c.computer, ctx); !s) return s.error();
  const int32_t today = billing::day_of(ctx.now.value());
  if (c.from_day < 0 || c.from_day > c.to_day) return reject(Rejection::INVALID_PARAMETER, "from", "from is after to");
  if (c.to_day > today) return reject(Rejection::INVALID_PARAMETER, "to", "only the past and today can be re-rated");
  if (c.to_day - c.from_day >= kMaxRerateDays) return reject(Rejection::INVALID_PARAMETER, "to", "at most 366 days per re-rating");
  if (c.reason.size() > 4096) return reject(Rejection::INVALID_PARAMETER, "reason", "too long");
  ubm::Movement m = billing::encode_rerate({c.actor, c.computer, c.from_day, c.to_day, c.reason}, ctx.market_node);
  if (auto st = ubm::validate_structure(ubm::EntryBody{m}, "rerate"); !st) return st.error();
  return m;
}

}  // namespace slap::market
