#pragma once
// The figures of a run and the one summary line every scenario ends with:
//   requests_per_s=… p50_ms=… p99_ms=… p999_ms=… errors=…
#include <cstdint>
#include <string>
#include <vector>

#include "bench/load/engine.h"

namespace slap::load {

struct Summary {
  double requests_per_s = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0;
  uint64_t requests = 0;
  uint64_t errors = 0;
};

// Sorts `latencies_us` in place (the nearest-rank percentiles need it).
Summary summarize(Outcome& outcome, uint64_t extra_errors = 0);

// Prints the counters of the run on their own lines (to stdout), then nothing else.
void print_counters(const Outcome& outcome);

// The last line of the tool's output.
std::string summary_line(const Summary& s);

}  // namespace slap::load
