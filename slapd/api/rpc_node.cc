// JSON-RPC v0 verbs used by nodes (with the computer's certificate) and by software instances
// (with their own): format, software and instance lists, reported states, connection parameters,
// errors, instance certificates, usage.
#include <boost/json.hpp>

#include "slapd/api/api.h"
#include "slapd/api/render.h"
#include "slapd/usage/tioxml.h"

namespace slap::slapd {

void issue_certificate_for(Api& api, const std::string& subject, ca::IdentityKind kind, const Reply& reply);

namespace bj = boost::json;
using market::Outcome;

namespace {

constexpr Dialect kD = Dialect::jsonrpc;
using rpc::forbidden;
using rpc::need;
using rpc::only;
constexpr size_t kMaxPartitions = 10'000;
constexpr size_t kMaxIpsPerPartition = 64;


// The computer named in the body must be the caller (or the caller an admin).
std::optional<std::string> own_computer(const Caller& caller, const json::Body& body, const Reply& reply) {
  auto computer = need(body, "computer_guid", reply, 128);
  if (!computer) return std::nullopt;
  if (!caller.admin() && (caller.kind != ca::IdentityKind::computer || caller.subject != *computer)) {
    reply(forbidden(caller.subject + " may not act for computer " + *computer));
    return std::nullopt;
  }
  return computer;
}

// For a software instance calling a node's verb: itself, live and on the computer named in the
// body. Its own slap client (its buildout, with the instance's certificate) reads its partition's
// parameters through the node's verbs, and sees only itself.
std::optional<market::InstanceRegistry::Instance> calling_instance(Api& api, const Caller& caller, const json::Body& body, const Reply& reply) {
  auto computer = need(body, "computer_guid", reply, 128);
  if (!computer) return std::nullopt;
  auto i = api.ctx().market.instances().get(caller.subject);
  if (!i || !live_instance(*i) || i->computer != *computer) {
    reply(forbidden(caller.subject + " may not act for computer " + *computer));
    return std::nullopt;
  }
  return i;
}

// Parses compute_partition_list: [{partition_id, ip_list: [{ip-address, network-interface, ...}]}].
std::optional<std::vector<market::PartitionSpec>> partitions_of(const json::Body& body, const Reply& reply) {
  simdjson::dom::array list;
  if (body.object()["compute_partition_list"].get_array().get(list)) {
    reply(bad_request(kD, {"compute_partition_list", "required, an array"}));
    return std::nullopt;
  }
  std::vector<market::PartitionSpec> out;
  size_t index = 0;
  for (simdjson::dom::element e : list) {
    const std::string field = "compute_partition_list[" + std::to_string(index++) + "]";
    if (out.size() >= kMaxPartitions) {
      reply(bad_request(kD, {"compute_partition_list", "more than 10000 partitions"}));
      return std::nullopt;
    }
    std::string_view id;
    if (e["partition_id"].get_string().get(id) || id.empty() || id.size() > 64) {
      reply(bad_request(kD, {field + ".partition_id", "required, a string of 1..64 bytes"}));
      return std::nullopt;
    }
    market::PartitionSpec p;
    p.ref = std::string(id);
    simdjson::dom::array ips;
    if (!e["ip_list"].get_array().get(ips)) {
      size_t k = 0;
      for (simdjson::dom::element ip : ips) {
        std::string_view address, iface, gateway, netmask, network;
        if (k++ >= kMaxIpsPerPartition || ip["ip-address"].get_string().get(address) || address.empty() || address.size() > 64) {
          reply(bad_request(kD, {field + ".ip_list", "each entry needs an ip-address (at most 64 entries)"}));
          return std::nullopt;
        }
        // Optional text fields: absent, or a string.
        bool typed = true;
        auto text = [&](const char* name, std::string_view& value) {
          simdjson::dom::element v;
          if (ip[name].get(v) || v.is_null()) return;  // absent (null: some nodes write it so)
          if (v.get_string().get(value)) typed = false;
        };
        text("network-interface", iface);
        text("gateway-ip-address", gateway);
        text("netmask", netmask);
        text("network-address", network);
        if (!typed) {
          reply(bad_request(kD, {field + ".ip_list", "network-interface, gateway-ip-address, netmask and network-address are strings"}));
          return std::nullopt;
        }
        // With a gateway and a netmask, an address is routed (a virtual machine's tap): the SlapOS
        // master lists it in full_ip_list with them, not in ip_list.
        if (!gateway.empty() && !netmask.empty()) {
          p.routed.push_back(market::RoutedAddress{std::string(iface), std::string(address), std::string(gateway), std::string(netmask), std::string(network)});
          continue;
        }
        (address.find(':') != std::string_view::npos ? p.ipv6 : p.ipv4).emplace_back(address);
        if (!iface.empty() && p.tap.empty() && iface.size() <= 64) p.tap = std::string(iface);
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

// The instance named in the body, if the caller may act on it as its node or as itself.
std::optional<market::InstanceRegistry::Instance> hosted_instance(Api& api, const Caller& caller, const std::string& guid, const Reply& reply) {
  auto i = api.ctx().market.instances().get(guid);
  if (!i || !may_act_for(api, caller, *i)) {
    reply(unseen(kD, caller, i.has_value(), "unknown_instance", guid, caller.subject + " does not host " + guid));
    return std::nullopt;
  }
  return i;
}

// The computer that runs an instance (through its host for a shared one).
std::string computer_of(Api& api, const market::InstanceRegistry::Instance& i) {
  if (!i.computer.empty()) return i.computer;
  if (auto host = api.ctx().market.instances().get(i.host)) return host->computer;
  return {};
}

}  // namespace

bool is_node_verb(const std::string& v) {
  static const std::set<std::string, std::less<>> verbs = {
      "slapos.put.v0.compute_node_format",
      "slapos.allDocs.v0.compute_node_software_installation_list",
      "slapos.put.v0.software_installation_reported_state",
      "slapos.put.v0.software_installation_error",
      "slapos.allDocs.v0.compute_node_instance_list",
      "slapos.get.v0.compute_partition",
      "slapos.get.v0.compute_node_status",
      "slapos.put.v0.compute_node_bang",
      "slapos.put.v0.software_instance_reported_state",
      "slapos.put.v0.software_instance_connection_parameter",
      "slapos.put.v0.software_instance_error",
      "slapos.get.v0.software_instance_certificate",
      "slapos.post.v0.compute_node_usage"};
  return verbs.count(v) > 0;
}

void rpc_node(Api& api, const Caller& caller, const std::string& verb, const json::Body& body, Reply reply) {
  auto& market = api.ctx().market;
  auto& reports = api.ctx().reports;

  if (verb == "slapos.put.v0.compute_node_format") {
    if (!only(body, {"computer_guid", "compute_partition_list"}, reply)) return;
    auto computer = own_computer(caller, body, reply);
    if (!computer) return;
    auto partitions = partitions_of(body, reply);
    if (!partitions) return;
    const size_t n = partitions->size();
    return api.submit(market::DeclareCapacity{*computer, std::move(*partitions)}, kD, reply,
                      [n](const Outcome&) { return rpc_success(std::to_string(n) + " partitions declared"); });
  }

  if (verb == "slapos.allDocs.v0.compute_node_software_installation_list") {
    if (!only(body, {"computer_guid"}, reply)) return;
    auto computer = own_computer(caller, body, reply);
    if (!computer) return;
    auto c = market.computers().get(*computer);
    if (!c) return reply(error_response(kD, 404, "unknown_computer", "'" + *computer + "' is not known"));
    bj::array list;
    for (const auto& [url, state] : c->supplies) list.push_back(bj::object{{"software_release_uri", url}, {"state", state}});
    return reply(json_response(200, bj::object{{"result_list", std::move(list)}}));
  }

  if (verb == "slapos.put.v0.software_installation_reported_state" || verb == "slapos.put.v0.software_installation_error") {
    const bool error = verb == "slapos.put.v0.software_installation_error";
    if (!only(body, {"computer_guid", "software_release_uri", error ? "message" : "reported_state"}, reply)) return;
    auto computer = own_computer(caller, body, reply);
    if (!computer) return;
    auto url = need(body, "software_release_uri", reply);
    if (!url) return;
    auto value = need(body, error ? "message" : "reported_state", reply, error ? 65'536 : 16);
    if (!value) return;
    if (!error && *value != "available" && *value != "destroyed" && *value != "building") {
      return reply(bad_request(kD, {"reported_state", "expected available, destroyed or building"}));
    }
    auto c = market.computers().get(*computer);
    const std::string* requested = c ? market::find_value(c->supplies, *url) : nullptr;
    if (!error && *value == "destroyed" && requested != nullptr && *requested == "destroyed") {
      // Removed as asked: the computer's list forgets it (a ledger fact), as the SlapOS master
      // stops listing a destroyed software installation.
      return api.submit(market::SoftwareRemoved{*computer, *url}, kD, reply, [](const Outcome& o) {
        return rpc_success(o.written ? "software removed: no longer listed" : "software not listed (removed already)");
      });
    }
    // Sent again once removed (an answer lost): nothing to do, and nothing kept of it.
    if (!error && *value == "destroyed" && c && requested == nullptr) return reply(rpc_success("software not listed (removed already)"));
    if (requested == nullptr) return reply(error_response(kD, 404, "unknown_software_release", *url + " is not supplied to " + *computer));
    reports.software(*computer, *url, error ? "error" : *value, error ? *value : "");
    return reply(rpc_success("software state recorded"));
  }

  if (verb == "slapos.allDocs.v0.compute_node_instance_list") {
    if (!only(body, {"computer_guid"}, reply)) return;
    if (caller.kind == ca::IdentityKind::instance) {  // an instance lists itself, not its neighbours
      auto i = calling_instance(api, caller, body, reply);
      if (!i) return;
      bj::array one;
      one.push_back(bj::object{{"instance_guid", i->request.instance},
                               {"title", i->request.title},
                               {"state", std::string(market::to_string(i->request.state))},
                               {"compute_partition_id", i->partition},
                               {"software_release_uri", i->request.release}});
      return reply(json_response(200, bj::object{{"result_list", std::move(one)}}));
    }
    auto computer = own_computer(caller, body, reply);
    if (!computer) return;
    auto s = market.computer_snapshot(*computer);
    if (!s) return reply(error_response(kD, 404, "unknown_computer", "'" + *computer + "' is not known"));
    bj::array list;
    for (const auto& p : s->partitions) {
      if (!p.instance) continue;
      list.push_back(bj::object{{"instance_guid", p.instance->request.instance},
                                {"title", p.instance->request.title},
                                {"state", std::string(market::to_string(p.instance->request.state))},
                                {"compute_partition_id", p.spec.ref},
                                {"software_release_uri", p.instance->request.release}});
    }
    return reply(json_response(200, bj::object{{"result_list", std::move(list)}}));
  }

  if (verb == "slapos.get.v0.compute_partition") {
    if (!only(body, {"computer_guid", "compute_partition_id"}, reply)) return;
    if (caller.kind == ca::IdentityKind::instance) {  // its own partition only, read without the whole computer
      auto i = calling_instance(api, caller, body, reply);
      if (!i) return;
      auto ref = need(body, "compute_partition_id", reply, 64);
      if (!ref) return;
      if (i->partition != *ref) return reply(forbidden(caller.subject + " may read its own partition only, not " + *ref));
      auto j = instance_text(api, caller.subject);
      if (!j) return reply(error_response(kD, 404, "unknown_instance", *ref + " hosts no instance"));
      return reply(json_text_response(200, std::move(*j)));
    }
    auto computer = own_computer(caller, body, reply);
    if (!computer) return;
    auto ref = need(body, "compute_partition_id", reply, 64);
    if (!ref) return;
    auto s = market.computer_snapshot(*computer);
    if (!s) return reply(error_response(kD, 404, "unknown_computer", "'" + *computer + "' is not known"));
    for (const auto& p : s->partitions) {
      if (p.spec.ref != *ref) continue;
      if (!p.instance) return reply(error_response(kD, 404, "unknown_instance", *ref + " hosts no instance"));
      auto j = instance_text(api, p.instance->request.instance);
      if (!j) return reply(error_response(kD, 404, "unknown_instance", *ref + " hosts no instance"));
      return reply(json_text_response(200, std::move(*j)));
    }
    return reply(error_response(kD, 404, "unknown_partition", *computer + " has no partition " + *ref));
  }

  if (verb == "slapos.get.v0.compute_node_status") {
    if (!only(body, {"computer_guid"}, reply)) return;
    auto computer = need(body, "computer_guid", reply, 128);
    if (!computer) return;
    auto c = market.computers().get(*computer);
    if (!c || (!caller.admin() && caller.subject != *computer && caller.subject != c->props.owner)) {
      return reply(unseen(kD, caller, c.has_value(), "unknown_computer", *computer, caller.subject + " may not read " + *computer));
    }
    std::string text = reports.computer_message(*computer);
    if (text.empty()) text = std::to_string(c->busy) + "/" + std::to_string(c->partitions.size()) + " partitions busy";
    return reply(json_response(200, bj::object{{"text", text}}));
  }

  if (verb == "slapos.put.v0.compute_node_bang") {
    if (!only(body, {"computer_guid", "message"}, reply)) return;
    // The node itself, or the computer's owner (the SlapOS master takes a bang from either).
    auto computer = need(body, "computer_guid", reply, 128);
    if (!computer) return;
    if (!caller.admin() && !(caller.kind == ca::IdentityKind::computer && caller.subject == *computer)) {
      auto c = market.computers().get(*computer);
      if (!c || caller.kind != ca::IdentityKind::person || caller.subject != c->props.owner) {
        return reply(forbidden(caller.subject + " may not act for computer " + *computer));
      }
    }
    auto message = need(body, "message", reply, 65'536);
    if (!message) return;
    reports.computer(*computer, "bang: " + *message);
    return reply(rpc_success("bang recorded"));
  }

  if (verb == "slapos.put.v0.software_instance_reported_state") {
    if (!only(body, {"instance_guid", "reported_state"}, reply)) return;
    auto guid = need(body, "instance_guid", reply, 128);
    if (!guid) return;
    auto state = need(body, "reported_state", reply, 16);
    if (!state) return;
    market::ReportedState rs;
    if (!market::parse(*state, rs) || rs == market::ReportedState::none) return reply(bad_request(kD, {"reported_state", "expected started, stopped or destroyed"}));
    // Only the node hosting it: a reported state opens and closes the hosting billed to the client,
    // and the instance's own certificate is in the client's software's hands (a "stopped" from it
    // would end the bill while it runs on). The SlapOS master takes the instance's word too; here
    // it is refused.
    if (caller.kind != ca::IdentityKind::computer) return reply(forbidden("only the node hosting an instance reports its state"));
    if (!hosted_instance(api, caller, *guid, reply)) return;  // an unknown guid and another computer's instance alike
    market::ReportState report{caller.subject, *guid, rs, {}};
    // Its partition is freed: the certificates it was given are revoked with it, by the market in
    // the same decision, so that a refused report (another computer's instance, one not requested
    // destroyed) revokes nothing.
    if (rs == market::ReportedState::destroyed) report.revoke_when_freed = api.ctx().identities.serials_of(*guid);
    return api.submit(std::move(report), kD, reply, [](const Outcome& o) { return rpc_success(o.instance + " state recorded"); });
  }

  if (verb == "slapos.put.v0.software_instance_connection_parameter") {
    if (!only(body, {"instance_guid", "connection_parameter_dict"}, reply)) return;
    auto guid = need(body, "instance_guid", reply, 128);
    if (!guid) return;
    json::FieldError e;
    bool failed = false;
    auto dict = body.string_map("connection_parameter_dict", e, failed);
    if (failed) return reply(bad_request(kD, e));
    auto i = hosted_instance(api, caller, *guid, reply);
    if (!i) return;
    std::string computer = caller.kind == ca::IdentityKind::computer ? caller.subject : computer_of(api, *i);
    return api.submit(market::ReportConnection{computer, *guid, std::move(*dict)}, kD, reply,
                      [](const Outcome& o) { return rpc_success(o.instance + " connection parameters recorded"); });
  }

  if (verb == "slapos.put.v0.software_instance_error") {
    if (!only(body, {"instance_guid", "message"}, reply)) return;
    auto guid = need(body, "instance_guid", reply, 128);
    if (!guid) return;
    auto message = need(body, "message", reply, 65'536);
    if (!message) return;
    if (!hosted_instance(api, caller, *guid, reply)) return;
    reports.instance(*guid, *message);
    return reply(rpc_success("error recorded"));
  }

  if (verb == "slapos.get.v0.software_instance_certificate") {
    if (!only(body, {"instance_guid"}, reply)) return;
    auto guid = need(body, "instance_guid", reply, 128);
    if (!guid) return;
    auto i = hosted_instance(api, caller, *guid, reply);
    if (!i) return;
    // A shared instance has no partition, hence no certificate of its own; its host's own
    // certificate is not for the host's shared instances to take either.
    if (i->request.shared || (caller.kind == ca::IdentityKind::instance && caller.subject != *guid)) {
      return reply(forbidden(caller.subject + " may not take a certificate for " + *guid));
    }
    if (!live_instance(*i)) return reply(forbidden(*guid + " holds no partition or was destroyed: no certificate"));
    return issue_certificate_for(api, *guid, ca::IdentityKind::instance, reply);
  }

  if (verb == "slapos.post.v0.compute_node_usage") {
    if (!only(body, {"computer_guid", "tioxml"}, reply)) return;
    auto computer = own_computer(caller, body, reply);
    if (!computer) return;
    auto xml = need(body, "tioxml", reply, 16u << 20);
    if (!xml) return;
    auto journal = usage::parse_journal(*xml);
    if (!journal) return reply(error_response(kD, 422, ubm::rejection_name(journal.error().code), journal.error().field + ": " + journal.error().detail));
    size_t lines = 0;
    for (const auto& t : *journal) lines += t.lines.size();
    // Only lines that measure nothing (SlapOS's -1 for a zero-emission ratio never tested): there
    // is nothing to account, which is not "already accounted".
    if (lines == 0) return reply(rpc_success("the journal measures nothing: no usage line to account"));
    return api.submit(market::ReportUsage{*computer, std::move(*journal)}, kD, reply, [lines](const Outcome& o) {
      // Lines, not movements: a line over a partition's hand-over becomes one movement per holder.
      return rpc_success(o.written ? std::to_string(lines) + " usage lines accounted" : "journal already accounted");
    });
  }
  reply(error_response(kD, 404, "not_found", "no such verb: " + verb));
}

}  // namespace slap::slapd
