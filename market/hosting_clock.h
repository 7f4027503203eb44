#pragma once
// Projection: since when each instance has been running, as its node reported (the start of its
// open hosting interval). The market reads it when a node reports the instance stopped or
// destroyed, to record the closed interval as one `hosting/running` Movement (billing/entries.h).
// Folded from the recorded `report` facts, so a replay rebuilds it.
//
// Threading: as FactProjection (sequencer folds; `since_at` under the shared lock, any thread).
#include <map>
#include <optional>

#include "market/fact_projection.h"

namespace slap::market {

class HostingClock final : public FactProjection {
 public:
  std::string_view name() const override { return "market.hosting"; }
  std::optional<ubm::TimestampNs> since(std::string_view instance) const;  // sequencer thread
  std::optional<ubm::TimestampNs> since_at(std::string_view instance) const;  // any thread
  size_t running() const;

 protected:
  void fold(const Fact& fact) override;
  void write(ledger::SnapshotWriter& w) const override;
  bool read(ledger::SnapshotReader& r) override;
  void clear() override { since_.clear(); }

 private:
  std::map<std::string, int64_t, std::less<>> since_;  // instance -> started at (ns)
};

}  // namespace slap::market
