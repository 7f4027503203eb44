// slap_load: HTTP load generator for the master (and for the nginx baseline).
//   slap_load --master https://127.0.0.1:PORT --cert F --key F --ca F
//             --scenario view|view304|request --connections N --seconds S [--threads T] [--pipeline P]
//   slap_load --url https://127.0.0.1:PORT/view.json --cert F --key F --ca F --scenario static ...
// Sets up what the scenario needs with the given (admin) certificate, runs the load, prints its
// set-up and counters, and ends with one line:
//   requests_per_s=… p50_ms=… p99_ms=… p999_ms=… errors=…
// Exit status: 0 no error, 3 the run completed with errors, 1 set-up failed, 2 usage.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <stdexcept>

#include "bench/load/scenarios.h"

int main(int argc, char** argv) {
  using namespace slap::load;
  CLI::App app{"slap_load — HTTPS load generator for slapmaster (client certificates, keep-alive, closed loop)"};
  std::string master, url, cert, key, ca;
  double seconds = 10;
  Options o;
  app.add_option("--master", master, "https://HOST:PORT of the master (view, view304, request)");
  app.add_option("--url", url, "https://HOST:PORT/PATH to GET (static)");
  app.add_option("--cert", cert, "Client certificate (PEM): the master's admin certificate")->required()->check(CLI::ExistingFile);
  app.add_option("--key", key, "Its private key (PEM)")->required()->check(CLI::ExistingFile);
  app.add_option("--ca", ca, "The master's CA certificate (PEM)")->required()->check(CLI::ExistingFile);
  app.add_option("--scenario", o.scenario, "What to measure")->required()->check(CLI::IsMember({"view", "view304", "request", "static"}));
  app.add_option("--connections", o.connections, "Concurrent keep-alive connections")->check(CLI::Range(size_t{1}, size_t{10'000}));
  app.add_option("--seconds", seconds, "Duration of the load")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--threads", o.threads, "Client threads the connections are spread over")->check(CLI::Range(1u, 64u));
  app.add_option("--pipeline", o.pipeline, "Requests in flight per connection (HTTP/1.1 pipelining)")->check(CLI::Range(size_t{1}, size_t{64}));
  app.add_option("--setup-connections", o.setup_connections, "Connections for the set-up calls")->check(CLI::Range(size_t{1}, size_t{256}));
  app.add_option("--dump-view", o.dump_view, "view/view304: write the computer view's body to this file");
  app.add_option("--dump-answer", o.dump_answer, "request: write the body of one allocation's answer to this file");
  app.add_flag("--setup-only", o.setup_only, "view/view304: set up (and dump the view), then stop without load");
  app.add_option("--capacity-rate", o.capacity_rate, "request: size the capacity for this many allocations per second")->check(CLI::Range(1.0, 1e6));
  app.add_option("--partitions", o.partitions_per_computer, "request: partitions per computer")->check(CLI::Range(size_t{1}, size_t{10'000}));
  CLI11_PARSE(app, argc, argv);
  o.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(seconds));

  const bool is_static = o.scenario == "static";
  if (is_static ? url.empty() : master.empty()) {
    std::fprintf(stderr, "slap_load: --scenario %s needs %s\n", o.scenario.c_str(), is_static ? "--url" : "--master");
    return 2;
  }
  try {
    o.target = parse_url(is_static ? url : master);
    o.ca_pem = read_text(ca);
    o.identity = Identity{"admin", read_text(cert), read_text(key)};
    std::printf("scenario=%s connections=%zu pipeline=%zu threads=%u seconds=%g target=%s\n", o.scenario.c_str(), o.connections, o.pipeline, o.threads, seconds,
                (is_static ? url : master).c_str());
    std::fflush(stdout);
    if (o.scenario == "view") return run_view(o, false);
    if (o.scenario == "view304") return run_view(o, true);
    if (o.scenario == "request") return run_request(o);
    return run_static(o);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "slap_load: %s\n", e.what());
    return 1;
  }
}
