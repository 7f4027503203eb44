#pragma once
// Shared helpers for ledger tests: temporary directories and small valid batches.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <string>

#include "ledger/ledger.h"
#include "ubm/model.h"

namespace slap::test {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("slap_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::vector<ubm::EntryBody> parties() {
  return {ubm::Node{ubm::NodeId{"ORG"}, ubm::NodeKind::organisation, "provider", {}},
          ubm::Node{ubm::NodeId{"ALICE"}, ubm::NodeKind::person, "Alice", {}},
          ubm::Item{ubm::ItemId{"COMP-1"}, ubm::ItemKind::computer, "c1", ubm::NodeId{"ORG"}, {}, {}}};
}

// A usage movement ORG -> ALICE of `quantity` cpu_s (text decimal).
inline ubm::Movement usage(const std::string& quantity, int64_t start = 1'000) {
  ubm::Movement m;
  m.resource = "usage/cpu_s";
  m.quantity = {ubm::Decimal::parse(quantity).value(), "cpu_s"};
  m.price = {ubm::Decimal::parse("3").value(), "EUR"};
  m.source = ubm::NodeId{"ORG"};
  m.destination = ubm::NodeId{"ALICE"};
  m.items = {ubm::ItemId{"COMP-1"}};
  m.start = ubm::TimestampNs{start};
  m.stop = ubm::TimestampNs{start + 60};
  return m;
}

inline std::vector<ubm::EntryBody> usage_batch(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<ubm::EntryBody> out;
  for (size_t i = 0; i < n; ++i) out.push_back(usage(std::to_string(rng() % 1000) + "." + std::to_string(rng() % 100)));
  return out;
}

}  // namespace slap::test
