// static: a plain GET of one URL, no set-up — the nginx baseline serving the view's bytes as a file.
#include <atomic>
#include <cstdio>
#include <stdexcept>

#include "bench/load/report.h"
#include "bench/load/scenarios.h"

namespace slap::load {

int run_static(const Options& o) {
  auto tls = client_tls(o.ca_pem, o.identity);
  size_t bytes = 0;  // of the first answer; every later one must match
  std::string first_wrong;
  std::atomic<bool> noted{false};
  // Learn the size first, outside the timed run.
  {
    Plan probe;
    probe.endpoint = o.target.endpoint;
    probe.host = o.target.host;
    probe.tls = tls.get();
    bool sent = false;
    probe.next = [&](size_t, Call& c) {
      if (sent) return false;
      c.target = o.target.path;
      return sent = true;
    };
    Answer first;
    probe.judge = [&](size_t, const Call&, Answer&& a) {
      first = std::move(a);
      return true;
    };
    run(probe);
    if (first.status != 200) throw std::runtime_error("GET " + o.target.path + ": " + std::to_string(first.status) + " " + first.error + first.body.substr(0, 300));
    bytes = first.body.size();
    std::printf("static_bytes=%zu url_path=%s\n", bytes, o.target.path.c_str());
  }
  Plan plan;
  plan.endpoint = o.target.endpoint;
  plan.host = o.target.host;
  plan.tls = tls.get();
  plan.connections = o.connections;
  plan.threads = o.threads;
  plan.pipeline = o.pipeline;
  plan.duration = o.duration;
  plan.next = [&](size_t, Call& c) {
    c.target = o.target.path;
    return true;
  };
  plan.judge = [&](size_t, const Call&, Answer&& a) {
    const bool ok = a.status == 200 && a.body.size() == bytes;
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
