#include "bench/load/report.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace slap::load {

namespace {

// Nearest-rank percentile of sorted samples, in milliseconds.
double percentile_ms(const std::vector<uint32_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1] / 1000.0;
}

}  // namespace

Summary summarize(Outcome& outcome, uint64_t extra_errors) {
  std::sort(outcome.latencies_us.begin(), outcome.latencies_us.end());
  Summary s;
  s.requests = outcome.requests;
  s.errors = outcome.errors + extra_errors;
  s.requests_per_s = outcome.seconds > 0 ? static_cast<double>(outcome.requests) / outcome.seconds : 0;
  s.p50_ms = percentile_ms(outcome.latencies_us, 0.50);
  s.p99_ms = percentile_ms(outcome.latencies_us, 0.99);
  s.p999_ms = percentile_ms(outcome.latencies_us, 0.999);
  return s;
}

void print_counters(const Outcome& o) {
  std::printf("requests=%" PRIu64 " seconds=%.3f transport_errors=%" PRIu64 " reconnects=%" PRIu64 "\n", o.requests, o.seconds,
              o.transport_errors, o.reconnects);
  if (!o.first_transport_error.empty()) std::printf("first_transport_error=%s\n", o.first_transport_error.c_str());
}

std::string summary_line(const Summary& s) {
  char line[256];
  std::snprintf(line, sizeof line, "requests_per_s=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%" PRIu64, s.requests_per_s, s.p50_ms,
                s.p99_ms, s.p999_ms, s.errors);
  return line;
}

}  // namespace slap::load
