#include "workload.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>

#include "market/market.h"

namespace slap::sim {
namespace {

using market::RequestedState;
using market::StringMap;
using market::testing::Model;

const std::vector<std::string> kReleases = {"https://example.org/kvm.cfg", "https://example.org/erp5.cfg"};
const std::vector<std::string> kTypes = {"default", "frontend"};
const std::vector<std::string> kRegions = {"fr", "de", "jp"};
constexpr int kPartitions = 5;  // a computer declares slappart0 .. slappart4 at most
constexpr int64_t kHourNs = 3'600'000'000'000;

std::string partition_ref(int k) { return "slappart" + std::to_string(k); }
int partition_index(const std::string& ref) { return std::stoi(ref.substr(8)); }

// The party an instance bills: its requester, or its root requester's for a child instance.
std::string client_of(Model& m, const Model::Instance& i) {
  const Model::Instance* at = &i;
  while (const Model::Instance* parent = m.find(at->requester)) at = parent;
  return at->requester;
}

}  // namespace

std::vector<market::Command> Workload::genesis(Reference& ref) {
  std::vector<market::Command> out;
  for (const char* p : {"owner", "alice", "bob", "carol"}) {
    out.push_back(market::RegisterParty{p, ubm::NodeKind::person, p});
    ref.parties.push_back(p);
  }
  return out;
}

Planned Workload::next(Reference& ref) {
  // Whatever gets a partition now reports from scratch (the registry resets its reported state).
  std::map<std::string, std::string> where;
  for (const auto& i : ref.placement.instances) where[i.guid] = i.computer + "/" + i.partition;
  Planned p = decide(ref);
  if (p.accepted) {
    for (const auto& i : ref.placement.instances) {
      auto it = where.find(i.guid);
      if (!i.computer.empty() && (it == where.end() || it->second != i.computer + "/" + i.partition)) ref.reported.erase(i.guid);
    }
  }
  return p;
}

Planned Workload::decide(Reference& ref) {
  ref.placement.now = clock_.now().value();  // the market decides at this time (give or take a few ns)
  const int pick = dice(100);
  if (pick < 3) return party(ref);
  if (pick < 11) return register_computer(ref);
  if (pick < 21) return format(ref);
  if (pick < 29) return supply(ref);
  if (pick < 63) return request(ref);
  if (pick < 72) return report_state(ref);
  if (pick < 78) return report_connection(ref);
  if (pick < 90) return report_usage(ref);
  if (pick < 95) return identity(ref);
  if (pick < 97) return rename(ref);
  return bang(ref);
}

Planned Workload::party(Reference& ref) {
  if (dice(3) == 0) {
    const std::string id = any(ref.parties);
    return {market::RegisterParty{id, ubm::NodeKind::person, id}, false, "register a party twice"};
  }
  const std::string id = "person-" + std::to_string(ref.parties.size());
  ref.parties.push_back(id);
  return {market::RegisterParty{id, ubm::NodeKind::person, id}, true, "register a party"};
}

Planned Workload::register_computer(Reference& ref) {
  auto& m = ref.placement;
  const std::string guid = some_computer();
  auto it = m.computers.find(guid);
  const bool open = dice(4) != 0;  // computers vanish (scope close) and come back
  const int64_t price = it != m.computers.end() ? it->second.price : dice(4);
  const std::string region = it != m.computers.end() ? it->second.region : any(kRegions);
  const bool changed = it == m.computers.end() || it->second.open != open;
  auto& c = m.computers[guid];
  c.owner = "owner";
  c.price = price;
  c.region = region;
  c.open = open;
  ref.computers_registered.insert(guid);
  if (changed) m.serve();
  return {market::RegisterComputer{guid, "owner", "net-1", open ? market::Scope::open : market::Scope::close, price, "EUR", "",
                                   {{"region", region}}},
          true, "register a computer"};
}

Planned Workload::format(Reference& ref) {
  auto& m = ref.placement;
  const std::string guid = some_computer();
  const int n = dice(kPartitions + 1);
  market::DeclareCapacity d{guid, {}};
  for (int k = 0; k < n; ++k) {
    d.partitions.push_back(market::PartitionSpec{partition_ref(k), {"10.0.0." + std::to_string(k + 1)}, {}, ""});
  }
  auto it = m.computers.find(guid);
  if (it == m.computers.end()) return {d, false, "format an unknown computer"};
  auto& c = it->second;
  bool changed = false;
  for (const auto& ref_k : c.partitions) {
    if (partition_index(ref_k) >= n && c.present.count(ref_k)) {
      if (c.holder.count(ref_k)) return {d, false, "format away a partition in use"};
      changed = true;
    }
  }
  for (int k = 0; k < n; ++k) {
    const std::string r = partition_ref(k);
    if (std::find(c.partitions.begin(), c.partitions.end(), r) == c.partitions.end()) c.partitions.push_back(r);
    if (c.present.insert(r).second) changed = true;
  }
  for (const auto& r : c.partitions) {
    if (partition_index(r) >= n) c.present.erase(r);
  }
  if (changed) m.serve();
  return {d, true, "format"};
}

Planned Workload::supply(Reference& ref) {
  auto& m = ref.placement;
  const std::string guid = some_computer();
  const std::string release = any(kReleases);
  const bool available = dice(4) != 0;  // unsupply: the owner withdraws a release
  market::Supply s{"owner", guid, release, available};
  auto it = m.computers.find(guid);
  if (it == m.computers.end()) return {s, false, "supply an unknown computer"};
  auto& c = it->second;
  if (!available) {
    for (const auto& [r, g] : c.holder) {
      if (m.find(g)->release == release) return {s, false, "unsupply a release in use"};
    }
  }
  const bool changed = available ? c.supplied.insert(release).second : c.supplied.erase(release) > 0;
  if (available && changed) m.serve();
  return {s, true, "supply"};
}

Planned Workload::request(Reference& ref) {
  auto& m = ref.placement;
  std::string requester;
  std::string title = "t" + std::to_string(dice(10));
  // Now and then an instance requests a child (only top-level instances do, to bound the trees).
  std::vector<const Model::Instance*> roots;
  for (const auto& i : m.instances) {
    if (ref.is_party(i.requester)) roots.push_back(&i);
  }
  if (!roots.empty() && dice(6) == 0) {
    requester = any(roots)->guid;
    title = "c" + std::to_string(dice(2));
  } else {
    requester = any(ref.parties);
  }
  Model::Instance* existing = m.find(requester, title);
  const Model::Instance* parent = m.find(requester);
  const bool shared = existing ? existing->shared : dice(5) == 0;
  const std::string release = existing && dice(3) != 0 ? existing->release : any(kReleases);
  const std::string type = existing && dice(3) != 0 ? existing->type : any(kTypes);
  StringMap sla;
  switch (dice(5)) {
    case 0: sla.emplace_back("region", any(kRegions)); break;
    case 1: sla.emplace_back("max_price", std::to_string(dice(4))); break;
    case 2: sla.emplace_back("computer_guid", some_computer()); break;
    default: break;
  }
  if (existing && dice(2) == 0) sla = existing->sla;
  const RequestedState state = dice(4) == 0 ? RequestedState::destroyed : RequestedState::started;
  market::RequestInstance r{requester, title, release, type, {}, sla, shared, state};
  if (parent != nullptr && parent->state == RequestedState::destroyed && !(existing != nullptr && state == RequestedState::destroyed)) {
    return {r, false, "a destroyed instance requests a child"};
  }
  if (existing == nullptr) {
    if (state == RequestedState::destroyed) return {r, false, "destroy an unknown instance"};
    m.instances.push_back(Model::Instance{"SOFTINST-" + std::to_string(m.instances.size() + 1), requester, title, release, type,
                                          market::normalized(sla), shared, state, {}, {}, {}, false, 0});
    m.place_or_queue(m.instances.back());
    m.serve();
    return {r, true, "request a new instance"};
  }
  Model::Instance& i = *existing;
  if (state == RequestedState::destroyed) {  // the instance as it is, whatever release it names
    if (i.state != RequestedState::destroyed) m.destroy(i);
    return {r, true, "destroy an instance and its children"};
  }
  if (i.release == release && i.type == type && i.sla == market::normalized(sla) && i.state == state) return {r, true, "request again"};
  if (i.release != release && !i.computer.empty() && !m.computers.at(i.computer).supplied.count(release)) {
    return {r, false, "change to a release not supplied"};
  }
  m.change(i, release, type, market::normalized(sla), state);
  return {r, true, "change a request"};
}

Planned Workload::report_state(Reference& ref) {
  auto& m = ref.placement;
  std::vector<Model::Instance*> placed;
  for (auto& i : m.instances) {
    if (!i.computer.empty()) placed.push_back(&i);
  }
  if (placed.empty()) return request(ref);
  Model::Instance& i = *any(placed);
  switch (dice(4)) {
    case 0:
      ref.reported[i.guid] = market::ReportedState::started;
      return {market::ReportState{i.computer, i.guid, market::ReportedState::started}, true, "report started"};
    case 1:
      ref.reported[i.guid] = market::ReportedState::stopped;
      return {market::ReportState{i.computer, i.guid, market::ReportedState::stopped}, true, "report stopped"};
    default: break;
  }
  market::ReportState destroyed{i.computer, i.guid, market::ReportedState::destroyed};
  if (i.state != RequestedState::destroyed) return {destroyed, false, "report destroyed before asked"};
  ref.reported[i.guid] = market::ReportedState::destroyed;
  m.free(i);
  m.serve();
  return {destroyed, true, "report destroyed"};
}

Planned Workload::report_connection(Reference& ref) {
  auto& m = ref.placement;
  if (m.instances.empty()) return request(ref);
  const Model::Instance& i = any(m.instances);
  const std::string at = ref.location(i);
  const std::string computer = at.empty() || dice(5) == 0 ? some_computer() : at;
  market::ReportConnection c{computer, i.guid, {{"url", "http://10.0.0.1:" + std::to_string(8000 + dice(3))}}};
  if (at.empty()) return {c, false, "connection of an unplaced instance"};
  if (computer != at) return {c, false, "connection from another computer"};
  ref.connections[i.guid] = market::normalized(c.parameters);
  return {c, true, "report connection"};
}

Planned Workload::report_usage(Reference& ref) {
  auto& m = ref.placement;
  const std::string computer = some_computer();
  auto it = m.computers.find(computer);
  // Whether somebody held a partition of this computer during part of the period (what a usage
  // line may name): the market bills them, split by time held.
  using Tenure = Model::Computer::Tenure;
  auto end_of = [](const Tenure& t) { return t.to == Model::Computer::kHeld ? std::numeric_limits<int64_t>::max() : t.to; };
  auto held_during = [&](const std::string& partition, const market::UsageTransaction& tx) -> bool {
    if (it == m.computers.end() || !it->second.tenures.count(partition)) return false;
    for (const Tenure& t : it->second.tenures.at(partition)) {
      if (std::min(tx.stop.value(), end_of(t)) > std::max(tx.start.value(), t.from)) return true;
    }
    return false;
  };
  // An instance named by guid: on this computer now, or freed from it after part of the period.
  auto freed_from_here = [&](const std::string& guid, const market::UsageTransaction& tx) -> bool {
    if (it == m.computers.end()) return false;
    for (const auto& [r, list] : it->second.tenures) {
      for (const Tenure& t : list) {
        if (t.instance == guid && t.to != Model::Computer::kHeld && t.from <= tx.stop.value() && tx.start.value() <= t.to) return true;
      }
    }
    return false;
  };
  // Who a line is billed to: the client of the one instance that held the partition then (of the
  // instance it names; the market node for the computer's own usage), "(split)" when several did.
  auto payer_of = [&](const std::string& line_ref, const market::UsageTransaction& tx) -> std::string {
    auto by_partition = [&](const std::string& partition) -> std::string {
      std::vector<std::string> held;
      for (const Tenure& t : it->second.tenures.at(partition)) {
        if (std::min(tx.stop.value(), end_of(t)) > std::max(tx.start.value(), t.from)) held.push_back(t.instance);
      }
      return held.size() == 1 ? m.client(*m.find(held[0])) : std::string("(split)");
    };
    if (line_ref.rfind("slapuser", 0) == 0) return by_partition("slappart" + line_ref.substr(8));
    if (line_ref.rfind("slappart", 0) == 0) return by_partition(line_ref);
    if (const Model::Instance* i = m.find(line_ref)) return m.client(*i);
    return tx.reference.rfind("slappart", 0) == 0 ? by_partition(tx.reference) : std::string(market::kMarketNode);
  };
  auto acceptable = [&](const std::string& line_ref, const market::UsageTransaction& tx) -> bool {
    if (line_ref.rfind("slapuser", 0) == 0) return held_during("slappart" + line_ref.substr(8), tx);
    if (line_ref.rfind("slappart", 0) == 0) return held_during(line_ref, tx);
    if (const Model::Instance* i = m.find(line_ref)) return ref.location(*i) == computer || freed_from_here(line_ref, tx);
    if (line_ref.empty() || line_ref == computer) return tx.reference.rfind("slappart", 0) != 0 || held_during(tx.reference, tx);
    return false;
  };
  // Hour-long periods that have ended, on a grid offset half a second from the clock's own seconds
  // (every decision falls on a whole second of it, give or take a few ns, never on a period's
  // bound): few periods, so repeats are common. (Periods ending past the master's clock, taken as
  // ending by it or refused for now: tests/billing/usage_tenancy_test.cc.)
  const int64_t now = clock_.now().value();
  const int64_t frac = now % 1'000'000'000;
  const int64_t hour = now - (now - frac) % kHourNs - 500'000'000;
  market::ReportUsage u{computer, {}};
  const int transactions = 1 + dice(2);
  for (int t = 0; t < transactions; ++t) {
    market::UsageTransaction tx;
    tx.reference = dice(3) == 0 ? std::string("journal") : partition_ref(dice(kPartitions));
    tx.start = ubm::TimestampNs{hour - (1 + dice(3)) * kHourNs};
    tx.stop = ubm::TimestampNs{tx.start.value() + kHourNs};
    const int lines = 1 + dice(2);
    for (int l = 0; l < lines; ++l) {
      std::string line_ref;
      switch (dice(5)) {
        case 0: line_ref = partition_ref(dice(kPartitions)); break;
        case 1: line_ref = "slapuser" + std::to_string(dice(kPartitions)); break;
        case 2: line_ref = m.instances.empty() ? "SOFTINST-1" : any(m.instances).guid; break;
        case 3: line_ref = computer; break;
        default: break;
      }
      const bool cpu = dice(2) == 0;
      auto quantity = ubm::Decimal::make(dice(100'000), static_cast<uint8_t>(dice(4)));
      tx.lines.push_back(market::UsageLine{cpu ? "usage/cpu_s" : "usage/ram_byte_s", *quantity, cpu ? "cpu_s" : "byte_s", line_ref, ""});
    }
    u.transactions.push_back(std::move(tx));
  }
  if (it == m.computers.end()) return {u, false, "usage of an unknown computer"};
  // As the market does: a transaction already accounted (before, or earlier in this journal) is
  // skipped whole; any other line naming something that is not this computer's refuses the journal.
  std::vector<std::string> keys;
  for (const auto& tx : u.transactions) {
    std::string key = computer + "|" + tx.reference + "|" + std::to_string(tx.start.value()) + "|" + std::to_string(tx.stop.value());
    if (ref.journals.count(key) || std::find(keys.begin(), keys.end(), key) != keys.end()) {
      keys.emplace_back();  // skipped
      continue;
    }
    for (const auto& l : tx.lines) {
      if (!acceptable(l.reference, tx)) return {u, false, "usage naming nobody this computer held then"};
    }
    keys.push_back(std::move(key));
  }
  for (size_t t = 0; t < u.transactions.size(); ++t) {
    if (keys[t].empty()) continue;
    ref.journals.insert(keys[t]);
    for (const auto& l : u.transactions[t].lines) {
      auto& total = ref.usage[{computer, l.resource}];
      total = *ubm::Decimal::add(total, l.quantity);
      if (l.quantity.is_zero()) continue;
      auto& paid = ref.usage_payers[{computer, l.resource, payer_of(l.reference, u.transactions[t])}];
      paid = *ubm::Decimal::add(paid, l.quantity);
    }
  }
  return {u, true, "report usage"};
}

Planned Workload::identity(Reference& ref) {
  if (!ref.certificates.empty() && dice(3) == 0) {
    auto it = ref.certificates.begin();
    std::advance(it, dice(static_cast<int>(ref.certificates.size())));
    it->second.revoked = true;
    ubm::Identity id{ubm::IdentityAction::revoke, it->second.subject, it->first, {}, clock_.now(), clock_.now(), ""};
    return {market::RecordIdentity{id}, true, "revoke a certificate"};
  }
  std::vector<std::string> subjects = ref.parties;
  subjects.insert(subjects.end(), ref.computers_registered.begin(), ref.computers_registered.end());
  for (const auto& i : ref.placement.instances) subjects.push_back(i.guid);
  const std::string subject = dice(6) == 0 ? "GHOST-" + std::to_string(dice(3)) : any(subjects);
  char serial[17];
  std::snprintf(serial, sizeof serial, "%016llx", static_cast<unsigned long long>(++ref.serials));
  const ubm::TimestampNs now = clock_.now();
  ubm::Identity id{ubm::IdentityAction::issue, subject, serial, std::string(32, '\x5a'), now,
                   ubm::TimestampNs{now.value() + 365 * 24 * kHourNs}, dice(4) == 0 ? "analyst" : ""};
  const bool known = ref.is_registered(subject);
  if (known) ref.certificates[serial] = {subject, false};
  return {market::RecordIdentity{id}, known, known ? "issue a certificate" : "issue a certificate to no one"};
}

Planned Workload::bang(Reference& ref) {
  auto& m = ref.placement;
  if (m.instances.empty()) return request(ref);
  const Model::Instance& i = any(m.instances);
  const std::string actor = dice(3) == 0 ? any(ref.parties) : i.requester;
  const bool allowed = actor == i.requester || actor == client_of(m, i) || actor == i.guid;
  return {market::Bang{actor, i.guid}, allowed, "bang"};
}

Planned Workload::rename(Reference& ref) {
  auto& m = ref.placement;
  if (m.instances.empty()) return request(ref);
  Model::Instance& i = m.instances[static_cast<size_t>(dice(static_cast<int>(m.instances.size())))];
  const std::string actor = dice(4) == 0 ? any(ref.parties) : i.requester;
  const std::string title = "t" + std::to_string(dice(12));
  market::Rename r{actor, i.guid, title};
  if (actor != i.requester && actor != client_of(m, i) && actor != i.guid) return {r, false, "rename someone else's instance"};
  if (title == i.title) return {r, true, "rename to the same title"};
  if (m.find(i.requester, title) != nullptr) return {r, false, "rename to a title taken"};
  i.title = title;
  return {r, true, "rename"};
}

}  // namespace slap::sim
