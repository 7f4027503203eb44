#pragma once
// The master's API: authentication (client certificate + identity registry), rate limits,
// routing to the JSON-RPC v0 verbs and the /v1/ extensions, metrics. Handlers parse and validate
// everything before a command reaches the sequencer; they hold no business rules (market/ does).
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "ledger/ledger.h"
#include "ledger/signed_head.h"
#include "market/market.h"
#include "market/sequencer.h"
#include "slapd/api/responses.h"
#include "slapd/ca/certificate_authority.h"
#include "slapd/http/server.h"
#include "slapd/durable_gate.h"
#include "slapd/identity_registry.h"
#include "slapd/long_poll.h"
#include "slapd/metrics.h"
#include "slapd/node_reports.h"

namespace slap::slapd {

struct ApiLimits {
  double requests_per_second = 5'000;  // per identity, token bucket
  double burst = 10'000;
  std::chrono::seconds max_wait{60};   // long-poll bound
  size_t ledger_page = 10'000;         // entries per /v1/ledger page
};

struct ApiContext {
  market::Market& market;
  market::Sequencer& sequencer;
  ledger::Ledger& ledger;
  IdentityRegistry& identities;
  const ca::CertificateAuthority& authority;
  LongPoll& long_poll;
  DurableGate& durable_gate;  // read replies wait here until what they show is durable
  Metrics& metrics;
  NodeReports& reports;
  ledger::Clock& clock;
  const ledger::SignedHead& signed_head;  // the latest signed checkpoint (GET /v1/ledger/head)
  ApiLimits limits;
  // How submit() wakes the sequencer: Wake::later when whoever runs the handlers calls
  // sequencer.wake() after each pass of its event loop (Master::serve arranges it).
  market::Sequencer::Wake submit_wake = market::Sequencer::Wake::now;
};

// Who is calling, as established by the certificate and the identity registry.
struct Caller {
  std::string subject;
  ca::IdentityKind kind = ca::IdentityKind::person;
  std::set<std::string> roles;
  std::string serial;  // of the certificate it presented: a deferred reply checks it is still valid
  bool has_role(const std::string& r) const { return roles.count(r) > 0 || roles.count("admin") > 0; }
  bool admin() const { return roles.count("admin") > 0; }
};

using Reply = http::Respond;

class Api {
 public:
  explicit Api(ApiContext ctx);
  void handle(http::Request&& request, http::Respond respond);

  // Used by the handler files (api/*.cc).
  ApiContext& ctx() { return ctx_; }

  // A computer's view rendered once per version and shared by every reader of that version.
  struct CachedView {
    uint64_t version = 0;
    uint64_t generation = 0;  // Market::generation() it was built in
    std::string etag;  // "\"<SHA-256 of the body, 32 hex digits>\""
    std::string body;
  };
  std::shared_ptr<const CachedView> computer_view(const std::string& guid);
  // Sends a command to the sequencer; `to_response` turns the durable outcome into the reply.
  void submit(market::Command command, Dialect d, Reply reply,
              std::function<http::Response(const market::Outcome&)> to_response);
  // Queues several commands in order; answers once all are decided: the first refusal, or
  // `to_response` with every outcome. (A refusal does not undo the commands before it.)
  void submit_all(std::vector<market::Command> commands, Dialect d, Reply reply,
                  std::function<http::Response(const std::vector<market::Outcome>&)> to_response);
  // Records `issued` (a new certificate of an instance, or a person's renewed one) and revokes
  // every other certificate its subject holds or is being given by a request not yet durable.
  // Computed and queued under one lock, so two concurrent requests cannot each leave a valid
  // certificate behind: the later one revokes the earlier's, which the queue holds before it.
  void submit_sole_certificate(const ubm::Identity& issued, Dialect d, Reply reply,
                               std::function<http::Response(const std::vector<market::Outcome>&)> to_response);

 private:
  bool rate_ok(const std::string& subject);
  void render_durable(Reply reply, Dialect d, std::function<http::Response()> render, int attempts = 3,
                      std::optional<uint64_t> generation = std::nullopt);
  void authenticated(http::Request& req, const std::string& path, const std::string& query, Route route, Dialect dialect, Reply reply);
  void route(const Caller& caller, http::Request& req, const std::string& path, const std::string& query, Reply reply);

  ApiContext ctx_;
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  std::mutex view_mu_;
  std::unordered_map<std::string, std::shared_ptr<const CachedView>> views_;
  std::mutex cert_mu_;
  std::unordered_map<std::string, std::vector<std::string>> certs_in_flight_;  // subject -> serials queued, not yet durable
  std::mutex rate_mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

// The command revoking one certificate (the ledger names it by subject and serial).
inline market::Command revocation(const std::string& subject, const std::string& serial) {
  return market::RecordIdentity{ubm::Identity{ubm::IdentityAction::revoke, subject, serial, "", {}, {}, ""}};
}

// Field helpers shared by the JSON-RPC handler files: on failure they reply (400/403) themselves.
namespace rpc {
http::Response forbidden(const std::string& why);
// A required string field; nullopt after replying 400 naming the field.
std::optional<std::string> need(const json::Body& body, std::string_view field, const Reply& reply, size_t max = 4096);
// Refuses keys outside `keys` (the API's additionalProperties: false); false after replying 400.
bool only(const json::Body& body, std::initializer_list<std::string_view> keys, const Reply& reply);
}  // namespace rpc

// Handler groups, one file each.
void rpc_client(Api& api, const Caller& caller, const std::string& verb, const json::Body& body, Reply reply);
void rpc_node(Api& api, const Caller& caller, const std::string& verb, const json::Body& body, Reply reply);
bool is_client_verb(const std::string& verb);
bool is_node_verb(const std::string& verb);
void billing_route(Api& api, const Caller& caller, http::Request& req, const std::string& path, const std::string& query, Reply reply);
void v1_route(Api& api, const Caller& caller, http::Request& req, const std::string& path, const std::string& query, Reply reply);

}  // namespace slap::slapd
