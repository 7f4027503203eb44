#include "slapd/json/entry_json.h"

#include "ledger/hash.h"
#include "ubm/codec.h"

namespace slap::json {
namespace {

namespace bj = boost::json;

bj::array attributes(const std::vector<ubm::Attribute>& attrs) {
  bj::array a;
  for (const auto& kv : attrs) a.push_back(bj::object{{"key", kv.key}, {"value", kv.value}});
  return a;
}

bj::object item_json(const ubm::Item& i) {
  return bj::object{{"id", i.id.value()},       {"kind", ubm::to_string(i.kind)}, {"title", i.title},
                    {"owner", i.owner.value()}, {"parent", i.parent.value()},  {"attributes", attributes(i.attributes)}};
}

struct ToJson {
  bj::object& out;
  void operator()(const ubm::Movement& m) const {
    bj::array items;
    for (const auto& i : m.items) items.push_back(bj::string(i.value()));
    bj::object o{{"resource", m.resource},
                 {"quantity", m.quantity.amount.to_string()},
                 {"unit", m.quantity.unit},
                 {"price_minor", m.price.minor.to_string()},
                 {"currency", m.price.currency},
                 {"source", m.source.value()},
                 {"destination", m.destination.value()},
                 {"source_section", m.source_section},
                 {"destination_section", m.destination_section},
                 {"items", std::move(items)},
                 {"start_ns", m.start.value()},
                 {"stop_ns", m.stop.value()},
                 {"cause_seq", m.cause.value()},
                 {"attributes", attributes(m.attributes)}};
    // Only when there are some: a movement that registers nothing reads as before.
    if (!m.registers.empty()) {
      bj::array registers;
      for (const auto& i : m.registers) registers.push_back(item_json(i));
      o["registers"] = std::move(registers);
    }
    out["movement"] = std::move(o);
  }
  void operator()(const ubm::Node& n) const {
    out["node"] = bj::object{{"id", n.id.value()}, {"kind", ubm::to_string(n.kind)}, {"title", n.title}, {"attributes", attributes(n.attributes)}};
  }
  void operator()(const ubm::Item& i) const {
    out["item"] = item_json(i);
  }
  void operator()(const ubm::Checkpoint& c) const {
    out["checkpoint"] = bj::object{{"seq", c.seq.value()}, {"head_hash", ledger::to_hex(c.head_hash)}, {"signature", ledger::to_hex(c.signature)}};
  }
  void operator()(const ubm::Identity& id) const {
    out["identity"] = bj::object{{"action", id.action == ubm::IdentityAction::issue ? "issue" : "revoke"},
                                 {"subject", id.subject},
                                 {"serial", id.serial},
                                 {"fingerprint_sha256", ledger::to_hex(id.fingerprint_sha256)},
                                 {"not_before_ns", id.not_before.value()},
                                 {"not_after_ns", id.not_after.value()},
                                 {"role", id.role}};
  }
};

}  // namespace

boost::json::object entry_to_json(const ledger::EntryView& view) {
  bj::object out{{"seq", view.seq.value()}, {"timestamp_ns", view.timestamp.value()}, {"hash", ledger::to_hex(view.hash)}};
  auto body = ubm::decode(view.entry);
  if (!body) {
    out["error"] = body.error().to_string();
    return out;
  }
  std::visit(ToJson{out}, body.value());
  return out;
}

}  // namespace slap::json
