// The seeded whole-master simulation on a fixed set of seeds (label sim). A failure names the seed
// and the step; `SLAP_SIM_SEED=<n>` here, or `build/bin/slap_sim --seed <n> --steps <m>`, reruns it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "simulation.h"

namespace slap::sim {
namespace {

constexpr uint64_t kSeeds = 16;
constexpr int kSteps = 500;

TEST(MasterSimulation, FixedSeedsKeepEveryInvariantUnderFaults) {
  uint64_t first = 1, count = kSeeds;
  if (const char* env = std::getenv("SLAP_SIM_SEED")) {
    first = std::strtoull(env, nullptr, 10);
    count = 1;
  }
  SimStats total;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    Simulation sim(seed, SimOptions{.steps = kSteps});
    try {
      sim.run();
    } catch (const Failure& f) {
      FAIL() << "seed " << seed << ", " << f.what() << "\n  rerun: SLAP_SIM_SEED=" << seed
             << " ctest -L sim, or build/bin/slap_sim --seed " << seed << " --steps " << kSteps;
    }
    total.add(sim.stats());
  }
  std::printf("%llu seeds x %d steps: %llu commands, %llu acknowledged, %llu refused, %llu storage errors; faults: %llu failed writes, "
              "%llu torn writes, %llu crashes, %llu torn checkpoints; %llu restarts\n",
              static_cast<unsigned long long>(count), kSteps, static_cast<unsigned long long>(total.commands),
              static_cast<unsigned long long>(total.acknowledged), static_cast<unsigned long long>(total.refused),
              static_cast<unsigned long long>(total.failed), static_cast<unsigned long long>(total.faults[0]),
              static_cast<unsigned long long>(total.faults[1]), static_cast<unsigned long long>(total.faults[2]),
              static_cast<unsigned long long>(total.faults[3]),
              static_cast<unsigned long long>(total.restarts));
  if (count == kSeeds) {
    // The streams reach every part of the rules and every kind of fault (else the test proves little).
    EXPECT_GT(total.refused, 0u);
    EXPECT_GT(total.attached, 0u);
    EXPECT_GT(total.allocated, 0u);
    EXPECT_GT(total.usage_movements, 0u);
    EXPECT_GT(total.certificates, 0u);
    for (uint64_t f : total.faults) EXPECT_GT(f, 0u);
    EXPECT_GT(total.unsynced_lost, 0u);
    EXPECT_GT(total.buffered_batches_lost, 0u);
    EXPECT_GT(total.torn_kept_whole, 0u);
  }
}

}  // namespace
}  // namespace slap::sim
