#pragma once
// The simulation's reference model of the whole master: what every acknowledged command must
// have left behind, kept with plain containers and brute force. Placement is the market
// simulation's model (tests/market/reference_model.h); this adds parties, certificates and usage.
// A value type: the simulation copies it before each batch to undo a batch that failed.
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "../market/reference_model.h"
#include "ubm/decimal.h"

namespace slap::sim {

struct Reference {
  market::testing::Model placement;
  std::vector<std::string> parties;           // registered persons, registration order (requesters)
  std::set<std::string> computers_registered;  // every computer id ever registered (an item forever)

  struct Certificate {
    std::string subject;
    bool revoked = false;
  };
  std::map<std::string, Certificate> certificates;  // serial ->
  uint64_t serials = 0;                             // issued so far (next serial)

  // What nodes reported, by instance guid: the last connection parameters (kept when freed), and
  // the reported state (back to none whenever the instance is given a partition).
  std::map<std::string, market::StringMap> connections;
  std::map<std::string, market::ReportedState> reported;

  std::set<std::string> journals;  // usage transactions accounted: computer|reference|start|stop
  std::map<std::pair<std::string, std::string>, ubm::Decimal> usage;  // (computer, resource) -> total
  // (computer, resource, payer) -> total of non-zero lines (UsageTally::payers)
  std::map<std::tuple<std::string, std::string, std::string>, ubm::Decimal> usage_payers;

  bool is_party(const std::string& id) const;
  // Registered in the ledger's directory: a party, a computer or an instance guid.
  bool is_registered(const std::string& id) const;
  // The computer an instance runs on: its partition's, or its host's for a shared instance.
  std::string location(const market::testing::Model::Instance& i) const;
};

}  // namespace slap::sim
