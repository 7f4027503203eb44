#include "slapd/durable_gate.h"

namespace slap::slapd {

DurableGate::DurableGate(DurableGateSources sources, size_t max_waiters) : sources_(std::move(sources)), max_(max_waiters) {}

DurableGate::~DurableGate() { close(); }

void DurableGate::after(uint64_t bound, uint64_t generation, Fire fire) {
  bool durable = false;
  {
    // Checked under the lock notify() scans with: a write that lands after this check notifies
    // after the waiter is parked, so none is missed.
    std::lock_guard lock(mu_);
    if (closed_ || sources_.generation() != generation || waiters_.size() >= max_) {
      durable = false;  // refused at once
    } else if (sources_.durable_head() >= bound) {
      durable = true;
    } else {
      waiters_.push_back(Waiter{bound, generation, std::move(fire)});
      return;
    }
  }
  fire(durable);
}

void DurableGate::notify() {
  std::vector<std::pair<Fire, bool>> due;
  {
    std::lock_guard lock(mu_);
    if (waiters_.empty()) return;
    const uint64_t head = sources_.durable_head();
    const uint64_t generation = sources_.generation();
    std::erase_if(waiters_, [&](Waiter& w) {
      const bool moved = w.generation != generation;
      if (!moved && head < w.bound) return false;
      due.emplace_back(std::move(w.fire), !moved);
      return true;
    });
  }
  for (auto& [fire, durable] : due) fire(durable);
}

void DurableGate::close() {
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    waiters.swap(waiters_);
  }
  for (auto& w : waiters) w.fire(false);
}

size_t DurableGate::waiting() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

}  // namespace slap::slapd
