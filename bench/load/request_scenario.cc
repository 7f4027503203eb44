// request: JSON-RPC slapos.post.v0.software_instance from every connection, each request a new
// title, as one person, on capacity created beforehand; then the allocation audit. A pending answer
// (200 with the instance but no computer yet: no capacity left) is an error: the capacity is sized
// so that it never should happen.
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "bench/load/allocation_audit.h"
#include "bench/load/master_setup.h"
#include "bench/load/report.h"
#include "bench/load/scenarios.h"

namespace slap::load {

namespace {

constexpr size_t kMaxPartitionsPerComputer = 10'000;  // the master refuses larger formats

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// What one connection saw; only that connection's thread touches it during the run.
struct ConnectionLog {
  uint64_t sent = 0;
  uint64_t pending = 0;    // 200, the instance without a computer: waiting for capacity
  uint64_t other = 0;      // any other unexpected status, or a 200 without its fields
  std::vector<Allocation> allocations;
};

}  // namespace

int run_request(const Options& o) {
  if (o.partitions_per_computer == 0 || o.partitions_per_computer > kMaxPartitionsPerComputer) {
    throw std::runtime_error("--partitions must be 1.." + std::to_string(kMaxPartitionsPerComputer));
  }
  // Capacity for the whole run at a generous rate, so that running out is never the limit.
  const double seconds = std::chrono::duration<double>(o.duration).count();
  const auto wanted = static_cast<size_t>(std::ceil(std::max(1.0, seconds * o.capacity_rate)));
  const size_t n = (wanted + o.partitions_per_computer - 1) / o.partitions_per_computer;

  const auto t0 = Clock::now();
  MasterSetup setup(o.target, o.ca_pem, o.identity, o.setup_connections);
  const std::string release = fresh_release();
  const Identity person = setup.add_person("load-request");
  std::vector<std::string> guids;
  for (const auto& c : setup.register_computers(person, n)) guids.push_back(c.guid);
  const double registered = since(t0);
  setup.format(guids, o.partitions_per_computer);
  const double formatted = since(t0);
  setup.supply(person, guids, release);
  std::printf("setup: person=%s computers=%zu partitions_per_computer=%zu capacity=%zu release=%s\n", person.guid.c_str(), n,
              o.partitions_per_computer, n * o.partitions_per_computer, release.c_str());
  std::printf("setup_seconds: register=%.2f format=%.2f supply=%.2f\n", registered, formatted - registered, since(t0) - formatted);

  auto tls = client_tls(o.ca_pem, person);
  std::vector<ConnectionLog> logs(o.connections);
  std::string first_wrong;
  std::atomic<bool> noted{false};
  std::string answer;  // one allocation's answer, for --dump-answer (http_bench serves it from nginx)
  std::atomic<bool> kept{false};
  Plan plan;
  plan.endpoint = o.target.endpoint;
  plan.host = o.target.host;
  plan.tls = tls.get();
  plan.connections = o.connections;
  plan.threads = o.threads;
  plan.pipeline = o.pipeline;
  plan.duration = o.duration;
  plan.next = [&](size_t conn, Call& c) {
    c.method = boost::beast::http::verb::post;
    c.target = "/slapos.post.v0.software_instance";
    c.body = instance_request_body("load-" + std::to_string(conn) + "-" + std::to_string(logs[conn].sent++), release);
    return true;
  };
  plan.judge = [&](size_t conn, const Call&, Answer&& a) {
    auto& log = logs[conn];
    if (a.status == 200) {
      Allocation al;
      if (parse_allocation(a.body, al)) {
        if (!o.dump_answer.empty() && !kept.exchange(true)) answer = a.body;
        log.allocations.push_back(std::move(al));
        return true;
      }
    }
    if (a.status == 0) return false;  // transport failure: counted by the engine
    ++(a.status == 200 && a.body.find("\"access_status_message\":\"pending: ") != std::string::npos ? log.pending : log.other);
    if (!noted.exchange(true)) first_wrong = std::to_string(a.status) + " " + a.body.substr(0, 300);
    return false;
  };
  Outcome outcome = run(plan);
  if (!o.dump_answer.empty()) {
    if (!kept) throw std::runtime_error("no allocation answered: nothing to write to " + o.dump_answer);
    std::ofstream out(o.dump_answer, std::ios::binary | std::ios::trunc);
    out << answer;
    if (!out) throw std::runtime_error("cannot write " + o.dump_answer);
    std::printf("dumped an allocation's answer (%zu bytes) to %s\n", answer.size(), o.dump_answer.c_str());
  }

  std::vector<Allocation> all;
  uint64_t pending = 0, other = 0;
  for (auto& log : logs) {
    pending += log.pending;
    other += log.other;
    for (auto& a : log.allocations) all.push_back(std::move(a));
  }
  const auto audit_start = Clock::now();
  const AuditResult audit = audit_allocations(setup, person, guids, all);

  print_counters(outcome);
  std::printf("allocated=%zu pending=%" PRIu64 " other_status=%" PRIu64 "\n", all.size(), pending, other);
  if (noted) std::printf("first_unexpected_answer=%s\n", first_wrong.c_str());
  std::printf("audit: placed=%" PRIu64 " unacknowledged=%" PRIu64 " seconds=%.2f\n", audit.placed, audit.unacknowledged, since(audit_start));
  std::printf("lost=%" PRIu64 " duplicated=%" PRIu64 "\n", audit.lost, audit.duplicated);
  const Summary s = summarize(outcome, audit.lost + audit.duplicated);
  std::printf("%s\n", summary_line(s).c_str());
  return s.errors == 0 ? 0 : 3;
}

}  // namespace slap::load
