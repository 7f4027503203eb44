#include "market/matcher.h"

#include <cassert>

namespace slap::market {

Matcher::Compiled Matcher::compile(std::string_view release, const Conditions& c) const {
  Compiled k;
  k.release = capacity_.id(release);
  k.capability = capacity_.id(c.capability);
  k.max_price = c.max_price;
  if (c.max_price) {  // non-negative (parse_sla): integer division is the floor
    int64_t div = 1;
    for (uint8_t i = 0; i < c.max_price->scale(); ++i) div *= 10;
    k.max_minor = c.max_price->mantissa() / div;
  }
  if (k.capability == kNone) {
    // No computer was ever declared with this capability. For none at all ("") while computers
    // exist, each has one, and a computer with a capability serves only requests naming it.
    if (!c.capability.empty()) k.impossible = "no computer has capability=" + c.capability;
    else if (capacity_.size() == 0) k.impossible = "no computer is registered";
    else k.impossible = "every computer has a capability and serves only requests naming it (capability=...)";
  }
  if (!c.network_guid.empty()) {
    k.network = capacity_.id(c.network_guid);
    if (k.network == kNone && k.impossible.empty()) k.impossible = "no computer is on network_guid=" + c.network_guid;
  }
  k.categories.reserve(c.categories.size());
  std::string kv;  // one buffer for every "key=value" looked up
  for (const auto& [key, value] : c.categories) {
    kv.assign(key);
    kv += '=';
    kv += value;
    const uint32_t id = capacity_.id(kv);
    if (id == kNone && k.impossible.empty()) {
      k.impossible = "no computer has " + (key == "project" ? std::string("project_guid") : key) + "=" + value;
    }
    if (key == "region") k.region = id;
    k.categories.push_back(id);
  }
  return k;
}

bool Matcher::satisfies(const CapacityIndex::Computer& m, const Compiled& k) const {
  if (m.capability != k.capability) return false;
  if (k.network != kNone && m.network != k.network) return false;
  if (m.price > k.max_minor) return false;
  for (uint32_t cat : k.categories) {
    if (!m.has_category(cat)) return false;
  }
  return true;
}

Placement Matcher::on(const CapacityIndex::Computer& m) const {
  Placement p;
  const ComputerView::Computer* view = computers_.find(capacity_.index_of(m), m.guid);
  const ComputerView::Partition* free = view ? computers_.first_free(*view) : nullptr;
  if (free == nullptr) {
    p.reason = "computer " + m.guid + " has no free partition";  // cannot happen when listed
    return p;
  }
  p.computer = m.guid;
  p.partition = free->ref;
  return p;
}

Placement Matcher::at_computer(std::string_view client, const Compiled& k, const Conditions& c) const {
  Placement p;
  const CapacityIndex::Computer* m = capacity_.find(c.computer_guid);
  // An unknown computer and a closed one the client may not use give one reason: a request (its
  // pending reason is answered, and recorded) must not tell anyone which private computers exist.
  if (m == nullptr || !admits(*m, client, true)) {
    return p.reason = "computer_guid=" + c.computer_guid + " names no computer open to " + std::string(client), p;
  }
  if (k.release == kNone || !m->supplies(k.release)) return p.reason = "computer_guid=" + c.computer_guid + " does not supply the release", p;
  if (!m->has_free()) return p.reason = "computer_guid=" + c.computer_guid + " has no free partition", p;
  if (!k.impossible.empty()) return p.reason = k.impossible, p;
  if (!satisfies(*m, k)) return p.reason = unmet(*m, k, c), p;
  return on(*m);
}

std::string Matcher::unmet(const CapacityIndex::Computer& m, const Compiled& k, const Conditions& c) const {
  const std::string named = "computer_guid=" + c.computer_guid;
  if (m.capability != k.capability) {
    // describe(c) cannot say it: a request naming no capability is refused by a computer that has one.
    const std::string& has = capacity_.name(m.capability);  // "" when it has none (interned with every computer)
    if (has.empty()) return named + " has no capability=" + c.capability;
    if (c.capability.empty()) return named + " serves only requests with capability=" + has;
    return named + " has capability=" + has + ", not capability=" + c.capability;
  }
  if (k.network != kNone && m.network != k.network) return named + " is not on network_guid=" + c.network_guid;
  if (m.price > k.max_minor) return named + " costs more than max_price=" + k.max_price->to_string();
  for (size_t i = 0; i < k.categories.size(); ++i) {
    if (!m.has_category(k.categories[i])) {
      const auto& [key, value] = c.categories[i];
      return named + " has no " + (key == "project" ? std::string("project_guid") : key) + "=" + value;
    }
  }
  return named + " does not satisfy " + describe(c);
}

Placement Matcher::place(std::string_view release, std::string_view client, const Conditions& c) const {
  const Compiled k = compile(release, c);
  if (!c.computer_guid.empty()) return at_computer(client, k, c);
  Placement p;
  if (!k.impossible.empty()) return p.reason = k.impossible, p;
  // Walk the smallest order that holds every satisfying computer: the release's, or its region's
  // or network's when asked. Those two hold computers of every release: the walk skips the ones
  // that do not supply it, and they are not steps (the release's order would not have held them).
  const CapacityIndex::Candidates* set = capacity_.candidates(k.release, k.capability);
  bool every_release = false;
  auto narrow = [&](const CapacityIndex::Candidates* other) {
    if (set == nullptr) return;
    if (other == nullptr) {  // nobody free there at all
      set = nullptr;
    } else if (other->size() < set->size()) {
      set = other;
      every_release = true;
    }
  };
  if (k.region != kNone) narrow(capacity_.region_candidates(k.capability, k.region));
  if (k.network != kNone) narrow(capacity_.network_candidates(k.capability, k.network));
  if (set != nullptr) {
    const CapacityIndex::ReleaseBit bit = capacity_.release_bit(k.release);
    size_t steps = 0;
    for (const CapacityIndex::Entry& e : *set) {
      if (e.price > k.max_minor) break;  // price order: none cheaper follows
      if (every_release && !capacity_.supplies(e, k.release, bit)) continue;
      const auto& m = capacity_.computer(e.idx);
      if (satisfies(m, k)) return on(m);
      if (++steps >= kMaxScan) {
        return p.reason = std::string(kScanBoundReason) + std::to_string(kMaxScan) + " cheapest candidates for " + describe(c), p;
      }
    }
  }
  p.reason = explain(k, c);
  return p;
}

std::string Matcher::explain(const Compiled& k, const Conditions& c) const {
  if (k.release == kNone || !capacity_.supplied_anywhere(k.release)) return "no computer supplies the release";
  const CapacityIndex::Candidates* set = capacity_.candidates(k.release, k.capability);
  if (set == nullptr || set->empty()) {
    return c.capability.empty() ? "no open computer supplying the release has a free partition"
                                : "no open computer with capability=" + c.capability + " supplying the release has a free partition";
  }
  // Name the first condition that no candidate satisfies on its own.
  auto any = [&](auto&& pred) {
    size_t steps = 0;
    for (const CapacityIndex::Entry& e : *set) {
      if (pred(capacity_.computer(e.idx))) return true;
      if (++steps >= kMaxScan) return true;
    }
    return false;
  };
  // Region and network have their own orders: whether any candidate has them is whether their
  // order holds a computer supplying the release (a walk of one region or network at most, and
  // mostly of the elements' release bits: pending requests are explained on every attempt).
  const CapacityIndex::ReleaseBit bit = capacity_.release_bit(k.release);
  auto none_supplies = [&](const CapacityIndex::Candidates* x) {
    if (x == nullptr) return true;
    size_t steps = 0;
    for (const CapacityIndex::Entry& e : *x) {
      if (capacity_.supplies(e, k.release, bit)) return false;
      if (++steps >= kMaxScan) return false;
    }
    return true;
  };
  if (k.network != kNone && none_supplies(capacity_.network_candidates(k.capability, k.network))) {
    return "no free partition on network_guid=" + c.network_guid;
  }
  for (size_t i = 0; i < k.categories.size(); ++i) {
    const uint32_t cat = k.categories[i];
    const bool none = cat == k.region ? none_supplies(capacity_.region_candidates(k.capability, k.region))
                                      : !any([&](const auto& m) { return m.has_category(cat); });
    if (none) {
      const auto& [key, value] = c.categories[i];
      return "no free partition with " + (key == "project" ? std::string("project_guid") : key) + "=" + value;
    }
  }
  if (k.max_price && set->begin()->price > k.max_minor) {  // the cheapest comes first
    return "no free partition at max_price=" + k.max_price->to_string() + " or less";
  }
  return "no free partition satisfies all of " + describe(c);
}

bool Matcher::host_fits(const InstanceRegistry::Instance& h, std::string_view release, std::string_view client, const Conditions& c,
                        bool named) const {
  if (!c.computer_guid.empty() && h.computer != c.computer_guid) return false;
  const CapacityIndex::Computer* m = capacity_.find(h.computer);
  if (m == nullptr || !admits(*m, client, named)) return false;
  Conditions rest = c;
  rest.computer_guid.clear();
  rest.instance_guid.clear();
  Compiled k = compile(release, rest);
  if (c.capability.empty()) {  // a host's capability does not keep shared instances away
    k.capability = m->capability;
    k.impossible.clear();
    for (uint32_t cat : k.categories) if (cat == kNone) return false;
    if (!c.network_guid.empty() && k.network == kNone) return false;
  }
  return k.impossible.empty() && satisfies(*m, k);
}

bool Matcher::still_hosts(const InstanceRegistry::Instance& h, std::string_view release, std::string_view client, const Conditions& c) const {
  if (!c.instance_guid.empty() && c.instance_guid != h.request.instance) return false;
  if (h.request.shared || h.computer.empty() || h.request.state == RequestedState::destroyed) return false;
  return host_fits(h, release, client, c, !c.computer_guid.empty() || !c.instance_guid.empty());
}

Matcher::Prepared Matcher::prepare(std::string_view release, const Conditions& c) const {
  return Prepared{compile(release, c), c.computer_guid, capacity_.names_version()};
}

bool Matcher::could_place_on(const CapacityIndex::Computer& m, std::string_view client, const Prepared& p) const {
  assert(p.names_version == capacity_.names_version());
  const bool named = !p.computer_guid.empty();
  if (!m.has_free() || (named && p.computer_guid != m.guid) || !admits(m, client, named)) return false;
  const Compiled& k = p.k;
  return k.impossible.empty() && k.release != kNone && m.supplies(k.release) && satisfies(m, k);
}

bool Matcher::admits(const CapacityIndex::Computer& computer, std::string_view client, bool named) const {
  return computer.scope == Scope::open || (named && computer.owner != kNone && computer.owner == capacity_.id(client));
}

Placement Matcher::host(std::string_view release, std::string_view software_type, std::string_view client,
                        const Conditions& c) const {
  Placement p;
  const bool named = !c.computer_guid.empty() || !c.instance_guid.empty();
  auto fits = [&](const InstanceRegistry::Instance& h) { return host_fits(h, release, client, c, named); };
  if (!c.instance_guid.empty()) {
    const InstanceRegistry::Instance* h = instances_.find(c.instance_guid);
    // Unknown, not a running host, or a host on a closed computer the client may not use: one
    // reason (it named the closed computer's guid, too).
    const CapacityIndex::Computer* m = h != nullptr ? capacity_.find(h->computer) : nullptr;
    if (h == nullptr || h->request.shared || h->computer.empty() || h->request.state == RequestedState::destroyed ||
        (m != nullptr && !admits(*m, client, true))) {
      return p.reason = "instance_guid=" + c.instance_guid + " names no running host open to " + std::string(client), p;
    }
    if (!fits(*h)) return p.reason = "instance_guid=" + c.instance_guid + " does not satisfy " + describe(c), p;
    p.host = h->request.instance;
    return p;
  }
  size_t steps = 0;
  for (uint32_t idx : instances_.hosts(release, software_type)) {
    const InstanceRegistry::Instance& h = instances_.instance(idx);
    if (fits(h)) {
      p.host = h.request.instance;
      return p;
    }
    if (++steps >= kMaxScan) break;
  }
  p.reason = "no running host instance of the release and software type satisfies " + (c.empty() ? std::string("the request") : describe(c));
  return p;
}

}  // namespace slap::market
