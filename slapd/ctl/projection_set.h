#pragma once
// Every projection the master maintains, built fresh: what `ledger replay` rebuilds and compares.
#include <memory>
#include <vector>

#include "billing/projection.h"
#include "ledger/balances.h"
#include "ledger/directory.h"

namespace slap::ctl {

struct ProjectionSet {
  ledger::Directory directory;
  ledger::Balances balances;
  billing::BillingProjection billing;  // day lines, roll-ups, price lists (checkpointed by the master)
  std::vector<ledger::Projection*> all() { return {&directory, &balances, &billing}; }
  // Those the ledger does not own itself (it always keeps its own directory).
  std::vector<ledger::Projection*> extra() { return {&balances, &billing}; }
};

}  // namespace slap::ctl
