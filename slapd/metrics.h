#pragma once
// Counters and latency histograms in the Prometheus text format (/metrics). Lock-free on the hot
// path: fixed routes and status classes are arrays of atomics.
#include <array>
#include <atomic>
#include <functional>
#include <string>

namespace slap::slapd {

enum class Route : uint8_t { healthz, metrics, jsonrpc_read, jsonrpc_write, v1_computer_view, v1_write, v1_read, ledger, not_found, count };
std::string_view to_string(Route r);

class Metrics {
 public:
  static constexpr std::array<double, 12> kBucketsMs = {0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 500, 1000, 5000};

  void observe(Route route, unsigned status, double ms);
  // Extra gauges rendered at scrape time (ledger head, pending requests, group commit...).
  std::string render(const std::function<void(std::string&)>& gauges) const;

 private:
  static size_t status_class(unsigned status) { return status / 100 < 6 ? status / 100 : 5; }
  struct PerRoute {
    std::array<std::atomic<uint64_t>, 6> by_class{};  // 1xx..5xx
    std::array<std::atomic<uint64_t>, kBucketsMs.size() + 1> buckets{};
    std::atomic<uint64_t> sum_us{0};
    std::atomic<uint64_t> count{0};
  };
  std::array<PerRoute, static_cast<size_t>(Route::count)> routes_;
};

}  // namespace slap::slapd
