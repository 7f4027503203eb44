#include "market/encoding.h"

#include <optional>
#include <string_view>

#include "market/computer_view.h"

namespace slap::market {
namespace {

using ubm::Attribute;

constexpr std::string_view kFactKey = "fact";

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += v[i];
  }
  return s;
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  for (;;) {
    size_t comma = s.find(',', start);
    out.emplace_back(s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

struct Writer {
  std::vector<Attribute>& out;
  void add(std::string key, std::string value) { out.push_back(Attribute{std::move(key), std::move(value)}); }
  void map(std::string_view prefix, const StringMap& m) {
    for (const auto& [k, v] : m) add(std::string(prefix) + k, v);
  }
};

// What an instance fact's envelope already says, so its attributes need not say it again
// (encoding.h): the instance is the movement's first item, a partition's
// computer is the front of the partition item "<computer>/<ref>" that follows it, and the client is
// the movement's destination when the fact holds a partition, its source otherwise. Every rule is
// checked when encoding: a field the envelope would not give back is written as an attribute.
struct Implied {
  std::string_view first_item, second_item, source, destination;
  static Implied of(const Envelope& env) {
    auto at = [&](size_t k) { return k < env.items.size() ? std::string_view(env.items[k]) : std::string_view(); };
    return {at(0), at(1), env.source, env.destination};
  }
  // The computer a partition item names, given the partition's ref: "" when it does not match.
  static std::string_view computer_of(std::string_view item, std::string_view ref) {
    if (ref.empty() || item.size() <= ref.size() + 1) return {};
    if (item.substr(item.size() - ref.size()) != ref || item[item.size() - ref.size() - 1] != '/') return {};
    return item.substr(0, item.size() - ref.size() - 1);
  }
  std::string_view client(bool holds_partition) const { return holds_partition ? destination : source; }
};

struct Encoder {
  Writer w;
  Implied implied;
  void instance(const std::string& guid) {
    if (guid != implied.first_item) w.add("instance", guid);
  }
  // A partition held: its ref always, its computer only when the partition item does not name it.
  void partition(const std::string& computer, const std::string& ref) {
    if (Implied::computer_of(implied.second_item, ref) != computer || computer.empty()) w.add("computer", computer);
    w.add("partition", ref);
  }
  const char* operator()(const fact::ComputerSet& f) {
    w.add("computer", f.computer);
    w.add("owner", f.owner);
    w.add("network", f.network);
    w.add("scope", std::string(to_string(f.scope)));
    w.add("capability", f.capability);
    w.map("cat ", f.categories);
    return "computer";
  }
  const char* operator()(const fact::Formatted& f) {
    w.add("computer", f.computer);
    for (const auto& p : f.upserts) {
      w.add("p " + p.ref, "");
      if (!p.ipv4.empty()) w.add("p " + p.ref + " ipv4", join(p.ipv4));
      if (!p.ipv6.empty()) w.add("p " + p.ref + " ipv6", join(p.ipv6));
      if (!p.tap.empty()) w.add("p " + p.ref + " tap", p.tap);
      if (!p.routed.empty()) w.add("p " + p.ref + " routed", pack_routed(p.routed));
    }
    w.add("added", std::to_string(f.added));
    for (const auto& r : f.retired) w.add("rm " + r, "");
    if (!f.touched.empty()) w.add("touched", join(f.touched));
    return "format";
  }
  const char* operator()(const fact::Supplied& f) {
    w.add("computer", f.computer);
    w.add("url", f.release);
    w.add("state", f.available ? "available" : f.removed ? "removed" : "destroyed");
    return "supply";
  }
  const char* operator()(const fact::Requested& f) {
    instance(f.instance);
    const bool client_implied = f.client == implied.client(f.allocated());
    if (f.requester != f.client || !client_implied) w.add("requester", f.requester);
    w.add("title", f.title);
    if (!client_implied) w.add("client", f.client);
    w.add("url", f.release);
    w.add("type", f.software_type);
    if (f.shared) w.add("shared", "1");
    if (f.state != RequestedState::started) w.add("state", std::string(to_string(f.state)));
    w.map("param ", f.parameters);
    w.map("sla ", f.sla);
    if (f.allocated()) partition(f.computer, f.partition);
    return "request";
  }
  const char* operator()(const fact::Allocated& f) {
    instance(f.instance);
    partition(f.computer, f.partition);
    return "allocate";
  }
  const char* operator()(const fact::Pending& f) {
    instance(f.instance);
    w.add("reason", f.reason);
    return "pending";
  }
  const char* operator()(const fact::Attached& f) {
    instance(f.instance);
    w.add("host", f.host);
    return "attach";
  }
  const char* operator()(const fact::Freed& f) {
    instance(f.instance);
    if (!f.partition.empty()) partition(f.computer, f.partition);
    else if (!f.computer.empty()) w.add("computer", f.computer);
    if (f.requeue) w.add("requeue", "1");
    return "free";
  }
  const char* operator()(const fact::Reported& f) {
    instance(f.instance);
    w.add("state", std::string(to_string(f.state)));
    return "report";
  }
  const char* operator()(const fact::Connection& f) {
    instance(f.instance);
    w.map("conn ", f.parameters);
    return "connection";
  }
  const char* operator()(const fact::Banged& f) {
    instance(f.instance);
    w.add("tree", join(f.tree));
    return "bang";
  }
  const char* operator()(const fact::Renamed& f) {
    instance(f.instance);
    w.add("title", f.title);
    if (!f.tree.empty()) w.add("tree", join(f.tree));
    return "rename";
  }
};

// Reads attributes in order; fields are looked up by key (small lists: a linear scan).
class Reader {
 public:
  explicit Reader(const std::vector<Attribute>& a) : a_(a) {}
  bool has(std::string_view key) const {
    for (const auto& x : a_) if (x.key == key) return true;
    return false;
  }
  std::optional<std::string> find(std::string_view key) const {
    for (const auto& x : a_) if (x.key == key) return x.value;
    return std::nullopt;
  }
  std::string get(std::string_view key) {
    if (auto v = find(key)) return std::move(*v);
    missing_ = missing_.empty() ? std::string(key) : missing_;
    return {};
  }
  StringMap map(std::string_view prefix) const {
    StringMap m;
    for (const auto& x : a_) {
      if (x.key.size() >= prefix.size() && std::string_view(x.key).substr(0, prefix.size()) == prefix) {
        m.emplace_back(x.key.substr(prefix.size()), x.value);
      }
    }
    return m;
  }
  const std::vector<Attribute>& all() const { return a_; }
  const std::string& missing() const { return missing_; }

 private:
  const std::vector<Attribute>& a_;
  std::string missing_;
};

ubm::Error bad(std::string detail) { return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "attributes", std::move(detail)); }

}  // namespace

bool is_market_resource(std::string_view resource) noexcept {
  for (std::string_view prefix : {"capacity/", "software/", "hosting/", "billing/"}) {
    if (resource.starts_with(prefix)) return true;
  }
  return false;
}

std::string_view resource_of(const fact::Body& body) noexcept {
  switch (body.index()) {
    case 0: case 1: return "capacity/partition";
    case 2: return "software/supply";
    case 3: return std::get<fact::Requested>(body).allocated() ? "hosting/partition" : "hosting/request";
    case 4: return "hosting/partition";
    case 5: return "hosting/pending";
    case 6: return "hosting/shared";
    case 7: return "hosting/partition";
    case 8: return "hosting/running";
    case 9: return "hosting/connection";
    case 10: return "hosting/bang";
    case 11: return "hosting/rename";
  }
  return "?";
}

ubm::Movement encode(const Fact& f, Envelope env) {
  ubm::Movement m;
  m.resource = std::string(resource_of(f.body));
  m.attributes.reserve(8);
  m.attributes.push_back(Attribute{std::string(kFactKey), {}});
  Encoder enc{Writer{m.attributes}, Implied::of(env)};
  m.attributes[0].value = std::visit(enc, f.body);
  m.source = ubm::NodeId(std::move(env.source));
  m.destination = ubm::NodeId(std::move(env.destination));
  m.items.reserve(env.items.size());
  for (auto& i : env.items) m.items.emplace_back(std::move(i));
  m.start = f.at;
  m.price = std::move(env.price);
  m.quantity.unit = "unit";
  m.quantity.amount = ubm::Decimal::integer(1);
  if (const auto* c = std::get_if<fact::ComputerSet>(&f.body)) {
    m.quantity = {ubm::Decimal::integer(0), "partition"};
    m.price = {ubm::Decimal::integer(c->price_minor), c->currency};
  } else if (const auto* p = std::get_if<fact::Formatted>(&f.body)) {
    m.quantity = {ubm::Decimal::integer(static_cast<int64_t>(p->upserts.size())), "partition"};
  } else if (const auto* fr = std::get_if<fact::Freed>(&f.body)) {
    // Recorded as what it ends: a partition given back, a shared instance leaving its host (the host
    // is the movement's second item), or a request withdrawn before it got either. (Each was
    // "1 partition" before, however it stood: a shared instance's free gave back a partition it
    // never held.)
    m.stop = f.at;
    if (!fr->partition.empty()) {
      m.quantity = {ubm::Decimal::integer(1), "partition"};
    } else {
      m.quantity = {ubm::Decimal::integer(1), "instance"};
      m.resource = m.items.size() > 1 ? "hosting/shared" : "hosting/request";
    }
  } else if (std::holds_alternative<fact::Allocated>(f.body) ||
             (std::holds_alternative<fact::Requested>(f.body) && std::get<fact::Requested>(f.body).allocated())) {
    m.quantity = {ubm::Decimal::integer(1), "partition"};
  } else if (std::holds_alternative<fact::Requested>(f.body) || std::holds_alternative<fact::Attached>(f.body)) {
    m.quantity = {ubm::Decimal::integer(1), "instance"};
  }
  return m;
}

ubm::Result<std::optional<Fact>> decode(const ubm::Movement& m) {
  if (m.attributes.empty() || m.attributes[0].key != kFactKey) return std::optional<Fact>{};
  Reader r(m.attributes);
  const std::string& kind = m.attributes[0].value;
  Fact out{m.start, fact::Banged{}};
  // Fields the envelope implies when the attributes leave them out (see Implied above); entries
  // written before that rule carry them all.
  auto instance = [&]() -> std::string {
    if (auto v = r.find("instance")) return std::move(*v);
    if (m.items.empty()) return r.get("instance");  // marks it missing
    return m.items[0].value();
  };
  auto partition = [&](std::string& computer, std::string& ref) {
    ref = r.get("partition");
    if (auto v = r.find("computer")) {
      computer = std::move(*v);
    } else if (m.items.size() > 1) {
      computer = std::string(Implied::computer_of(m.items[1].value(), ref));
    }
  };
  if (kind == "computer") {
    fact::ComputerSet f;
    f.computer = r.get("computer");
    f.owner = r.get("owner");
    f.network = r.get("network");
    if (!parse(r.get("scope"), f.scope)) return bad("bad scope");
    f.capability = r.get("capability");
    f.categories = r.map("cat ");
    f.price_minor = m.price.minor.mantissa();
    if (m.price.minor.scale() != 0) return bad("computer price must be integer minor units");
    f.currency = m.price.currency;
    out.body = std::move(f);
  } else if (kind == "format") {
    fact::Formatted f;
    f.computer = r.get("computer");
    for (const auto& a : r.all()) {
      std::string_view k = a.key;
      if (k.substr(0, 3) == "rm ") {
        f.retired.emplace_back(k.substr(3));
      } else if (k.substr(0, 2) == "p ") {
        std::string_view rest = k.substr(2);
        const size_t space = rest.find(' ');
        if (space == std::string_view::npos) {
          f.upserts.push_back(PartitionSpec{std::string(rest), {}, {}, {}});
          continue;
        }
        if (f.upserts.empty() || f.upserts.back().ref != rest.substr(0, space)) return bad("partition field before its partition");
        std::string_view field = rest.substr(space + 1);
        if (field == "ipv4") f.upserts.back().ipv4 = split(a.value);
        else if (field == "ipv6") f.upserts.back().ipv6 = split(a.value);
        else if (field == "tap") f.upserts.back().tap = a.value;
        else if (field == "routed") {
          auto routed = unpack_routed(a.value);
          if (!routed || routed->empty()) return bad("malformed routed addresses");
          f.upserts.back().routed = std::move(*routed);
        }
        else return bad("unknown partition field");
      }
    }
    const std::string added = r.get("added");
    if (added.empty() || added.size() > 9 || added.find_first_not_of("0123456789") != std::string::npos) return bad("bad added count");
    f.added = static_cast<uint32_t>(std::stoul(added));
    f.touched = split(r.find("touched").value_or(""));
    if (f.added > f.upserts.size()) return bad("added exceeds upserts");
    out.body = std::move(f);
  } else if (kind == "supply") {
    fact::Supplied f;
    f.computer = r.get("computer");
    f.release = r.get("url");
    const std::string state = r.get("state");
    if (state != "available" && state != "destroyed" && state != "removed") return bad("bad supply state");
    f.available = state == "available";
    f.removed = state == "removed";
    out.body = std::move(f);
  } else if (kind == "request") {
    fact::Requested f;
    f.instance = instance();
    f.title = r.get("title");
    f.release = r.get("url");
    f.software_type = r.get("type");
    f.shared = r.find("shared").value_or("0") == "1";
    if (!parse(r.find("state").value_or("started"), f.state)) return bad("bad requested state");
    f.parameters = r.map("param ");
    f.sla = r.map("sla ");
    const bool allocated = r.has("partition");
    f.client = r.find("client").value_or(std::string(allocated ? m.destination.value() : m.source.value()));
    f.requester = r.find("requester").value_or(f.client);
    if (allocated) {
      partition(f.computer, f.partition);
      if (f.computer.empty() || f.partition.empty()) return bad("an allocated request names its computer and partition");
    }
    out.body = std::move(f);
  } else if (kind == "allocate") {
    fact::Allocated f{instance(), {}, {}};
    partition(f.computer, f.partition);
    out.body = std::move(f);
  } else if (kind == "pending") {
    out.body = fact::Pending{instance(), r.get("reason")};
  } else if (kind == "attach") {
    out.body = fact::Attached{instance(), r.get("host")};
  } else if (kind == "free") {
    fact::Freed f{instance(), {}, {}, false};
    if (r.has("partition")) {
      partition(f.computer, f.partition);
    } else {
      f.computer = r.find("computer").value_or("");
    }
    f.requeue = r.find("requeue").value_or("0") == "1";
    out.body = std::move(f);
  } else if (kind == "report") {
    fact::Reported f{instance(), ReportedState::none};
    if (!parse(r.get("state"), f.state)) return bad("bad reported state");
    out.body = std::move(f);
  } else if (kind == "connection") {
    out.body = fact::Connection{instance(), r.map("conn ")};
  } else if (kind == "bang") {
    out.body = fact::Banged{instance(), split(r.get("tree"))};
  } else if (kind == "rename") {
    out.body = fact::Renamed{instance(), r.get("title"), split(r.find("tree").value_or(""))};
  } else {
    return bad("unknown market fact '" + kind + "'");
  }
  if (!r.missing().empty()) return bad("market fact '" + kind + "' lacks '" + r.missing() + "'");
  return std::optional<Fact>(std::move(out));
}

}  // namespace slap::market
