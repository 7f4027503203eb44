#pragma once
// The scenarios of slap_load. Each sets up what it needs, runs the load, prints its set-up and
// counters on their own lines and ends with the summary line; it returns the process exit code
// (0: no error, 3: the run completed with errors). Set-up failures throw std::runtime_error.
#include <chrono>
#include <cstddef>
#include <string>

#include "bench/load/tls.h"
#include "bench/load/url.h"

namespace slap::load {

struct Options {
  std::string scenario;
  Url target;  // the master, or the static URL
  std::string ca_pem;
  Identity identity;  // the admin (set-up) or, for `static`, whoever the server accepts
  size_t connections = 64;
  unsigned threads = 1;
  size_t pipeline = 1;  // requests in flight per connection (HTTP/1.1 pipelining)
  std::chrono::nanoseconds duration{std::chrono::seconds(10)};
  size_t setup_connections = 8;
  std::string dump_view;   // view/view304: write the view's body here
  std::string dump_answer;  // request: write the body of one allocation's answer here
  bool setup_only = false;  // view/view304: set up (and dump), no load, no summary line
  double capacity_rate = 40'000;  // request: allocations/s the capacity is sized for
  size_t partitions_per_computer = 100;
};

int run_view(const Options& o, bool conditional);  // view, view304
int run_static(const Options& o);                  // static
int run_request(const Options& o);                 // request

}  // namespace slap::load
