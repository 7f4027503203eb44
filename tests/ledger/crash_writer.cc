// Child process of ledger_crash_test: opens the RocksDB ledger in argv[1], appends synced batches
// forever and prints "ack <last seq>" on stdout after each acknowledged append. The parent kills
// it with SIGKILL at a moment of its choosing.
#include <cstdio>
#include <cstdlib>
#include <random>

#include "ledger/balances.h"
#include "ledger/rocksdb_storage.h"
#include "tests/ledger/test_util.h"

int main(int argc, char** argv) {
  using namespace slap;
  if (argc != 3) {
    std::fprintf(stderr, "usage: crash_writer DB SEED\n");
    return 2;
  }
  auto storage = ledger::open_rocksdb(argv[1]);
  if (!storage) {
    std::fprintf(stderr, "crash_writer: %s\n", storage.error().to_string().c_str());
    return 1;
  }
  ledger::Balances balances;
  auto led = ledger::Ledger::open({.storage = storage.value(), .checkpoint_every = 500, .projections = {&balances}});
  if (!led) {
    std::fprintf(stderr, "crash_writer: %s\n", led.error().to_string().c_str());
    return 1;
  }
  auto& l = *led.value();
  if (l.head().value() == 0 && !l.append(test::parties())) return 1;
  std::printf("ack %llu\n", static_cast<unsigned long long>(l.head().value()));
  std::fflush(stdout);
  std::mt19937_64 rng(std::strtoull(argv[2], nullptr, 10));
  for (uint64_t round = 0;; ++round) {
    auto r = l.append(test::usage_batch(1 + rng() % 20, rng()));
    if (!r) {
      std::fprintf(stderr, "crash_writer: %s\n", r.error().to_string().c_str());
      return 1;
    }
    std::printf("ack %llu\n", static_cast<unsigned long long>(r->last.value()));
    std::fflush(stdout);
  }
}
