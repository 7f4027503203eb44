#include "slapd/metrics.h"

namespace slap::slapd {

std::string_view to_string(Route r) {
  switch (r) {
    case Route::healthz: return "healthz";
    case Route::metrics: return "metrics";
    case Route::jsonrpc_read: return "jsonrpc_read";
    case Route::jsonrpc_write: return "jsonrpc_write";
    case Route::v1_computer_view: return "v1_computer_view";
    case Route::v1_write: return "v1_write";
    case Route::v1_read: return "v1_read";
    case Route::ledger: return "ledger";
    case Route::not_found: return "not_found";
    case Route::count: break;
  }
  return "?";
}

void Metrics::observe(Route route, unsigned status, double ms) {
  auto& r = routes_[static_cast<size_t>(route)];
  r.by_class[status_class(status)].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBucketsMs.size() && ms > kBucketsMs[b]) ++b;
  r.buckets[b].fetch_add(1, std::memory_order_relaxed);
  r.sum_us.fetch_add(static_cast<uint64_t>(ms * 1000), std::memory_order_relaxed);
  r.count.fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::render(const std::function<void(std::string&)>& gauges) const {
  std::string out;
  out += "# HELP slap_http_requests_total HTTP requests by route and status class.\n# TYPE slap_http_requests_total counter\n";
  for (size_t i = 0; i < routes_.size(); ++i) {
    for (size_t c = 1; c < 6; ++c) {
      const uint64_t n = routes_[i].by_class[c].load(std::memory_order_relaxed);
      if (n == 0) continue;
      out += "slap_http_requests_total{route=\"" + std::string(to_string(static_cast<Route>(i))) + "\",code=\"" + std::to_string(c) +
             "xx\"} " + std::to_string(n) + "\n";
    }
  }
  out += "# HELP slap_http_request_duration_ms Request latency.\n# TYPE slap_http_request_duration_ms histogram\n";
  for (size_t i = 0; i < routes_.size(); ++i) {
    const auto& r = routes_[i];
    const uint64_t count = r.count.load(std::memory_order_relaxed);
    if (count == 0) continue;
    const std::string route = std::string(to_string(static_cast<Route>(i)));
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBucketsMs.size(); ++b) {
      cumulative += r.buckets[b].load(std::memory_order_relaxed);
      const std::string le = b < kBucketsMs.size() ? std::to_string(kBucketsMs[b]) : "+Inf";
      out += "slap_http_request_duration_ms_bucket{route=\"" + route + "\",le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "slap_http_request_duration_ms_sum{route=\"" + route + "\"} " + std::to_string(r.sum_us.load() / 1000.0) + "\n";
    out += "slap_http_request_duration_ms_count{route=\"" + route + "\"} " + std::to_string(count) + "\n";
  }
  if (gauges) gauges(out);
  return out;
}

}  // namespace slap::slapd
