// slapctl demo: the main job of the quick start until the master and node land. It creates a
// ledger, appends a reproducible cloud workload from several threads (group commit), closes it,
// verifies the chain, replays every projection from scratch and checks the replay equals the
// checkpoints the live ledger left.
#include <cstdio>
#include <thread>

#include "ledger/ledger.h"
#include "ledger/rocksdb_storage.h"
#include "slapd/ctl/commands.h"
#include "slapd/ctl/progress.h"
#include "slapd/ctl/projection_set.h"
#include "ubm/sample_workload.h"

namespace slap::ctl {
namespace {

struct DemoArgs {
  std::string db;
  uint64_t movements = 200'000;
  uint32_t batch = 1'000;
  uint32_t threads = 2;
  uint64_t seed = 1;
};

int run_demo(const DemoArgs& a) {
  using clock = std::chrono::steady_clock;
  ProjectionSet live;
  {
    auto storage = ledger::open_rocksdb(a.db);
    if (!storage) {
      std::fprintf(stderr, "slapctl: %s\n", storage.error().to_string().c_str());
      return kExitError;
    }
    auto opened = ledger::Ledger::open({.storage = storage.value(), .projections = live.extra()});
    if (!opened) {
      std::fprintf(stderr, "slapctl: %s\n", opened.error().to_string().c_str());
      return kExitError;
    }
    auto& led = *opened.value();
    ubm::SampleWorkload registrations({.computers = 20, .partitions_per_computer = 10, .clients = 50, .releases = 5, .seed = a.seed});
    if (led.directory().node_count() == 0) {
      auto r = led.append(registrations.registrations());
      if (!r) {
        std::fprintf(stderr, "slapctl: registration failed: %s\n", r.error().to_string().c_str());
        return kExitFailed;
      }
    }
    std::printf("appending %llu movements in batches of %u from %u threads (sync on)...\n",
                static_cast<unsigned long long>(a.movements), a.batch, a.threads);
    Progress progress("append", a.movements);
    std::atomic<uint64_t> done{0};
    std::atomic<bool> failed{false};
    const auto t0 = clock::now();
    std::vector<std::thread> threads;
    for (uint32_t t = 0; t < a.threads; ++t) {
      threads.emplace_back([&, t] {
        ubm::SampleWorkload w({.computers = 20, .partitions_per_computer = 10, .clients = 50, .releases = 5, .seed = a.seed + 1 + t});
        const uint64_t mine = a.movements / a.threads + (t < a.movements % a.threads ? 1 : 0);
        for (uint64_t n = 0; n < mine && !failed;) {
          const size_t k = static_cast<size_t>(std::min<uint64_t>(a.batch, mine - n));
          auto r = led.append(w.movements(k));
          if (!r) {
            std::fprintf(stderr, "\nslapctl: append failed: %s\n", r.error().to_string().c_str());
            failed = true;
            return;
          }
          n += k;
          progress.update(done += k);
        }
      });
    }
    for (auto& th : threads) th.join();
    progress.finish();
    if (failed) return kExitFailed;
    const double secs = std::chrono::duration<double>(clock::now() - t0).count();
    const auto stats = led.stats();
    std::printf("appended %llu entries in %llu synced writes (largest group %llu) in %.2f s: %.0f movements/s\n",
                static_cast<unsigned long long>(stats.entries), static_cast<unsigned long long>(stats.writes),
                static_cast<unsigned long long>(stats.max_group_entries), secs, static_cast<double>(a.movements) / secs);
    std::printf("head seq=%llu hash=%s\n", static_cast<unsigned long long>(led.head().value()), ledger::to_hex(led.head_hash()).c_str());
  }  // closing writes the checkpoints

  auto storage = ledger::open_rocksdb(a.db, {.create_if_missing = false, .read_only = true});
  if (!storage) return kExitError;
  const auto t1 = clock::now();
  const auto report = ledger::verify(*storage.value());
  std::printf("verify: %s head=%llu entries=%llu bytes=%llu in %.2f s\n", report.ok ? "ok" : "CORRUPT",
              static_cast<unsigned long long>(report.head.value()), static_cast<unsigned long long>(report.entries),
              static_cast<unsigned long long>(report.bytes), std::chrono::duration<double>(clock::now() - t1).count());
  if (!report.ok) return kExitFailed;

  ProjectionSet replayed;
  auto all = replayed.demo();
  const auto t2 = clock::now();
  auto r = ledger::replay(*storage.value(), all);
  if (!r) return kExitFailed;
  const double rsecs = std::chrono::duration<double>(clock::now() - t2).count();
  std::printf("replay: %llu entries in %.2f s (%.0f entries/s)\n", static_cast<unsigned long long>(r->entries), rsecs,
              static_cast<double>(r->entries) / rsecs);
  // The live projections were checkpointed on close: a replay from scratch must equal them.
  bool same = true;
  for (auto* p : all) {
    auto cp = storage.value()->get(ledger::Family::checkpoints, p->name());
    const bool equal = cp && cp->has_value() && std::string_view(**cp).substr(8) == p->snapshot();
    std::printf("  projection %-10s replay == checkpoint: %s\n", std::string(p->name()).c_str(), equal ? "yes" : "NO");
    same = same && equal;
  }
  const auto provider = replayed.balances.get({"ORG-provider", "usage/cpu_s", "cpu_s"});
  if (provider) std::printf("ORG-provider delivered %s cpu_s over %llu movements\n", ledger::Balances::format(provider->out).c_str(),
                            static_cast<unsigned long long>(provider->movements));
  return same ? kExitOk : kExitFailed;
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  auto* demo = app.add_subcommand("demo", "Create a ledger, append a demo cloud workload, verify and replay it");
  demo->add_option("--db", args->db, "Ledger directory (created)")->required();
  demo->add_option("--movements", args->movements, "Movements to append")->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  demo->add_option("--batch", args->batch, "Movements per append")->check(CLI::Range(1u, 100'000u));
  demo->add_option("--threads", args->threads, "Concurrent appenders")->check(CLI::Range(1u, 64u));
  demo->add_option("--seed", args->seed, "Workload seed");
  demo->callback([args] { g_exit_code = run_demo(*args); });
}

}  // namespace slap::ctl
