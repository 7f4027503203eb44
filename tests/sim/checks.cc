#include "checks.h"

#include <set>

#include "../market/replay_check.h"
#include "billing/calendar.h"
#include "billing/query.h"
#include "market/usage_journals.h"
#include "ubm/codec.h"

namespace slap::sim {
namespace {

std::string decimal(const ubm::Decimal& d) { return d.to_string(); }

}  // namespace

void UsageTally::catch_up(const ledger::Ledger& ledger) {
  const ubm::Seq head = ledger.head();
  if (head <= scanned_) return;
  auto s = ledger.scan(ubm::next(scanned_), head, [&](const ledger::EntryView& v) {
    if (!v.entry.getBody().isMovement()) return true;
    auto body = ubm::decode(v.entry);
    require(body.ok(), "seq " + std::to_string(v.seq.value()) + " does not decode");
    const auto& mv = std::get<ubm::Movement>(*body);
    const bool usage = std::any_of(mv.attributes.begin(), mv.attributes.end(),
                                   [](const ubm::Attribute& a) { return a.key == market::kUsageJournalAttribute; });
    if (!usage) return true;
    require(!mv.items.empty(), "a usage movement names no computer");
    auto& total = totals_[{mv.items.back().value(), mv.resource}];
    auto sum = ubm::Decimal::add(total, mv.quantity.amount);
    require(sum.ok(), "usage total overflows");
    total = *sum;
    if (!mv.quantity.amount.is_zero()) {
      const bool split = std::any_of(mv.attributes.begin(), mv.attributes.end(), [](const ubm::Attribute& a) { return a.key == "split"; });
      auto& paid = payers_[{mv.items.back().value(), mv.resource, split ? std::string("(split)") : mv.destination.value()}];
      paid = *ubm::Decimal::add(paid, mv.quantity.amount);
    }
    ++movements_;
    return true;
  });
  require(s.ok(), "scanning the log: " + (s.ok() ? std::string() : s.error().to_string()));
  scanned_ = head;
}

void check_against_reference(SimMaster& master, Reference& ref) {
  const auto& reg = master.market().instances();
  const auto& model = ref.placement;
  require(reg.size() == model.instances.size(),
          "instances: market has " + std::to_string(reg.size()) + ", model " + std::to_string(model.instances.size()));
  std::set<std::pair<std::string, std::string>> taken;
  for (const auto& mi : model.instances) {
    auto i = reg.get(mi.guid);
    require(i.has_value(), mi.guid + " is missing");
    require(i->request.requester == mi.requester && i->request.title == mi.title, mi.guid + " has another requester or title");
    require(i->computer == mi.computer && i->partition == mi.partition,
            mi.guid + " is on '" + i->computer + "/" + i->partition + "', the model says '" + mi.computer + "/" + mi.partition + "'");
    require(i->host == mi.host, mi.guid + " is attached to '" + i->host + "', the model says '" + mi.host + "'");
    require(i->pending == mi.pending, mi.guid + (mi.pending ? " should be pending" : " should not be pending"));
    auto conn = ref.connections.find(mi.guid);
    require(i->connection == (conn == ref.connections.end() ? market::StringMap{} : conn->second), mi.guid + ": connection parameters differ");
    auto rep = ref.reported.find(mi.guid);
    require(i->reported == (rep == ref.reported.end() ? market::ReportedState::none : rep->second), mi.guid + ": reported state differs");
    if (i->request.shared) require(i->computer.empty(), "shared instance " + mi.guid + " holds a partition");
    if (i->computer.empty()) continue;
    require(taken.emplace(i->computer, i->partition).second, "two instances on " + i->computer + "/" + i->partition);
    auto c = master.market().computers().get(i->computer);
    require(c.has_value(), mi.guid + " is on unknown computer " + i->computer);
    require(c->supplies_release(i->request.release), i->computer + " runs " + i->request.release + " without supplying it");
    const auto* p = c->partition(i->partition);
    require(p != nullptr && p->present && p->instance == mi.guid, i->computer + "/" + i->partition + " does not know it hosts " + mi.guid);
  }
  require(reg.pending() == model.queue, "the pending queue differs from the model's (order or members)");
  for (const auto& guid : ref.computers_registered) {
    require(master.market().computers().get(guid).has_value(), "computer " + guid + " is missing");
  }
  const auto& ids = master.identities();
  require(ids.size() == ref.certificates.size(),
          "certificates: registry has " + std::to_string(ids.size()) + ", model " + std::to_string(ref.certificates.size()));
  for (const auto& [serial, cert] : ref.certificates) {
    require(ids.valid(serial, cert.subject) == !cert.revoked, "certificate " + serial + (cert.revoked ? " should be revoked" : " should be valid"));
  }
}

namespace {
// The log's totals against the model's, key by key: `what` names the totals, `name` a key.
// Decimals compare numerically (1.50 == 1.5).
template <class Map, class Name>
void require_same_totals(const Map& log, const Map& model, const std::string& what, Name name) {
  require(log.size() == model.size(),
          what + ": the log has " + std::to_string(log.size()) + " totals, the model " + std::to_string(model.size()));
  for (const auto& [key, total] : model) {
    auto it = log.find(key);
    require(it != log.end() && it->second == total,
            what + " of " + name(key) + ": the log sums " + (it == log.end() ? "nothing" : decimal(it->second)) + ", the model " + decimal(total));
  }
}
}  // namespace

void check_usage(const UsageTally& tally, const Reference& ref) {
  // Both sides hold a total for every (computer, resource) seen, zero or not.
  require_same_totals(tally.totals(), ref.usage, "usage", [](const auto& k) { return k.first + " " + k.second; });
  // And billed to whom the model says: a partition's usage to the client of whoever held it then.
  require_same_totals(tally.payers(), ref.usage_payers, "usage paid",
                      [](const auto& k) { return std::get<0>(k) + " " + std::get<1>(k) + " by " + std::get<2>(k); });
}

void check_billing(SimMaster& master, const UsageTally& tally) {
  // Every day there is, grouped by (computer, resource): the billing projection's quantities, kept
  // in its own fixed point, equal the exact sums of the usage Movements in the log.
  billing::Query q;
  q.from_day = billing::days_from_civil(1970, 1, 1);
  q.to_day = billing::days_from_civil(2200, 12, 31);
  q.group = (1u << static_cast<unsigned>(billing::Dim::computer)) | (1u << static_cast<unsigned>(billing::Dim::resource));
  const billing::Answer a = master.market().billing().query(q);
  std::map<std::pair<std::string, std::string>, billing::Q18> billed;
  for (const auto& row : a.rows) {
    const std::string& computer = row.key[static_cast<size_t>(billing::Dim::computer)];
    const std::string& resource = row.key[static_cast<size_t>(billing::Dim::resource)];
    if (resource.rfind("usage/", 0) != 0) continue;  // hosting intervals are not usage journals
    billed[{computer, resource}] += row.quantity;
  }
  require(billed.size() == tally.totals().size(), "billing has " + std::to_string(billed.size()) + " (computer, resource) usage totals, the log " +
                                                     std::to_string(tally.totals().size()));
  for (const auto& [key, total] : tally.totals()) {
    auto it = billed.find(key);
    require(it != billed.end() && it->second == billing::to_q18(total),
            "billing of " + key.first + " " + key.second + ": " + (it == billed.end() ? std::string("nothing") : billing::q18_to_string(it->second)) +
                ", the log sums " + decimal(total));
  }
}

void check_log_and_replay(SimMaster& master, ledger::ManualClock& clock) {
  const ubm::Seq head = master.ledger().head();
  const auto report = ledger::verify(master.storage());
  require(report.ok, "the chain does not verify at seq " + std::to_string(report.first_bad.value()) + ": " + report.problem);
  require(report.head == head, "verified head " + std::to_string(report.head.value()) + " but the ledger's head is " + std::to_string(head.value()));
  require(report.head_hash == master.ledger().head_hash(), "the stored chain ends on another hash than the ledger's head");
  require(report.entries == head.value(), "sequence numbers are not contiguous from 1");

  market::Market fresh_market(market::MarketOptions{.clock = &clock});
  slapd::IdentityRegistry fresh_ids;
  auto fresh = fresh_market.projections();
  fresh.push_back(&fresh_ids);
  auto replayed = market::testing::replayed_snapshots(master.storage(), fresh);
  require(replayed.ok(), "replay fails: " + (replayed.ok() ? std::string() : replayed.error().to_string()));
  const auto live = market::testing::snapshots(master.projections());
  for (size_t k = 0; k < live.size(); ++k) {
    require(live[k] == (*replayed)[k], "projection " + std::string(fresh[k]->name()) + " differs from a replay from scratch");
  }
}

}  // namespace slap::sim
