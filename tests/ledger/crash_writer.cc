// Child process of ledger_crash_test: opens the RocksDB ledger in argv[1], appends synced batches
// forever and prints "ack <last seq>" on stdout after each acknowledged append. Every 50 appends it
// also captures a checkpoint image and writes it on another thread, as the master's sequencer does
// (Ledger::capture_checkpoint, write_checkpoint), printing "image <seq it covers>" once written.
// The parent kills it with SIGKILL at a moment of its choosing.
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
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
  std::mutex out;
  auto say = [&](const char* what, uint64_t seq) {
    std::lock_guard lock(out);
    std::printf("%s %llu\n", what, static_cast<unsigned long long>(seq));
    std::fflush(stdout);
  };
  say("ack", l.head().value());
  std::mt19937_64 rng(std::strtoull(argv[2], nullptr, 10));
  std::future<void> writing;
  for (uint64_t round = 0;; ++round) {
    auto r = l.append(test::usage_batch(1 + rng() % 20, rng()));
    if (!r) {
      std::fprintf(stderr, "crash_writer: %s\n", r.error().to_string().c_str());
      return 1;
    }
    say("ack", r->last.value());
    if (round % 50 == 49) {
      if (writing.valid()) writing.get();  // images land in the order they were taken
      const uint64_t covers = l.head().value();  // this thread is the only appender
      writing = std::async(std::launch::async, [&l, &say, covers, image = l.capture_checkpoint(2)] {
        if (auto s = l.write_checkpoint(image); !s) {
          std::fprintf(stderr, "crash_writer: %s\n", s.error().to_string().c_str());
          std::_Exit(1);
        }
        say("image", covers);
      });
    }
  }
}
