// /v1/: what the JSON-RPC API lacks — the node's one-response computer view (ETag, 304, long
// poll), registration of computers and persons, certificate revocation, instance listing, and the
// ledger for auditors.
#include <boost/json.hpp>
#include <openssl/rand.h>

#include <algorithm>

#include "ledger/hash.h"
#include "slapd/api/api.h"
#include "slapd/api/query_string.h"
#include "slapd/api/render.h"
#include "slapd/json/entry_json.h"

namespace slap::slapd {

namespace bj = boost::json;
using market::Outcome;

namespace {

constexpr Dialect kD = Dialect::v1;

http::Response forbidden(const std::string& why) { return error_response(kD, 403, "forbidden", why); }

std::string random_id(const char* prefix) {
  unsigned char bytes[6];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("the random generator failed");  // a 500, never a guessable id
  return std::string(prefix) + ledger::to_hex(std::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
}

// Query parameter `key` as an unsigned integer; nullopt when absent; `bad` set when malformed (a
// query string that does not parse counts as malformed).
std::optional<uint64_t> query_uint(const std::string& query, std::string_view key, bool& bad) {
  auto ps = parse_query(query);
  if (!ps) {
    bad = true;
    return std::nullopt;
  }
  return uint_param(*ps, key, bad);
}

http::Response view_response(const Api::CachedView& v) {
  http::Response r;
  r.body = v.body;
  r.headers = {{"ETag", v.etag}, {"Cache-Control", "no-cache"}};
  return r;
}

http::Response not_modified(const std::string& etag) {
  http::Response r;
  r.status = 304;
  r.content_type.clear();
  r.headers = {{"ETag", etag}};
  return r;
}

void computer_view(Api& api, const Caller& caller, const std::string& guid, const std::string& query, const std::string& inm, Reply reply) {
  auto& market = api.ctx().market;
  if (!caller.admin() && caller.subject != guid) {
    auto props = market.computers().get(guid);
    if (!props || props->props.owner != caller.subject) return reply(unseen(kD, caller, props.has_value(), "unknown_computer", guid, caller.subject + " may not read " + guid));
  }
  if (market.computers().version(guid) == 0) return reply(error_response(kD, 404, "unknown_computer", "'" + guid + "' is not known"));
  bool bad = false;
  const auto wait = query_uint(query, "wait", bad);
  if (bad) return reply(error_response(kD, 400, "bad_request", "wait must be a number of seconds"));
  auto view = api.computer_view(guid);
  if (!view) return reply(error_response(kD, 404, "unknown_computer", "'" + guid + "' is not known"));
  if (inm.empty() || inm != view->etag) return reply(view_response(*view));
  if (!wait || *wait == 0) return reply(not_modified(view->etag));
  // Long poll: park until the version changes or the (bounded) wait ends.
  const auto seconds = std::min<uint64_t>(*wait, static_cast<uint64_t>(api.ctx().limits.max_wait.count()));
  const uint64_t seen = view->version;
  Api* a = &api;
  auto shared_reply = std::make_shared<Reply>(std::move(reply));
  const bool parked = api.ctx().long_poll.wait(
      std::chrono::steady_clock::now() + std::chrono::seconds(seconds),
      [a, guid, seen] { return a->ctx().market.computers().version(guid) != seen; },
      [a, guid, etag = view->etag, shared_reply, serial = caller.serial, subject = caller.subject](bool changed) {
        // Checked again when answering: a certificate revoked while its poll was parked (a stolen
        // computer key, say) is not sent the view that changed meanwhile.
        if (!a->ctx().identities.valid(serial, subject)) {
          return (*shared_reply)(error_response(kD, 401, "unauthorized", "certificate " + serial + " was revoked"));
        }
        if (!changed) return (*shared_reply)(not_modified(etag));
        auto fresh = a->computer_view(guid);
        (*shared_reply)(fresh ? view_response(*fresh) : not_modified(etag));
      });
  if (!parked) (*shared_reply)(error_response(kD, 503, "overloaded", "too many long polls; poll again later"));
}

// What the computer's node last reported of each release supplied to it (building, available,
// destroyed, or error with the build's message), beside what was requested: the owner sees a
// failed build and why. Reports are status kept in memory (node_reports.h): after a restart of the
// master, "reported" is empty until the node's next software pass.
void software_status(Api& api, const Caller& caller, const std::string& guid, Reply reply) {
  auto c = api.ctx().market.computers().get(guid);
  if (!c || (!caller.admin() && caller.subject != guid && c->props.owner != caller.subject)) {
    return reply(unseen(kD, caller, c.has_value(), "unknown_computer", guid, caller.subject + " may not read " + guid));
  }
  bj::array list;
  for (const auto& [url, requested] : c->supplies) {
    bj::object o{{"url", url}, {"requested", requested}, {"reported", ""}, {"message", ""}};
    if (auto r = api.ctx().reports.software_state(guid, url)) {
      const size_t colon = r->find(": ");
      o["reported"] = colon == std::string::npos ? *r : r->substr(0, colon);
      if (colon != std::string::npos) o["message"] = r->substr(colon + 2);
    }
    list.push_back(std::move(o));
  }
  reply(json_response(200, bj::object{{"computer_guid", guid}, {"software", std::move(list)}}));
}

void register_computer(Api& api, const Caller& caller, const json::Body& body, Reply reply) {
  if (caller.kind != ca::IdentityKind::person) return reply(forbidden("only people register computers"));
  json::FieldError e;
  if (!body.only_keys({"title", "network", "region", "categories", "price_minor", "currency", "capability", "scope"}, e)) return reply(bad_request(kD, e));
  bool failed = false;
  auto title = body.optional_string("title", e, failed, 200);
  auto network = failed ? std::nullopt : body.optional_string("network", e, failed, 128);
  auto region = failed ? std::nullopt : body.optional_string("region", e, failed, 128);
  auto categories = failed ? std::nullopt : body.string_map("categories", e, failed, 64);
  auto price = failed ? std::nullopt : body.optional_int("price_minor", e, failed);
  auto currency = failed ? std::nullopt : body.optional_string("currency", e, failed, 3);
  auto capability = failed ? std::nullopt : body.optional_string("capability", e, failed, 128);
  auto scope = failed ? std::nullopt : body.optional_string("scope", e, failed, 8);
  if (failed) return reply(bad_request(kD, e));
  if (price && *price < 0) return reply(bad_request(kD, {"price_minor", "must be >= 0 (integer minor units)"}));
  // A network named like the ids this master mints is refused before anything is looked up: an
  // existing person's or computer's id was refused as "not a network" where an unknown one became
  // a new network, which told anyone which of those ids exist.
  for (const char* minted : {"COMP-", "PERSON-", "ORG-"}) {
    if (network && network->starts_with(minted)) {
      return reply(bad_request(kD, {"network", std::string("a network id may not start with ") + minted + " (the master's ids for computers and people)"}));
    }
  }
  market::RegisterComputer r;
  r.computer = random_id("COMP-");
  r.owner = caller.subject;
  r.network = network.value_or("NET-default");
  r.price_minor = price.value_or(0);
  r.currency = currency.value_or("EUR");
  r.capability = capability.value_or("");
  r.categories = std::move(*categories);
  if (region) r.categories.emplace_back("region", *region);
  if (scope && !market::parse(*scope, r.scope)) return reply(bad_request(kD, {"scope", "expected open or close"}));
  auto cert = api.ctx().authority.issue({.subject = r.computer, .kind = ca::IdentityKind::computer});
  if (!cert) return reply(error_response(kD, 503, "ca_error", cert.error().detail));
  auto c = std::make_shared<ca::IssuedCertificate>(std::move(cert.value()));
  ubm::Identity id{ubm::IdentityAction::issue, r.computer, c->serial_hex, c->fingerprint_sha256,
                   ubm::TimestampNs{c->not_before_ns}, ubm::TimestampNs{c->not_after_ns}, ""};
  const std::string guid = r.computer;
  std::vector<market::Command> commands{std::move(r), market::RecordIdentity{id}};
  api.submit_all(std::move(commands), kD, std::move(reply), [guid, c](const std::vector<Outcome>&) {
    return json_response(201, bj::object{{"computer_guid", guid}, {"certificate", c->certificate_pem}, {"key", c->private_key_pem}});
  });
}

void add_person(Api& api, const Caller& caller, const json::Body& body, Reply reply) {
  if (!caller.admin()) return reply(forbidden("only an administrator adds people"));
  json::FieldError e;
  if (!body.only_keys({"name", "role", "kind"}, e)) return reply(bad_request(kD, e));
  auto name = body.string("name", e, 200);
  if (!name) return reply(bad_request(kD, e));
  if (name->find_first_not_of(" \t") == std::string::npos) return reply(bad_request(kD, {"name", "a person or organisation has a name"}));
  bool failed = false;
  auto role = body.optional_string("role", e, failed, 16);
  auto kind = failed ? std::nullopt : body.optional_string("kind", e, failed, 16);
  if (failed) return reply(bad_request(kD, e));
  if (role && *role != "analyst" && *role != "auditor" && *role != "admin" && !role->empty()) {
    return reply(bad_request(kD, {"role", "expected analyst, auditor or admin"}));
  }
  const bool organisation = kind && *kind == "organisation";
  if (kind && !organisation && *kind != "person") return reply(bad_request(kD, {"kind", "expected person or organisation"}));
  const std::string guid = random_id(organisation ? "ORG-" : "PERSON-");
  auto cert = api.ctx().authority.issue({.subject = guid, .kind = ca::IdentityKind::person});
  if (!cert) return reply(error_response(kD, 503, "ca_error", cert.error().detail));
  auto c = std::make_shared<ca::IssuedCertificate>(std::move(cert.value()));
  ubm::Identity id{ubm::IdentityAction::issue, guid, c->serial_hex, c->fingerprint_sha256,
                   ubm::TimestampNs{c->not_before_ns}, ubm::TimestampNs{c->not_after_ns}, role.value_or("")};
  std::vector<market::Command> commands{market::RegisterParty{guid, organisation ? ubm::NodeKind::organisation : ubm::NodeKind::person, *name},
                                        market::RecordIdentity{id}};
  api.submit_all(std::move(commands), kD, std::move(reply), [guid, c](const std::vector<Outcome>&) {
    return json_response(201, bj::object{{"guid", guid}, {"certificate", c->certificate_pem}, {"key", c->private_key_pem}});
  });
}

// A new certificate for an existing person or organisation (its guid keeps its computers,
// instances and bills): certificates expire (a year), and add_person could only mint a new guid.
// The administrator renews anyone's, a person its own; the new one carries the person's role and
// every other certificate of the person is revoked in the same request (a leaked key included).
void renew_person(Api& api, const Caller& caller, const std::string& guid, const json::Body& body, Reply reply) {
  json::FieldError e;
  if (!body.only_keys({}, e)) return reply(bad_request(kD, e));
  // Refused before looking the guid up: whether it names a person is none of the caller's business.
  if (!caller.admin() && caller.subject != guid) return reply(forbidden(caller.subject + " may not renew the certificate of " + guid));
  auto kind = api.ctx().ledger.directory().node_kind(guid);
  if (!kind || *kind == ubm::NodeKind::network) return reply(error_response(kD, 404, "unknown_person", "'" + guid + "' is not a person or organisation"));
  const auto roles = api.ctx().identities.roles(guid);
  std::string role;
  for (const char* r : {"admin", "auditor", "analyst"}) {
    if (role.empty() && roles.count(r)) role = r;
  }
  auto cert = api.ctx().authority.issue({.subject = guid, .kind = ca::IdentityKind::person});
  if (!cert) return reply(error_response(kD, 503, "ca_error", cert.error().detail));
  auto c = std::make_shared<ca::IssuedCertificate>(std::move(cert.value()));
  ubm::Identity id{ubm::IdentityAction::issue, guid, c->serial_hex, c->fingerprint_sha256,
                   ubm::TimestampNs{c->not_before_ns}, ubm::TimestampNs{c->not_after_ns}, role};
  api.submit_sole_certificate(id, kD, std::move(reply), [guid, c](const std::vector<Outcome>&) {
    return json_response(201, bj::object{{"guid", guid}, {"certificate", c->certificate_pem}, {"key", c->private_key_pem}});
  });
}

void revoke(Api& api, const Caller& caller, const json::Body& body, Reply reply) {
  json::FieldError e;
  if (!body.only_keys({"serial"}, e)) return reply(bad_request(kD, e));
  auto serial = body.string("serial", e, 64);
  if (!serial) return reply(bad_request(kD, e));
  auto cert = api.ctx().identities.certificate(*serial);
  bool allowed = cert && (caller.admin() || cert->subject == caller.subject);
  if (cert && !allowed) {  // a computer's owner may revoke its certificates, an instance's client the instance's
    if (auto c = api.ctx().market.computers().get(cert->subject)) allowed = c->props.owner == caller.subject;
    else if (auto i = api.ctx().market.instances().get(cert->subject)) allowed = i->request.client == caller.subject;
  }
  if (!allowed) return reply(unseen(kD, caller, cert.has_value(), "unknown_certificate", *serial, caller.subject + " may not revoke " + *serial));
  if (cert->revoked) return reply(json_response(200, bj::object{{"serial", *serial}, {"revoked", true}}));
  const std::string s = *serial;
  api.submit(revocation(cert->subject, s), kD, std::move(reply), [s](const Outcome&) { return json_response(200, bj::object{{"serial", s}, {"revoked", true}}); });
}

// Pages of the instances the caller may read, in registration order: `after` (the `next` of the
// page before, 0 first) and `limit` (at most kMaxListed). A page examines at most kMaxScanned
// instances under the registry's lock, copying only guids, so that no listing stalls the folding
// thread or copies the whole registry: before, one call copied every instance (parameters and
// connection parameters included) and filtered afterwards. A page may then hold fewer than `limit`
// instances, none even, while `next` is given: the listing goes on until `next` is absent.
void list_instances(Api& api, const Caller& caller, const std::string& query, Reply reply) {
  constexpr uint64_t kMaxListed = 1'000, kMaxScanned = 100'000;
  static constexpr std::string_view kKeys[] = {"after", "limit"};
  const auto ps = parse_query(query);
  if (!ps) return reply(error_response(kD, 400, "bad_request", "malformed query string"));
  if (const std::string* k = unknown_key(*ps, kKeys)) return reply(error_response(kD, 400, "bad_request", *k + ": unknown parameter"));
  bool bad = false;
  const uint64_t after = uint_param(*ps, "after", bad).value_or(0);
  const uint64_t limit = uint_param(*ps, "limit", bad).value_or(kMaxListed);
  if (bad || limit == 0 || limit > kMaxListed) {
    return reply(error_response(kD, 400, "bad_request", "after is a position (the next of the page before) and limit an integer from 1 to 1000"));
  }
  auto page = api.ctx().market.instances().page(after, limit, kMaxScanned,
                                                [&](const auto& i, const auto* host) { return may_read(caller, i, host); });
  std::string body = "{\"instances\":[";
  size_t listed = 0;
  for (const auto& guid : page.guids) {
    auto j = instance_text(api, guid);
    if (!j) continue;
    if (listed++ > 0) body += ',';
    body += *j;
  }
  body += ']';
  if (!page.done) body += ",\"next\":" + std::to_string(page.next);
  body += '}';
  reply(json_text_response(200, std::move(body)));
}

// The head as stored (seq and hash from one record) and the latest signed checkpoint: an auditor
// checks the signature with ca.crt and, later, that the log it holds still has that hash there.
http::Response ledger_head(Api& api) {
  auto& led = api.ctx().ledger;
  const ubm::Seq seq = led.head();
  ledger::Hash hash{};
  auto s = led.scan(seq, seq, [&](const ledger::EntryView& v) {
    hash = v.hash;
    return false;
  });
  if (!s) return error_response(kD, 500, "ledger_error", s.error().to_string());
  bj::object out{{"seq", seq.value()}, {"hash", ledger::to_hex(hash)}, {"checkpoints", api.ctx().signed_head.count()}};
  auto latest = api.ctx().signed_head.latest();
  if (!latest) {
    out["checkpoint"] = nullptr;
  } else {
    auto signer = ca::fingerprint_of_pem(api.ctx().authority.certificate_pem());
    out["checkpoint"] = bj::object{{"seq", latest->checkpoint.seq.value()},
                                   {"hash", ledger::to_hex(latest->checkpoint.head_hash)},
                                   {"signature", ledger::to_hex(latest->checkpoint.signature)},
                                   {"signature_algorithm", "ecdsa-p256-sha256"},
                                   {"message", ubm::checkpoint_message(latest->checkpoint.seq, latest->checkpoint.head_hash)},
                                   {"signer_sha256", signer ? ledger::to_hex(*signer) : std::string()},
                                   {"entry_seq", latest->entry.value()},
                                   {"recorded_ns", latest->recorded.value()}};
  }
  return json_response(200, std::move(out));
}

void ledger_routes(Api& api, const Caller& caller, const std::string& path, const std::string& query, Reply reply) {
  if (!caller.has_role("auditor")) return reply(forbidden("the ledger is for auditors"));
  auto& led = api.ctx().ledger;
  if (path == "/v1/ledger/head") return reply(ledger_head(api));
  bool bad = false;
  const uint64_t from = query_uint(query, "from", bad).value_or(1);
  const uint64_t limit = std::min<uint64_t>(query_uint(query, "limit", bad).value_or(100), api.ctx().limits.ledger_page);
  if (bad || from == 0 || limit == 0) return reply(error_response(kD, 400, "bad_request", "from and limit are positive integers"));
  http::Response r;
  r.content_type = "application/x-ndjson";
  uint64_t n = 0;
  auto s = led.scan(ubm::Seq{from}, ubm::Seq{0}, [&](const ledger::EntryView& v) {
    if (n++ >= limit) return false;
    r.body += bj::serialize(json::entry_to_json(v));
    r.body += '\n';
    return true;
  });
  if (!s) return reply(error_response(kD, 500, "ledger_error", s.error().to_string()));
  reply(std::move(r));
}

}  // namespace

// The ETag is a hash of the view's body, not its version number: a version can be reached twice
// with different content (decisions a failed write undid, or that a crash took before they were
// durable, then new ones), and a node holding the first must not be told "not modified" by the
// second. The same content after a restart keeps its ETag.
std::shared_ptr<const Api::CachedView> Api::computer_view(const std::string& guid) {
  const uint64_t generation = ctx_.market.generation();
  const uint64_t version = ctx_.market.computers().version(guid);
  if (version == 0) return nullptr;
  {
    std::lock_guard lock(view_mu_);
    auto it = views_.find(guid);
    if (it != views_.end() && it->second->version == version && it->second->generation == generation) return it->second;
  }
  auto snapshot = ctx_.market.computer_snapshot(guid);
  if (!snapshot) return nullptr;
  auto v = std::make_shared<CachedView>();
  v->version = snapshot->version;
  v->generation = generation;
  v->body = bj::serialize(computer_view_json(*this, *snapshot));
  const ledger::Hash digest = ledger::Hasher().digest({v->body});
  v->etag = "\"" + ledger::to_hex(std::string_view(reinterpret_cast<const char*>(digest.data()), 16)) + "\"";
  std::lock_guard lock(view_mu_);
  auto& slot = views_[guid];
  if (!slot || slot->generation < generation || (slot->generation == generation && slot->version < v->version)) slot = v;
  return v;
}

void v1_route(Api& api, const Caller& caller, http::Request& req, const std::string& path, const std::string& query, Reply reply) {
  using boost::beast::http::verb;
  const bool get = req.method == verb::get, post = req.method == verb::post;
  if (path.rfind("/v1/ledger", 0) == 0 && get) return ledger_routes(api, caller, path, query, std::move(reply));
  if (path == "/v1/prices" || path.rfind("/v1/billing", 0) == 0) return billing_route(api, caller, req, path, query, std::move(reply));
  if (path.rfind("/v1/computers/", 0) == 0 && path.size() > 14 + 9 && path.ends_with("/software") && get) {
    const std::string guid = path.substr(14, path.size() - 14 - 9);
    if (guid.empty() || guid.size() > 128 || guid.find('/') != std::string::npos) return reply(error_response(kD, 404, "not_found", "no such computer path"));
    return software_status(api, caller, guid, std::move(reply));
  }
  if (path.rfind("/v1/computers/", 0) == 0 && get) {
    const std::string guid = path.substr(std::string("/v1/computers/").size());
    if (guid.empty() || guid.size() > 128 || guid.find('/') != std::string::npos) return reply(error_response(kD, 404, "not_found", "no such computer path"));
    return computer_view(api, caller, guid, query, req.if_none_match, std::move(reply));
  }
  if (path == "/v1/instances" && get) return list_instances(api, caller, query, std::move(reply));
  if (post && path.rfind("/v1/persons/", 0) == 0 && path.ends_with("/certificate") && path.size() > 12 + 12) {
    const std::string guid = path.substr(12, path.size() - 12 - 12);
    if (guid.empty() || guid.size() > 128 || guid.find('/') != std::string::npos) return reply(error_response(kD, 404, "not_found", "no such person path"));
    json::FieldError e;
    auto body = json::Body::parse(req.body.empty() ? std::string_view("{}") : std::string_view(req.body), e);
    if (!body) return reply(bad_request(kD, e));
    return renew_person(api, caller, guid, *body, std::move(reply));
  }
  if (post && (path == "/v1/computers" || path == "/v1/persons" || path == "/v1/certificates/revoke")) {
    json::FieldError e;
    auto body = json::Body::parse(req.body.empty() ? std::string_view("{}") : std::string_view(req.body), e);
    if (!body) return reply(bad_request(kD, e));
    if (path == "/v1/computers") return register_computer(api, caller, *body, std::move(reply));
    if (path == "/v1/persons") return add_person(api, caller, *body, std::move(reply));
    return revoke(api, caller, *body, std::move(reply));
  }
  reply(error_response(kD, 404, "not_found", "no such path: " + std::string(boost::beast::http::to_string(req.method)) + " " + path));
}

}  // namespace slap::slapd
