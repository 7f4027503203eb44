#pragma once
// Every projection a ledger may hold checkpoints for, built fresh: what `ledger replay` rebuilds and
// `ledger replay --check` compares. A master's ledger checkpoints the directory, the market's
// projections, the identities and the signed head; a demo ledger the directory and balances.
#include <memory>
#include <vector>

#include "ledger/balances.h"
#include "ledger/directory.h"
#include "ledger/signed_head.h"
#include "market/market.h"
#include "slapd/identity_registry.h"

namespace slap::ctl {

struct ProjectionSet {
  ledger::Directory directory;
  ledger::Balances balances;
  market::Market market;
  slapd::IdentityRegistry identities;
  ledger::SignedHead signed_head;

  std::vector<ledger::Projection*> all() {
    std::vector<ledger::Projection*> out{&directory, &balances};
    for (auto* p : market.projections()) out.push_back(p);
    out.push_back(&identities);
    out.push_back(&signed_head);
    return out;
  }
  // The demo's projections: the directory and balances.
  std::vector<ledger::Projection*> demo() { return {&directory, &balances}; }
  // Those the ledger does not own itself (it always keeps its own directory).
  std::vector<ledger::Projection*> extra() { return {&balances}; }
};

}  // namespace slap::ctl
