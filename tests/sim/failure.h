#pragma once
// How the simulation reports a broken invariant: an exception carrying what was wrong, caught
// where the seed and step are known (the test and slap_sim print both).
#include <stdexcept>
#include <string>

namespace slap::sim {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void require(bool ok, const std::string& what) {
  if (!ok) throw Failure(what);
}

}  // namespace slap::sim
