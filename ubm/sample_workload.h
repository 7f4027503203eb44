#pragma once
// A reproducible cloud workload in UBM terms, for the demo, the benchmarks and the tests: a network,
// a provider, clients, computers with partitions, releases and instances (registrations), then
// allocation, delivery and usage Movements between them. Same seed, same entries.
#include <cstdint>
#include <random>
#include <vector>

#include "ubm/model.h"

namespace slap::ubm {

struct WorkloadShape {
  uint32_t computers = 10;
  uint32_t partitions_per_computer = 10;
  uint32_t clients = 20;
  uint32_t releases = 5;
  uint64_t seed = 1;
};

class SampleWorkload {
 public:
  explicit SampleWorkload(WorkloadShape shape);
  // Nodes and items to register first, in an order where every reference resolves.
  std::vector<EntryBody> registrations() const;
  // The next `n` movements (usage, hosting, supply), each referencing registered ids only.
  std::vector<EntryBody> movements(size_t n);
  const WorkloadShape& shape() const { return shape_; }

 private:
  WorkloadShape shape_;
  std::mt19937_64 rng_;
  int64_t clock_ns_ = 1'767'225'600'000'000'000;  // 2026-01-01T00:00:00Z
};

}  // namespace slap::ubm
