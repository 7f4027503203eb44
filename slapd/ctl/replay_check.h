#pragma once
// `slapctl ledger replay --check`: rebuilds every projection that has a checkpoint in the ledger,
// from scratch and in memory, up to the seq that checkpoint covers, and compares the two states
// record by record (Projection::records). Read-only on the storage.
#include <functional>
#include <string>
#include <vector>

#include "ledger/storage.h"
#include "ubm/ids.h"

namespace slap::ctl {

struct ProjectionDifference {
  std::string projection;
  std::string key;   // the record ("computer COMP-1"), or "(checkpoint)" for the checkpoint as a whole
  std::string what;  // "differs", "only in the checkpoint", ...
};

struct ReplayCheckReport {
  uint64_t entries = 0;       // replayed from the log
  uint64_t projections = 0;   // checkpoints compared
  uint64_t records = 0;       // records compared
  std::vector<ProjectionDifference> differences;  // empty: every checkpoint equals its rebuild
  // Checkpoints in an older format of their projection (a master of an earlier version wrote
  // them): the master ignores them, rebuilds from the log and writes the current format at its
  // next checkpoint; nothing to compare, and no difference. `what` says which versions.
  std::vector<ProjectionDifference> older;
  bool ok() const { return differences.empty(); }
};

// A storage or log error (the log itself cannot be read) is an error; differences are data.
[[nodiscard]] ubm::Result<ReplayCheckReport> replay_check(const ledger::Storage& storage,
                                                          const std::function<void(ubm::Seq)>& progress = {});

}  // namespace slap::ctl
