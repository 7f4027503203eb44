#include "slapd/api/api.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

namespace slap::slapd {

namespace bj = boost::json;

Api::Api(ApiContext ctx) : ctx_(std::move(ctx)) {}

bool Api::rate_ok(const std::string& subject) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(rate_mu_);
  auto [it, fresh] = buckets_.try_emplace(subject, Bucket{ctx_.limits.burst, now});
  Bucket& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min(ctx_.limits.burst, b.tokens + elapsed * ctx_.limits.requests_per_second);
    b.at = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

namespace {

// Routes whose handlers read the market's projections, which hold decisions before they are
// durable, as they run: their replies are held from the request's start (render_durable). Writes
// hold theirs from their rendering, once their own command is durable (submit, submit_all); the
// ledger's routes read the log.
bool reads_market(Route r) { return r == Route::jsonrpc_read || r == Route::v1_read || r == Route::v1_computer_view; }

// Runs a reply maker; an exception becomes a 500 (as the HTTP layer does for the makers it runs).
http::Response guarded(const std::function<http::Response()>& make) {
  try {
    return make();
  } catch (const std::exception& e) {
    spdlog::error("rendering a reply: {}", e.what());
    return http::Response{.status = 500, .body = R"({"error":"internal","detail":"see the master's log"})"};
  }
}

// What a write's held reply becomes when what it showed cannot be vouched for: its command is
// recorded, so never "retry" (a client repeating POST /v1/computers would register a second one).
http::Response committed_unconfirmed(Dialect d) {
  return error_response(d, 500, "committed_unconfirmed",
                        "the command was recorded, but its reply could not be vouched for (the master is stopping or its storage "
                        "failed): read the result back rather than repeating the command");
}

// What a read's held reply becomes when what it showed cannot be vouched for.
http::Response unavailable(Dialect d, DurableGate::Verdict v) {
  http::Response r = v == DurableGate::Verdict::moved
                         ? error_response(d, 503, "retry", "the master's state changed while answering (a write failed); ask again")
                         : error_response(d, 503, "unavailable", "the master is stopping, holds too many replies, or cannot read its ledger; ask again");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

Route classify(const std::string& path, boost::beast::http::verb method) {
  if (path == "/healthz") return Route::healthz;
  if (path == "/metrics") return Route::metrics;
  if (path.rfind("/slapos.", 0) == 0) {
    // Fetching an instance's certificate issues one (and revokes the others): a write, whatever
    // its verb's prefix says.
    if (path == "/slapos.get.v0.software_instance_certificate") return Route::jsonrpc_write;
    return path.rfind("/slapos.get.", 0) == 0 || path.rfind("/slapos.allDocs.", 0) == 0 ? Route::jsonrpc_read : Route::jsonrpc_write;
  }
  if (path.rfind("/v1/ledger", 0) == 0) return Route::ledger;
  if (path.rfind("/v1/computers/", 0) == 0 && method == boost::beast::http::verb::get) return Route::v1_computer_view;
  if (path.rfind("/v1/", 0) == 0) return method == boost::beast::http::verb::get ? Route::v1_read : Route::v1_write;
  return Route::not_found;
}

}  // namespace

void Api::handle(http::Request&& req, http::Respond respond) {
  const auto start = std::chrono::steady_clock::now();
  const auto q = req.target.find('?');
  const std::string path = req.target.substr(0, q);
  const std::string query = q == std::string::npos ? std::string() : req.target.substr(q + 1);
  const Route route = classify(path, req.method);
  const Dialect dialect = route == Route::jsonrpc_read || route == Route::jsonrpc_write ? Dialect::jsonrpc : Dialect::v1;
  auto observed = [this, start, route](http::Response r) {
    ctx_.metrics.observe(route, r.status, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    return r;
  };
  Reply::Post on_io = [respond](std::function<void()> fn) { respond.on_io(std::move(fn)); };
  if (reads_market(route)) {
    // The handler reads the projections as it runs: the generation is taken before it does, and
    // a rebuild meanwhile answers 503 (what the handler read cannot be read again here).
    const uint64_t generation = ctx_.market.generation();
    Reply send([observed, respond](http::Respond::Make make) { respond(observed(make())); }, on_io);
    Reply reply([this, generation, dialect, send](http::Respond::Make make) { render_durable(send, dialect, std::move(make), 1, generation); },
                on_io);
    return authenticated(req, path, query, route, dialect, std::move(reply));
  }
  Reply reply([observed, respond](http::Respond::Make make) { respond.later([observed, make = std::move(make)] { return observed(make()); }); },
              on_io);
  authenticated(req, path, query, route, dialect, std::move(reply));
}

// Renders a reply on the connection's I/O thread (never on the writing thread that may answer a
// handler) and sends it once what it shows is durable (durable_gate.h). A write's reply shows its
// durable outcome and often more of the projections (an instance's connection parameters, its
// allocation), which may hold the batches decided since: it waits like a read, and since its own
// command is done, a rebuild meanwhile means rendering it again (`attempts`), not refusing it.
// `generation`: taken when what is rendered was read, if before this (a read's handler).
void Api::render_durable(Reply reply, Dialect d, std::function<http::Response()> render, int attempts, std::optional<uint64_t> generation) {
  // A read's handler read the projections before this (and passes its generation); a write's
  // command is durable already.
  const bool write = !generation.has_value();
  reply.on_io([this, reply, d, render = std::move(render), attempts, generation, write]() mutable {
    const uint64_t g = generation.value_or(ctx_.market.generation());
    auto r = std::make_shared<http::Response>(guarded(render));
    ctx_.durable_gate.after(
        ctx_.market.folded_until(), g,
        [this, reply, d, render = std::move(render), attempts, r, write](DurableGate::Verdict v) mutable {
          if (v == DurableGate::Verdict::durable) return reply(std::move(*r));
          if (v == DurableGate::Verdict::moved && attempts > 1) return render_durable(reply, d, std::move(render), attempts - 1);
          reply(write ? committed_unconfirmed(d) : unavailable(d, v));
        },
        write);
  });
}

void Api::authenticated(http::Request& req, const std::string& path, const std::string& query, Route route, Dialect dialect, Reply reply) {
  if (route == Route::healthz) {
    if (ctx_.market.failed()) {  // a rebuild could not read the ledger: nothing is answered but this
      return reply(json_response(503, bj::object{{"status", "failed"}, {"ledger_head", ctx_.ledger.head().value()},
                                                 {"detail", "the market could not be rebuilt from its ledger; restart the master"}}));
    }
    if (!ctx_.ledger.writable()) {  // reads are answered; every write is refused until a restart
      return reply(json_response(503, bj::object{{"status", "read_only"}, {"ledger_head", ctx_.ledger.head().value()},
                                                 {"detail", "a ledger write failed and may or may not be on disk: every write is refused "
                                                            "until the master is restarted, which keeps it if it landed whole"}}));
    }
    return reply(json_response(200, bj::object{{"status", "ok"}, {"ledger_head", ctx_.ledger.head().value()}}));
  }
  // Authentication: a certificate from our CA, within its validity, known and not revoked.
  if (!req.peer) return reply(error_response(dialect, 401, "unauthorized", req.certificate_problem));
  const auto& peer = *req.peer;
  if (!ctx_.identities.valid(peer.serial_hex, peer.subject)) {
    return reply(error_response(dialect, 401, "unauthorized", "certificate " + peer.serial_hex + " is revoked or unknown"));
  }
  if (peer.not_after_ns != 0 && peer.not_after_ns < ctx_.clock.now().value()) {
    return reply(error_response(dialect, 401, "unauthorized", "certificate expired"));
  }
  if (!rate_ok(peer.subject)) return reply(error_response(dialect, 429, "too_many_requests", "rate limit for " + peer.subject));
  Caller caller{peer.subject, peer.kind, ctx_.identities.roles(peer.subject), peer.serial_hex};
  this->route(caller, req, path, query, std::move(reply));
}

void Api::route(const Caller& caller, http::Request& req, const std::string& path, const std::string& query, Reply reply) {
  using boost::beast::http::verb;
  if (path == "/metrics") {
    if (req.method != verb::get) return reply(error_response(Dialect::v1, 405, "method_not_allowed", "GET only"));
    http::Response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = ctx_.metrics.render([this](std::string& out) {
      const auto stats = ctx_.ledger.stats();
      out += "# TYPE slap_ledger_head gauge\nslap_ledger_head " + std::to_string(ctx_.ledger.head().value()) + "\n";
      out += "# TYPE slap_ledger_writable gauge\nslap_ledger_writable " + std::string(ctx_.ledger.writable() ? "1" : "0") + "\n";
      out += "# TYPE slap_ledger_appended_entries_total counter\nslap_ledger_appended_entries_total " + std::to_string(stats.entries) + "\n";
      out += "# TYPE slap_ledger_appended_bytes_total counter\nslap_ledger_appended_bytes_total " + std::to_string(stats.bytes) + "\n";
      out += "# TYPE slap_ledger_group_commit_writes_total counter\nslap_ledger_group_commit_writes_total " + std::to_string(stats.writes) + "\n";
      out += "# TYPE slap_ledger_group_commit_max_entries gauge\nslap_ledger_group_commit_max_entries " + std::to_string(stats.max_group_entries) + "\n";
      out += "# TYPE slap_ledger_rejected_total counter\nslap_ledger_rejected_total " + std::to_string(stats.rejected) + "\n";
      out += "# TYPE slap_sequencer_queued gauge\nslap_sequencer_queued " + std::to_string(ctx_.sequencer.queued()) + "\n";
      const auto seq = ctx_.sequencer.stats();
      out += "# TYPE slap_projection_checkpoints_total counter\nslap_projection_checkpoints_total " + std::to_string(seq.checkpoints) + "\n";
      out += "# TYPE slap_projection_checkpoint_failures_total counter\nslap_projection_checkpoint_failures_total " +
             std::to_string(seq.checkpoint_failures) + "\n";
      out += "# TYPE slap_projection_checkpoint_seconds_total counter\nslap_projection_checkpoint_seconds_total " +
             std::to_string(static_cast<double>(seq.checkpoint_ns) / 1e9) + "\n";
      out += "# TYPE slap_projection_checkpoint_write_seconds_total counter\nslap_projection_checkpoint_write_seconds_total " +
             std::to_string(static_cast<double>(seq.checkpoint_write_ns) / 1e9) + "\n";
      out += "# TYPE slap_projection_checkpoint_last_bytes gauge\nslap_projection_checkpoint_last_bytes " + std::to_string(seq.last_checkpoint_bytes) + "\n";
      out += "# TYPE slap_long_polls gauge\nslap_long_polls " + std::to_string(ctx_.long_poll.waiting()) + "\n";
      out += "# TYPE slap_instances gauge\nslap_instances " + std::to_string(ctx_.market.instances().size()) + "\n";
      out += "# TYPE slap_computers gauge\nslap_computers " + std::to_string(ctx_.market.computers().size()) + "\n";
    });
    return reply(std::move(r));
  }
  if (path.rfind("/slapos.", 0) == 0) {
    if (req.method != verb::post) return reply(error_response(Dialect::jsonrpc, 405, "method_not_allowed", "JSON-RPC verbs are POST"));
    const std::string verb_name = path.substr(1);
    json::FieldError error;
    auto body = json::Body::parse(req.body.empty() ? std::string_view("{}") : std::string_view(req.body), error);
    if (!body) return reply(bad_request(Dialect::jsonrpc, error));
    if (is_client_verb(verb_name)) return rpc_client(*this, caller, verb_name, *body, std::move(reply));
    if (is_node_verb(verb_name)) return rpc_node(*this, caller, verb_name, *body, std::move(reply));
    return reply(error_response(Dialect::jsonrpc, 404, "not_found", "no such verb: " + verb_name));
  }
  if (path.rfind("/v1/", 0) == 0) return v1_route(*this, caller, req, path, query, std::move(reply));
  reply(error_response(Dialect::v1, 404, "not_found", "no such path: " + path));
}

void Api::submit(market::Command command, Dialect d, Reply reply, std::function<http::Response(const market::Outcome&)> to_response) {
  auto shared_reply = std::make_shared<Reply>(std::move(reply));
  auto render = std::make_shared<std::function<http::Response(const market::Outcome&)>>(std::move(to_response));
  const bool queued = ctx_.sequencer.try_submit(std::move(command), [this, d, shared_reply, to_response = render](ubm::Result<market::Outcome> r) {
    // On the sequencer thread, after the write is durable: wake long polls, answer.
    ctx_.long_poll.notify();
    if (!r) return (*shared_reply)(rejection(d, r.error()));
    // Rendered on the connection's I/O thread, not here on the sequencer.
    render_durable(*shared_reply, d, [to_response, outcome = std::move(r.value())] { return (*to_response)(outcome); });
  }, ctx_.submit_wake);
  if (!queued) (*shared_reply)(error_response(d, 503, "overloaded", "the command queue is full; retry later"));
}

void Api::submit_all(std::vector<market::Command> commands, Dialect d, Reply reply,
                     std::function<http::Response(const std::vector<market::Outcome>&)> to_response) {
  // Queued back to back, so the sequencer decides them in this order (usually in one batch).
  struct Group {
    std::mutex mu;
    size_t remaining;
    std::vector<ubm::Result<market::Outcome>> results;
    std::optional<Reply> reply;
    std::function<http::Response(const std::vector<market::Outcome>&)> to_response;
  };
  auto g = std::make_shared<Group>();
  g->remaining = commands.size();
  g->results.assign(commands.size(), ubm::Result<market::Outcome>(ubm::make_error(ubm::Rejection::STORAGE_ERROR, "", "not decided")));
  g->reply.emplace(std::move(reply));
  g->to_response = std::move(to_response);
  // All queued or none: a 503 must mean that nothing of the request was written.
  std::vector<market::Sequencer::Callback> callbacks;
  callbacks.reserve(commands.size());
  for (size_t k = 0; k < commands.size(); ++k) {
    callbacks.emplace_back([this, d, g, k](ubm::Result<market::Outcome> r) {
      std::unique_lock lock(g->mu);
      g->results[k] = std::move(r);
      if (--g->remaining > 0) return;
      lock.unlock();
      ctx_.long_poll.notify();
      std::vector<market::Outcome> outcomes;
      for (auto& res : g->results) {
        if (!res) return (*g->reply)(rejection(d, res.error()));
        outcomes.push_back(res.value());
      }
      render_durable(*g->reply, d, [g, outcomes = std::move(outcomes)] { return g->to_response(outcomes); });
    });
  }
  if (!ctx_.sequencer.try_submit_all(std::move(commands), std::move(callbacks), ctx_.submit_wake)) {
    (*g->reply)(error_response(d, 503, "overloaded", "the command queue is full; retry later"));
  }
}

void Api::submit_sole_certificate(const ubm::Identity& issued, Dialect d, Reply reply,
                                     std::function<http::Response(const std::vector<market::Outcome>&)> to_response) {
  const std::string subject = issued.subject, serial = issued.serial;
  std::lock_guard lock(cert_mu_);
  auto& in_flight = certs_in_flight_[subject];
  // Those recorded since (or whose write failed and were never recorded) are known otherwise:
  // serials_of lists the recorded ones; a failed one is revoked below once more, harmlessly.
  std::erase_if(in_flight, [&](const std::string& s) { return ctx_.identities.certificate(s).has_value(); });
  std::vector<market::Command> commands{market::RecordIdentity{issued}};
  for (const auto& s : ctx_.identities.serials_of(subject)) commands.push_back(revocation(subject, s));
  for (const auto& s : in_flight) commands.push_back(revocation(subject, s));
  in_flight.push_back(serial);
  submit_all(std::move(commands), d, std::move(reply),
             [this, subject, serial, to_response = std::move(to_response)](const std::vector<market::Outcome>& all) {
               {
                 std::lock_guard l(cert_mu_);
                 if (auto it = certs_in_flight_.find(subject); it != certs_in_flight_.end()) {
                   std::erase(it->second, serial);
                   if (it->second.empty()) certs_in_flight_.erase(it);
                 }
               }
               return to_response(all);
             });
}

}  // namespace slap::slapd
