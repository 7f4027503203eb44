#pragma once
// Read replies held until what they show is durable. The market folds its decisions into the
// projections while deciding, a group commit before they reach the disk; a reply rendered from
// them meanwhile could show a node an allocation that a failed write, or a crash, then takes back,
// and the node would act on it. A reply therefore leaves only once the ledger's durable head
// reaches the bound of what was folded when it was rendered (Market::folded_until), and only if
// the market was not rebuilt since the request began (Market::generation: a rebuild follows a
// failed write, and new decisions then reuse its sequence numbers).
//
//   DurableGate gate({.durable_head = ..., .generation = ...});
//   const uint64_t g = market.generation();            // before reading anything
//   Response r = render();                              // reads the projections
//   gate.after(market.folded_until(), g, [r](bool durable) { send(durable ? r : retry_later); });
//   ... after each write: gate.notify();                // SequencerOptions::after_write
//
// Idle, or when the write already landed, `after` fires at once on the caller's thread. Otherwise
// it fires from notify() (the writing thread): keep `fire` short (post the reply, no rendering).
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace slap::slapd {

struct DurableGateSources {
  std::function<uint64_t()> durable_head;  // the ledger's head: everything up to it is durable
  std::function<uint64_t()> generation;    // changes whenever decisions may have been undone
};

class DurableGate {
 public:
  using Fire = std::function<void(bool durable)>;  // false: the state read may have been undone, or closing
  explicit DurableGate(DurableGateSources sources, size_t max_waiters = 100'000);
  ~DurableGate();  // close()
  DurableGate(const DurableGate&) = delete;
  DurableGate& operator=(const DurableGate&) = delete;

  // Fires once: true when the head reaches `bound` and the generation is still `generation`;
  // false as soon as the generation moves, when more than max_waiters already wait, or on close().
  void after(uint64_t bound, uint64_t generation, Fire fire);
  void notify();
  // Fires every waiter with false and every later `after` too.
  void close();
  size_t waiting() const;

 private:
  struct Waiter {
    uint64_t bound, generation;
    Fire fire;
  };
  DurableGateSources sources_;
  size_t max_;
  mutable std::mutex mu_;
  std::vector<Waiter> waiters_;
  bool closed_ = false;
};

}  // namespace slap::slapd
