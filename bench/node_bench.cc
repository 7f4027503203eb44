// slapnode benchmarks (issue 5: "a pass over 100 unchanged partitions takes well under a
// second"). Real pieces: 100 formatted partition directories, the real supervisord running one
// process per partition, partition records on disk, the instance pass of InstanceManager. The
// baseline in the same run is the least any pass must do: stat the 100 partition directories.
// SLAP_BENCH_PARTITIONS changes the count (default 100).
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "node/format.h"
#include "node/instance.h"
#include "node/slap_client.h"
#include "node/supervisor.h"

namespace {
namespace fs = std::filesystem;
using namespace slap::node;

int partition_count() {
  const char* env = std::getenv("SLAP_BENCH_PARTITIONS");
  return env != nullptr ? std::max(1, std::atoi(env)) : 100;
}

// The world the benchmarks share: built once in main(), torn down (supervisord stopped, files
// removed) at the end.
struct World {
  std::string root;
  NodeConfig cfg;
  std::unique_ptr<Supervisor> supervisor;
  std::unique_ptr<SlapClient> client;  // never called for unchanged partitions: a call would fail
  std::unique_ptr<InstanceManager> instances;
  ComputerView view;

  std::string setup(int n) {
    std::string tmpl = (fs::temp_directory_path() / "slapnode-bench-XXXXXX").string();
    root = ::mkdtemp(tmpl.data());
    cfg.instance_root = root + "/srv";
    cfg.software_root = root + "/opt";
    cfg.run_dir = root + "/run";
    cfg.partition_count = n;
    cfg.ipv4_range = "127.1.0.0/16";
    cfg.privilege = Privilege::kNo;
    cfg.computer_guid = "COMP-BENCH";
    if (auto r = format_partitions(cfg); !r) return r.error().to_string();
    supervisor = std::make_unique<Supervisor>(cfg.run_dir);
    if (auto st = supervisor->ensure_running(); !st) return st.error().to_string();
    client = std::make_unique<SlapClient>("http://127.0.0.1:9", cfg.computer_guid, HttpOptions{}, RetryPolicy{1},
                                          ViewLimits{n});
    instances = std::make_unique<InstanceManager>(cfg, *supervisor, *client);
    view.computer_guid = cfg.computer_guid;
    for (const auto& layout : partition_layout(cfg)) {
      ProgramSpec sleeper{.name = "sleep", .command = "sleep 100000", .directory = layout.path, .startsecs = 0};
      if (auto st = supervisor->apply_group(layout.id, {sleeper}); !st) return st.error().to_string();
      if (auto st = supervisor->start_group(layout.id); !st) return st.error().to_string();
      PartitionView p;
      p.partition_id = layout.id;
      p.instance_guid = "SOFTINST-" + std::to_string(layout.index);
      p.title = "bench" + std::to_string(layout.index);
      p.state = InstanceState::kStarted;
      p.software_release_uri = "file:///bench/software.cfg";
      p.software_type = "default";
      p.timestamp = "1";
      PartitionRecord rec{p.instance_guid, p.timestamp, "started", p.software_release_uri, 1};
      if (auto st = write_record(layout, rec); !st) return st.error().to_string();
      view.partitions.push_back(std::move(p));
    }
    return {};
  }
  void teardown() {
    if (supervisor) (void)supervisor->shutdown();
    std::error_code ec;
    if (!root.empty()) fs::remove_all(root, ec);
  }
};

World* g_world = nullptr;

// Baseline: one stat per partition directory.
void BM_StatPartitionDirs(benchmark::State& state) {
  const int n = g_world->cfg.partition_count;
  for (auto _ : state) {
    int found = 0;
    for (int i = 0; i < n; ++i) {
      struct stat st;
      found += ::stat(g_world->cfg.partition_path(i).c_str(), &st) == 0 ? 1 : 0;
    }
    benchmark::DoNotOptimize(found);
  }
  state.counters["partitions"] = n;
}
BENCHMARK(BM_StatPartitionDirs)->Unit(benchmark::kMicrosecond);

// The supervisord status call a pass makes once (XML-RPC over its unix socket).
void BM_SupervisorStatus(benchmark::State& state) {
  for (auto _ : state) {
    auto s = g_world->supervisor->status();
    if (!s) state.SkipWithError(s.error().to_string().c_str());
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_SupervisorStatus)->Unit(benchmark::kMicrosecond);

// The whole instance pass over unchanged partitions whose processes all run.
void BM_InstancePassUnchanged(benchmark::State& state) {
  const int n = g_world->cfg.partition_count;
  for (auto _ : state) {
    auto r = g_world->instances->run_pass(g_world->view);
    if (r.unchanged != n || r.processed != 0 || r.failed != 0) {
      state.SkipWithError(("pass touched partitions: unchanged " + std::to_string(r.unchanged) + ", processed " +
                           std::to_string(r.processed) + ", failed " + std::to_string(r.failed))
                              .c_str());
      break;
    }
  }
  state.counters["partitions"] = n;
}
BENCHMARK(BM_InstancePassUnchanged)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  spdlog::set_level(spdlog::level::warn);
  World world;
  if (auto why = world.setup(partition_count()); !why.empty()) {
    std::fprintf(stderr, "node_bench: setup failed: %s\n", why.c_str());
    world.teardown();
    return 1;
  }
  g_world = &world;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  world.teardown();
  return 0;
}
