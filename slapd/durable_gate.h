#pragma once
// Replies held until what they show is durable. The market folds its decisions into the
// projections while deciding, a group commit before they reach the disk; a reply rendered from
// them meanwhile could show a node an allocation, or a client connection parameters, that a failed
// write or a crash then takes back, and they would act on it. A reply therefore leaves only once
// the ledger's durable head reaches the bound of what was folded when it was rendered
// (Market::folded_until), and only if the market was not rebuilt since it began reading
// (Market::generation: a rebuild follows a failed write, and new decisions then reuse its sequence
// numbers; the generation is odd while the rebuild runs, when the projections are half-built).
//
//   const uint64_t g = market.generation();            // before reading anything
//   Response r = render();                              // reads the projections
//   gate.after(market.folded_until(), g, [r](DurableGate::Verdict v) { ... });
//   ... after each write and after each rebuild: gate.notify();   // SequencerOptions::after_write
//
// When nothing waits to be written, `after` decides at once on the caller's thread. Otherwise the
// verdict comes from notify() (the writing thread): keep the callback short (post, don't render).
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace slap::slapd {

struct DurableGateSources {
  std::function<uint64_t()> durable_head;  // the ledger's head: everything up to it is durable
  std::function<uint64_t()> generation;    // moves whenever decisions may have been undone; odd while rebuilding
  std::function<bool()> failed;            // optional: the state cannot be vouched for at all (a rebuild failed)
};

class DurableGate {
 public:
  enum class Verdict {
    durable,  // what was read is on disk: send it
    moved,    // the market was rebuilt since: what was read may have been undone (render again, or 503)
    refused,  // closing, too many replies held already, or the state cannot be vouched for (failed)
  };
  using Fire = std::function<void(Verdict)>;
  explicit DurableGate(DurableGateSources sources, size_t max_waiters = 100'000);
  ~DurableGate();  // close()
  DurableGate(const DurableGate&) = delete;
  DurableGate& operator=(const DurableGate&) = delete;

  // Fires once with the verdict on what was read in `generation` with `bound` folded. A write's
  // reply (`write`: its command is durable already) is never refused for the number of replies
  // held: the command queue bounds writes, and a refusal would tell the client to repeat a command
  // that was recorded.
  void after(uint64_t bound, uint64_t generation, Fire fire, bool write = false);
  void notify();
  // Fires every waiter with `refused`, and every later `after` too.
  void close();
  size_t waiting() const;

 private:
  struct Waiter {
    uint64_t bound, generation;
    Fire fire;
  };
  // nullopt: keep waiting.
  std::optional<Verdict> verdict(uint64_t bound, uint64_t generation, uint64_t head, uint64_t now, bool failed) const;
  bool failed() const { return sources_.failed && sources_.failed(); }
  DurableGateSources sources_;
  size_t max_;
  mutable std::mutex mu_;
  std::vector<Waiter> waiters_;
  bool closed_ = false;
};

}  // namespace slap::slapd
