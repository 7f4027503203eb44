#pragma once
// The common shape of the market's projections: a ledger::Projection that folds market facts.
//
// Two ways in, one fold:
//  - from the ledger (apply): each entry is decoded (ubm::decode, then market::decode) and its fact
//    folded; entries that are not market movements are skipped. Replay takes this way only.
//  - from the Market's sequencer (apply_fact): the fact it just decided, folded at once so the next
//    decision of the same batch sees it. The Market then declares the sequence numbers those facts
//    will get (speculated_until); when the ledger feeds the written entries back, they are skipped.
//    If the write fails or lands elsewhere, the Market resets and replays (market.h).
//    Until the ledger has fed back everything speculated, the state is ahead of last_applied():
//    checkpoint() then declines (a checkpoint must hold exactly the entries up to its sequence).
//
// Threading: folding (apply, apply_fact, restore, reset) happens on one thread at a time and takes
// the lock exclusively; readers on other threads take it shared (see each projection's accessors).
#include <atomic>
#include <shared_mutex>

#include "ledger/projection.h"
#include "ledger/snapshot_codec.h"
#include "market/facts.h"

namespace slap::market {

class FactProjection : public ledger::Projection {
 public:
  void apply(std::span<const ledger::EntryView> entries) final;
  ubm::Seq last_applied() const final;
  std::string snapshot() const final;
  std::optional<std::pair<ubm::Seq, std::string>> checkpoint() const final;
  [[nodiscard]] ubm::Status restore(std::string_view snapshot, ubm::Seq last_applied) final;
  // Cut where write() marks its records (one per computer, instance...).
  std::vector<ledger::SnapshotRecord> records() const final;
  void reset() final;

  // Sequencer only.
  void apply_fact(const Fact& fact);
  void speculated_until(ubm::Seq seq);
  // Entries the ledger fed that were not market movements or failed to decode (the latter is a bug
  // or corruption: counted so tests can assert it stays 0).
  uint64_t undecodable() const { return undecodable_; }

 protected:
  virtual void fold(const Fact& fact) = 0;
  virtual void write(ledger::SnapshotWriter& w) const = 0;
  virtual bool read(ledger::SnapshotReader& r) = 0;  // false: malformed
  virtual void clear() = 0;

  mutable std::shared_mutex mu_;
  mutable std::atomic<size_t> last_checkpoint_bytes_{0};  // sizes the next checkpoint's buffer

 private:
  ubm::Seq last_{0};
  ubm::Seq speculated_{0};
  bool folding_ahead_ = false;  // facts folded whose sequence numbers are not declared yet
  uint64_t undecodable_ = 0;
};

}  // namespace slap::market
