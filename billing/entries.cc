#include "billing/entries.h"

#include "billing/calendar.h"

namespace slap::billing {

ubm::Movement encode_price(const PriceEntry& p, std::string_view market_node) {
  ubm::Movement m;
  m.resource = std::string(kPriceResource);
  m.quantity = {ubm::Decimal::integer(1), p.unit};
  m.price = {p.price, p.currency};
  m.source = ubm::NodeId(p.supplier);
  m.destination = ubm::NodeId(std::string(market_node));
  if (!p.computer.empty()) m.items.emplace_back(p.computer);
  m.start = ubm::TimestampNs(day_start_ns(p.effective_day));
  m.attributes = {{std::string(kBillingKey), "price"}, {"resource", p.resource}, {"correction", p.correction ? "1" : "0"}};
  return m;
}

ubm::Movement encode_rerate(const RerateEntry& r, std::string_view market_node) {
  ubm::Movement m;
  m.resource = std::string(kRerateResource);
  m.quantity = {ubm::Decimal::integer(1), "unit"};
  m.source = ubm::NodeId(r.supplier);
  m.destination = ubm::NodeId(std::string(market_node));
  if (!r.computer.empty()) m.items.emplace_back(r.computer);
  m.start = ubm::TimestampNs(day_start_ns(r.from_day));
  m.stop = ubm::TimestampNs(day_start_ns(r.to_day + 1));
  m.attributes = {{std::string(kBillingKey), "rerate"}, {"reason", r.reason.empty() ? "-" : r.reason}};
  return m;
}

}  // namespace slap::billing

namespace slap::billing {

ubm::Movement encode_interval(const HostingInterval& h) {
  ubm::Movement m;
  m.resource = std::string(kHostingResource);
  // Seconds at scale 9 are exactly the nanoseconds: partition-hours stay exact integers.
  auto seconds = ubm::Decimal::make(h.stop_ns - h.start_ns, 9);
  m.quantity = {seconds ? *seconds : ubm::Decimal{}, "s"};
  m.source = ubm::NodeId(h.supplier);
  m.destination = ubm::NodeId(h.client);
  for (const auto& i : h.items) m.items.emplace_back(i);
  m.start = ubm::TimestampNs(h.start_ns);
  m.stop = ubm::TimestampNs(h.stop_ns);
  m.attributes = {{std::string(kHostingKey), std::string(kHostingInterval)}, {"closed_by", h.state}};
  return m;
}

}  // namespace slap::billing
