#pragma once
// A projection is a state machine fed by the log (Redpanda's state_machine_base): it applies
// entries in order, remembers the last one applied, and can be snapshotted and restored so a
// restart replays only the tail. Replay never re-decides anything: it applies recorded entries.
//
// Threading: apply/restore/reset are called by one thread at a time (the ledger's writer or the
// replayer). Readers on other threads must be synchronised by the projection itself.
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <string_view>

#include "ledger/entry.h"
#include "ubm/error.h"

namespace slap::ledger {

class Projection {
 public:
  virtual ~Projection() = default;
  // Unique and stable: it keys the checkpoint.
  virtual std::string_view name() const = 0;
  // Entries are consecutive and start right after last_applied().
  virtual void apply(std::span<const EntryView> entries) = 0;
  virtual ubm::Seq last_applied() const = 0;
  // Deterministic bytes: two projections that applied the same entries give equal snapshots.
  virtual std::string snapshot() const = 0;
  // Replaces the state with a snapshot taken at `last_applied`. A malformed snapshot is an error
  // and leaves the projection reset.
  [[nodiscard]] virtual ubm::Status restore(std::string_view snapshot, ubm::Seq last_applied) = 0;
  // Back to the empty state (nothing applied).
  virtual void reset() = 0;
  // (last_applied, snapshot) taken together, for a checkpoint; nullopt when the state is not, right
  // now, a function of the applied entries alone (market/fact_projection.h folds decisions ahead
  // of the log while they are being written). The ledger then keeps the previous checkpoint, which
  // stays valid: a restart replays from it.
  virtual std::optional<std::pair<ubm::Seq, std::string>> checkpoint() const { return std::pair{last_applied(), snapshot()}; }
};

}  // namespace slap::ledger
