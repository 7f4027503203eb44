// JSON-RPC v0 verbs used by people (and by instances requesting children): request and read
// instances, rename, bang, supply, computer certificates.
#include <boost/json.hpp>

#include "slapd/api/api.h"
#include "slapd/api/render.h"

namespace slap::slapd {

namespace bj = boost::json;
using market::Outcome;

namespace {

constexpr Dialect kD = Dialect::jsonrpc;
using rpc::forbidden;
using rpc::need;
using rpc::only;

// Whether `caller` may rename or bang the instance: its requester, its client or itself (the
// market's own rule, which it checks again when deciding). Asked here first so that an unknown
// guid and someone else's instance are answered alike (render.h `unseen`); false once answered.
bool managed_by(Api& api, const Caller& caller, const std::string& guid, const Reply& reply) {
  auto i = api.ctx().market.instances().get(guid);
  const bool may = i && (i->request.requester == caller.subject || i->request.client == caller.subject || i->request.instance == caller.subject);
  if (!may) reply(unseen(kD, caller, i.has_value(), "unknown_instance", guid, caller.subject + " may not act on " + guid));
  return may;
}

// A new certificate for `subject`, recorded in the ledger before the key is handed out.
void issue_certificate(Api& api, const std::string& subject, ca::IdentityKind kind, const Reply& reply) {
  auto cert = api.ctx().authority.issue({.subject = subject, .kind = kind});
  if (!cert) return reply(error_response(kD, 503, "ca_error", cert.error().detail));
  ubm::Identity id{ubm::IdentityAction::issue, subject, cert->serial_hex, cert->fingerprint_sha256,
                   ubm::TimestampNs{cert->not_before_ns}, ubm::TimestampNs{cert->not_after_ns}, ""};
  auto c = std::make_shared<ca::IssuedCertificate>(std::move(cert.value()));
  auto answer = [c](const std::vector<Outcome>&) {
    return json_response(200, bj::object{{"certificate", c->certificate_pem}, {"key", c->private_key_pem}});
  };
  // One valid certificate per instance: the node fetches one each time it processes the
  // partition, so the earlier ones are revoked in the same breath (no pile of valid keys). A
  // computer's owner may hold several (rotation), revoking them explicitly.
  if (kind == ca::IdentityKind::instance) return api.submit_sole_certificate(id, kD, reply, std::move(answer));
  api.submit_all({market::RecordIdentity{id}}, kD, reply, std::move(answer));
}

void request_instance(Api& api, const Caller& caller, const json::Body& body, const Reply& reply) {
  if (caller.kind != ca::IdentityKind::person && caller.kind != ca::IdentityKind::instance) return reply(forbidden("only people and instances request instances"));
  if (caller.kind == ca::IdentityKind::instance && !live_instance(api, caller.subject)) {
    return reply(forbidden(caller.subject + " holds no partition or was destroyed: it requests nothing"));
  }
  if (!only(body, {"title", "software_release_uri", "software_type", "parameters", "sla_parameters", "state", "shared"}, reply)) return;
  market::RequestInstance r;
  r.requester = caller.subject;
  auto title = need(body, "title", reply, 200);
  if (!title) return;
  auto url = need(body, "software_release_uri", reply);
  if (!url) return;
  auto type = need(body, "software_type", reply, 256);
  if (!type) return;
  json::FieldError e;
  bool failed = false;
  auto params = body.string_map("parameters", e, failed);
  auto sla = failed ? std::nullopt : body.string_map("sla_parameters", e, failed);
  auto state = failed ? std::nullopt : body.optional_string("state", e, failed, 16);
  auto shared = failed ? std::nullopt : body.optional_bool("shared", e, failed);
  if (failed) return reply(bad_request(kD, e));
  if (state && !market::parse(*state, r.state)) return reply(bad_request(kD, {"state", "expected started, stopped or destroyed"}));
  r.title = std::move(*title);
  r.release = std::move(*url);
  r.software_type = std::move(*type);
  r.parameters = std::move(*params);
  r.sla = std::move(*sla);
  r.shared = shared.value_or(false);
  Api* a = &api;
  api.submit(std::move(r), kD, reply, [a](const Outcome& o) {
    // The instance as it stands, placed or not, as the SlapOS master answers a request for an
    // instance that exists: a pending one has no computer_guid nor compute_partition_id yet, and
    // its access_status_message says why ("pending: ..."); the client asks again later. (The
    // master's other answer, 200 {"status": 102, "name": "SoftwareInstanceNotReady"}, is for an
    // instance its asynchronous workflow has not created yet; here the request creates it.)
    auto j = instance_text(*a, o.instance);
    if (!j) return error_response(kD, 503, "not_found", "instance vanished");
    return json_text_response(200, std::move(*j));
  });
}

}  // namespace

bool is_client_verb(const std::string& v) {
  static const std::set<std::string, std::less<>> verbs = {
      "slapos.post.v0.software_instance",        "slapos.get.v0.software_instance",   "slapos.allDocs.v0.instance_tree_list",
      "slapos.get.v0.instance_tree",             "slapos.allDocs.v0.instance_node_instance_list",
      "slapos.put.v0.software_instance_title",   "slapos.put.v0.software_instance_bang",
      "slapos.get.v0.hateoas_url",               "slapos.post.v0.software_installation",
      "slapos.post.v0.compute_node_certificate", "slapos.remove.v0.compute_node_certificate"};
  return verbs.count(v) > 0;
}

void rpc_client(Api& api, const Caller& caller, const std::string& verb, const json::Body& body, Reply reply) {
  auto& market = api.ctx().market;
  if (verb == "slapos.post.v0.software_instance") return request_instance(api, caller, body, reply);

  if (verb == "slapos.get.v0.software_instance") {
    if (!only(body, {"instance_guid"}, reply)) return;
    auto guid = need(body, "instance_guid", reply, 128);
    if (!guid) return;
    auto i = market.instances().get(*guid);
    if (!i || !may_read(api, caller, *i)) return reply(unseen(kD, caller, i.has_value(), "unknown_instance", *guid, caller.subject + " may not read " + *guid));
    auto j = instance_text(api, *guid);
    if (!j) return reply(error_response(kD, 404, "unknown_instance", "'" + *guid + "' is not known"));
    return reply(json_text_response(200, std::move(*j)));
  }

  if (verb == "slapos.allDocs.v0.instance_tree_list") {
    if (!only(body, {}, reply)) return;
    auto roots = market.instances().list([&](const auto& i) { return i.request.requester == caller.subject; }, 10'000);
    bj::array list;
    for (const auto& i : roots) list.push_back(bj::object{{"title", i.request.title}});
    return reply(json_response(200, bj::object{{"result_list", std::move(list)}}));
  }

  if (verb == "slapos.get.v0.instance_tree") {
    if (!only(body, {"title"}, reply)) return;
    auto title = need(body, "title", reply, 200);
    if (!title) return;
    auto i = market.instances().get(caller.subject, *title);
    if (!i) return reply(error_response(kD, 404, "unknown_instance", caller.subject + " has no instance titled '" + *title + "'"));
    auto j = instance_text(api, i->request.instance);
    if (!j) return reply(error_response(kD, 404, "unknown_instance", caller.subject + " has no instance titled '" + *title + "'"));
    return reply(json_text_response(200, std::move(*j)));
  }

  if (verb == "slapos.allDocs.v0.instance_node_instance_list") {
    if (!only(body, {"instance_guid"}, reply)) return;
    auto guid = need(body, "instance_guid", reply, 128);
    if (!guid) return;
    // "Slave Instance Search" (the reference API): the shared instances the host serves, in attach
    // order, for whoever may read the host (its node renders them into its configuration).
    // Read in place, one shared instance at a time (a frontend may serve thousands: no copy of
    // each whole instance, and the folding thread waits for one short read at most).
    const auto& registry = market.instances();
    const auto host = registry.get(*guid);  // the host alone is copied (its slaves' guids among it)
    if (!host || !may_read(api, caller, *host)) {
      return reply(unseen(kD, caller, host.has_value(), "unknown_instance", *guid, caller.subject + " may not read " + *guid));
    }
    const std::string& host_guid = host->request.instance;
    bj::array list;
    for (const auto& g : host->slaves) {
      std::optional<bj::object> o;
      std::string requester;
      registry.read(g, [&](const market::InstanceRegistry::View& v) {
        const auto& c = v.instance;
        if (c.host != host_guid) return;
        o = bj::object{{"instance_guid", g},
                       {"title", c.request.title},
                       {"software_release_uri", c.request.release},
                       {"software_type", c.request.software_type},
                       {"parameters", string_map_json(c.request.parameters)},
                       {"state", std::string(market::to_string(c.request.state))}};
        requester = c.request.requester;
      });
      if (!o) continue;
      // The partition of the instance that requested it, when an instance did.
      registry.read(requester, [&](const market::InstanceRegistry::View& v) {
        if (!v.instance.partition.empty()) (*o)["compute_partition_id"] = v.instance.partition;
      });
      list.push_back(std::move(*o));
    }
    return reply(json_response(200, bj::object{{"result_list", std::move(list)}}));
  }

  if (verb == "slapos.put.v0.software_instance_title") {
    if (!only(body, {"instance_guid", "title"}, reply)) return;
    auto guid = need(body, "instance_guid", reply, 128);
    auto title = guid ? need(body, "title", reply, 200) : std::nullopt;
    if (!title) return;
    if (!managed_by(api, caller, *guid, reply)) return;
    return api.submit(market::Rename{caller.subject, *guid, *title}, kD, reply, [](const Outcome& o) { return rpc_success(o.instance + " renamed"); });
  }

  if (verb == "slapos.put.v0.software_instance_bang") {
    if (!only(body, {"instance_guid", "message"}, reply)) return;
    auto guid = need(body, "instance_guid", reply, 128);
    auto message = guid ? need(body, "message", reply) : std::nullopt;
    if (!message) return;
    if (!managed_by(api, caller, *guid, reply)) return;
    return api.submit(market::Bang{caller.subject, *guid}, kD, reply, [](const Outcome& o) { return rpc_success(o.instance + " banged"); });
  }

  if (verb == "slapos.get.v0.hateoas_url") {
    return reply(json_response(200, bj::object{{"hateoas_url", ""}}));  // this master has no HATEOAS interface
  }

  if (verb == "slapos.post.v0.software_installation") {
    if (!only(body, {"software_release_uri", "computer_guid", "state"}, reply)) return;
    auto url = need(body, "software_release_uri", reply);
    auto computer = url ? need(body, "computer_guid", reply, 128) : std::nullopt;
    if (!computer) return;
    json::FieldError e;
    bool failed = false;
    auto state = body.optional_string("state", e, failed, 16);
    if (failed) return reply(bad_request(kD, e));
    if (state && *state != "available" && *state != "destroyed") return reply(bad_request(kD, {"state", "expected available or destroyed"}));
    // The market refuses anyone but the owner; asked first here, so that an unknown computer and
    // someone else's are answered alike.
    auto c = market.computers().get(*computer);
    if (!c || c->props.owner != caller.subject) {
      return reply(unseen(kD, caller, c.has_value(), "unknown_computer", *computer, caller.subject + " does not own " + *computer));
    }
    market::Supply s{caller.subject, *computer, *url, !state || *state == "available"};
    return api.submit(std::move(s), kD, reply, [](const Outcome&) { return rpc_success("software installation recorded"); });
  }

  if (verb == "slapos.post.v0.compute_node_certificate" || verb == "slapos.remove.v0.compute_node_certificate") {
    if (!only(body, {"computer_guid"}, reply)) return;
    auto computer = need(body, "computer_guid", reply, 128);
    if (!computer) return;
    auto c = market.computers().get(*computer);
    if (!c || (c->props.owner != caller.subject && !caller.admin())) {
      return reply(unseen(kD, caller, c.has_value(), "unknown_computer", *computer, caller.subject + " does not own " + *computer));
    }
    if (verb == "slapos.post.v0.compute_node_certificate") return issue_certificate(api, *computer, ca::IdentityKind::computer, reply);
    std::vector<market::Command> revokes;
    for (const auto& serial : api.ctx().identities.serials_of(*computer)) {
      revokes.push_back(revocation(*computer, serial));
    }
    if (revokes.empty()) return reply(rpc_success("no certificate to revoke"));
    return api.submit_all(std::move(revokes), kD, reply, [](const std::vector<Outcome>& all) {
      return rpc_success(std::to_string(all.size()) + " certificate(s) revoked");
    });
  }
  reply(error_response(kD, 404, "not_found", "no such verb: " + verb));
}

// Used by rpc_node.cc too.
void issue_certificate_for(Api& api, const std::string& subject, ca::IdentityKind kind, const Reply& reply) {
  issue_certificate(api, subject, kind, reply);
}

}  // namespace slap::slapd
