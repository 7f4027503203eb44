#pragma once
// Random but reproducible commands for the whole master, each with the outcome the reference
// model predicts. Generating a command also applies its predicted effect to the model, as the
// market folds each decision before deciding the next command of a batch.
#include <random>
#include <string>

#include "ledger/clock.h"
#include "market/commands.h"
#include "reference.h"

namespace slap::sim {

struct Planned {
  market::Command command;
  bool accepted = false;  // the model's prediction (a no-op that is accepted counts as accepted)
  const char* what = "";  // for failure messages
};

class Workload {
 public:
  Workload(std::mt19937_64& rng, ledger::ManualClock& clock) : rng_(rng), clock_(clock) {}

  // The parties and computers' owner every stream starts with.
  static std::vector<market::Command> genesis(Reference& ref);
  Planned next(Reference& ref);

 private:
  int dice(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  template <typename T>
  const T& any(const std::vector<T>& v) { return v[static_cast<size_t>(dice(static_cast<int>(v.size())))]; }
  std::string some_computer() { return "COMP-" + std::to_string(dice(8)); }

  Planned party(Reference& ref);
  Planned register_computer(Reference& ref);
  Planned format(Reference& ref);
  Planned supply(Reference& ref);
  Planned request(Reference& ref);
  Planned report_state(Reference& ref);
  Planned report_connection(Reference& ref);
  Planned report_usage(Reference& ref);
  Planned identity(Reference& ref);
  Planned bang(Reference& ref);
  Planned rename(Reference& ref);
  Planned decide(Reference& ref);

  std::mt19937_64& rng_;
  ledger::ManualClock& clock_;
};

}  // namespace slap::sim
