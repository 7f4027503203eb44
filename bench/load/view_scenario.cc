// view and view304: GET /v1/computers/{guid} of a computer with 100 partitions all allocated, as
// that computer (what slapnode polls); view304 sends If-None-Match with the current ETag, so every
// answer must be 304.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "bench/load/master_setup.h"
#include "bench/load/report.h"
#include "bench/load/scenarios.h"

namespace slap::load {

namespace {

constexpr size_t kViewPartitions = 100;

struct ViewFixture {
  Identity computer;
  std::string body;
  std::string etag;
};

ViewFixture prepare(const Options& o) {
  MasterSetup setup(o.target, o.ca_pem, o.identity, o.setup_connections);
  const std::string release = fresh_release();
  const Identity person = setup.add_person("load-view");
  auto computers = setup.register_computers(person, 1);
  const std::string guid = computers[0].guid;
  setup.format({guid}, kViewPartitions);
  setup.supply(person, {guid}, release);
  std::vector<std::string> titles;
  for (size_t k = 0; k < kViewPartitions; ++k) titles.push_back("view-" + std::to_string(k));
  for (const auto& a : setup.request_instances(person, titles, release)) {
    if (a.computer_guid != guid) throw std::runtime_error("instance " + a.instance_guid + " landed on " + a.computer_guid + ", not " + guid);
  }
  auto view = setup.batch(computers[0], {Call{boost::beast::http::verb::get, "/v1/computers/" + guid, "", "", 0}});
  if (view[0].status != 200 || view[0].etag.empty()) throw std::runtime_error("GET /v1/computers/" + guid + ": " + std::to_string(view[0].status) + " " + view[0].body.substr(0, 400));
  std::printf("setup: person=%s computer=%s partitions=%zu release=%s\n", person.guid.c_str(), guid.c_str(), kViewPartitions, release.c_str());
  std::printf("view_bytes=%zu etag=%s\n", view[0].body.size(), view[0].etag.c_str());
  return ViewFixture{computers[0], view[0].body, view[0].etag};
}

}  // namespace

int run_view(const Options& o, bool conditional) {
  const ViewFixture f = prepare(o);
  if (!o.dump_view.empty()) {
    std::ofstream out(o.dump_view, std::ios::binary | std::ios::trunc);
    out << f.body;
    if (!out) throw std::runtime_error("cannot write " + o.dump_view);
    std::printf("dumped the view to %s\n", o.dump_view.c_str());
  }
  if (o.setup_only) return 0;

  auto tls = client_tls(o.ca_pem, f.computer);
  const std::string target = "/v1/computers/" + f.computer.guid;
  const unsigned expected = conditional ? 304 : 200;
  std::string first_wrong;  // written once, by whichever thread sees a wrong answer first
  std::atomic<bool> noted{false};
  Plan plan;
  plan.endpoint = o.target.endpoint;
  plan.host = o.target.host;
  plan.tls = tls.get();
  plan.connections = o.connections;
  plan.threads = o.threads;
  plan.pipeline = o.pipeline;
  plan.duration = o.duration;
  plan.next = [&](size_t, Call& c) {
    c.target = target;
    if (conditional) c.if_none_match = f.etag;
    return true;
  };
  plan.judge = [&](size_t, const Call&, Answer&& a) {
    // A 200 must carry the whole view (the same bytes, nothing changed it during the run).
    const bool ok = a.status == expected && (conditional || a.body.size() == f.body.size());
    if (!ok && a.status != 0 && !noted.exchange(true)) first_wrong = std::to_string(a.status) + " " + a.body.substr(0, 300);
    return ok;
  };
  Outcome outcome = run(plan);
  print_counters(outcome);
  if (noted) std::printf("first_unexpected_answer=%s\n", first_wrong.c_str());
  const Summary s = summarize(outcome);
  std::printf("%s\n", summary_line(s).c_str());
  return s.errors == 0 ? 0 : 3;
}

}  // namespace slap::load
