#pragma once
// The one seam for time: the ledger never reads the wall clock itself (Envoy's TimeSource).
#include <atomic>
#include <chrono>

#include "ubm/ids.h"

namespace slap::ledger {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual ubm::TimestampNs now() = 0;
};

class SystemClock final : public Clock {
 public:
  ubm::TimestampNs now() override {
    return ubm::TimestampNs{std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count()};
  }
  static SystemClock& instance() {
    static SystemClock clock;
    return clock;
  }
};

// A clock tests move by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ns = 1'700'000'000'000'000'000) : now_(start_ns) {}
  ubm::TimestampNs now() override { return ubm::TimestampNs{now_.load()}; }
  void advance(std::chrono::nanoseconds d) { now_ += d.count(); }
  void set(int64_t ns) { now_ = ns; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace slap::ledger
