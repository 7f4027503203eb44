#pragma once
// The "projections equal a replay from scratch" check, without GoogleTest so that the
// whole-master simulation's command-line runner (tests/sim/) uses the same code as the tests.
#include <span>
#include <string>
#include <vector>

#include "ledger/ledger.h"

namespace slap::market::testing {

// Each projection's snapshot, in order.
inline std::vector<std::string> snapshots(std::span<ledger::Projection* const> projections) {
  std::vector<std::string> s;
  s.reserve(projections.size());
  for (auto* p : projections) s.push_back(p->snapshot());
  return s;
}

// Resets `fresh` (new, empty projections of the same kinds as the live ones), replays the whole
// stored log into them and returns their snapshots. The reader decides where the batches the
// projections are fed end (one entry at a time inline, up to 1,024 pipelined): the live
// projections saw the batches as they were written, so equal snapshots from both readers show a
// projection's state does not depend on batch boundaries.
inline ubm::Result<std::vector<std::string>> replayed_snapshots(const ledger::Storage& storage,
                                                                std::span<ledger::Projection* const> fresh,
                                                                ledger::ReplayReader reader = ledger::ReplayReader::pipelined) {
  auto r = ledger::replay(storage, fresh, {}, reader);
  if (!r) return r.error();
  return snapshots(fresh);
}

}  // namespace slap::market::testing
