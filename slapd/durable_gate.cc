#include "slapd/durable_gate.h"

#include <optional>

namespace slap::slapd {

DurableGate::DurableGate(DurableGateSources sources, size_t max_waiters) : sources_(std::move(sources)), max_(max_waiters) {}

DurableGate::~DurableGate() { close(); }

std::optional<DurableGate::Verdict> DurableGate::verdict(uint64_t bound, uint64_t generation, uint64_t head, uint64_t now,
                                                          bool failed) const {
  if (failed) return Verdict::refused;  // a rebuild failed: the generation stays odd, nothing would end the wait
  if (now != generation) return Verdict::moved;
  if (now % 2 == 1) return std::nullopt;  // read during a rebuild: its end moves the generation
  if (head >= bound) return Verdict::durable;
  return std::nullopt;
}

void DurableGate::after(uint64_t bound, uint64_t generation, Fire fire, bool write) {
  Verdict v = Verdict::refused;
  {
    // Decided under the lock notify() scans with: a write that lands after this check notifies
    // after the waiter is parked, so none is missed.
    std::lock_guard lock(mu_);
    if (!closed_) {
      // The head first, then the generation (as in notify): a number a rebuild let new decisions
      // reuse is seen with the generation that moved.
      const uint64_t head = sources_.durable_head();
      const bool down = failed();  // before the generation: a rebuild moves it before it clears failed
      auto now = verdict(bound, generation, head, sources_.generation(), down);
      if (!now && (write || waiters_.size() < max_)) {
        waiters_.push_back(Waiter{bound, generation, std::move(fire)});
        return;
      }
      if (now) v = *now;
    }
  }
  fire(v);
}

void DurableGate::notify() {
  std::vector<std::pair<Fire, Verdict>> due;
  {
    std::lock_guard lock(mu_);
    if (waiters_.empty()) return;
    const uint64_t head = sources_.durable_head();
    const bool down = failed();  // before the generation, as in after()
    const uint64_t generation = sources_.generation();
    std::erase_if(waiters_, [&](Waiter& w) {
      auto v = verdict(w.bound, w.generation, head, generation, down);
      if (!v) return false;
      due.emplace_back(std::move(w.fire), *v);
      return true;
    });
  }
  for (auto& [fire, v] : due) fire(v);
}

void DurableGate::close() {
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    waiters.swap(waiters_);
  }
  for (auto& w : waiters) w.fire(Verdict::refused);
}

size_t DurableGate::waiting() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

}  // namespace slap::slapd
