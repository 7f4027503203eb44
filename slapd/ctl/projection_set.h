#pragma once
// Every projection the master maintains, built fresh: what `ledger replay` rebuilds and compares.
#include <memory>
#include <vector>

#include "ledger/balances.h"
#include "ledger/directory.h"

namespace slap::ctl {

struct ProjectionSet {
  ledger::Directory directory;
  ledger::Balances balances;
  std::vector<ledger::Projection*> all() { return {&directory, &balances}; }
  // Those the ledger does not own itself (it always keeps its own directory).
  std::vector<ledger::Projection*> extra() { return {&balances}; }
};

}  // namespace slap::ctl
