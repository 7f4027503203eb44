// Market benchmarks (issue 3). Real sizes:
//   build/bin/market_bench --benchmark_filter='computers:(1000|10000|100000)$|BM_RawRocksDBAppend'
// The CTest smoke run uses the computers:100 variants (see bench/CMakeLists.txt).
//
//   BM_AllocateDecide/computers:N   pure decisions (parse SLA + match + pick a partition) on
//                                   projections of N computers x 100 partitions, 50 releases,
//                                   80% of requests with at least one condition. Counter
//                                   bytes_per_partition: heap held by the three projections / partitions.
//   BM_AllocateDurable/computers:N  the full write path: kSubmitters threads submit requests to a
//                                   Sequencer, which decides whatever is queued (up to
//                                   kDurableBatch commands), appends it in one synced RocksDB write
//                                   (group commit: many commands share one fsync) and applies it.
//                                   items = allocation requests per second (each allocated, ~90%,
//                                   or recorded pending); an allocated request writes 1 entry (the
//                                   movement registers its instance). Counters: CPU per request
//                                   of all threads, and of the deciding and the writing thread each.
//   BM_RawRocksDBAppend             baseline: pre-encoded 200-byte values, WriteBatch of 1000, synced.
//   BM_RawRocksDBAppendRecordBytes/bytes:B  the same with records of B bytes (300, 600, 900: an
//                                   allocation's record today), 1 per item, 1,000 items per synced
//                                   write: the storage's own ceiling at a record size.
//   BM_CapacityLoadChange           the capacity index taking an allocation and a release: the
//                                   deciding thread's reorder cost apart from the rest of the path.
//   BM_FreeWithBacklog/pending:N/shared:S  a full market with N requests waiting (and S shared
//                                   instances no host serves): an instance destroyed, its
//                                   partition freed and taken by the oldest waiting request, one
//                                   more queued; pending:100 is the baseline (the cost must not
//                                   grow with the backlog).
//   BM_FreeWithUnmetBacklog/pending:N/distinct:D  partitions free on 1,000 computers, N requests
//                                   waiting on conditions none meets (distinct:1, each with a
//                                   max_price of its own: a group each): an instance destroyed,
//                                   freed, requested again; pending:100 is the baseline.
//   BM_HostOfALargeKindDestroyedAndRestarted/hosts:N  N running instances of one release and
//                                   type (hosts for shared instances): one requested destroyed,
//                                   then started again; hosts:100 is the baseline.
//   BM_SupplyWithUnmetBacklog/pending:N/distinct:D/own:O  the same market: a release supplied
//                                   to a computer and taken back; distinct:1, every request waiting
//                                   with conditions of its own; own:1, the release they run.
//                                   pending:100 is the baseline.
//   BM_StateReportInTree/tree:N     a node's state reports (started, then stopped) for the instances
//                                   of one tree of N (a root and its children), in memory; tree:100
//                                   is the baseline: a report's cost must not grow with its tree's
//                                   width (it walks up the requesters to the root: its depth).
#include <benchmark/benchmark.h>
#include <malloc.h>
#if SLAP_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <latch>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <thread>

#include "ledger/ledger.h"
#include "ledger/memory_storage.h"
#include "ledger/rocksdb_storage.h"
#include "market/market.h"
#include "market/sequencer.h"

namespace slap::market {
namespace {

// Bytes the allocator has handed out and not taken back, whichever allocator is linked.
size_t heap_bytes() {
#if SLAP_WITH_JEMALLOC
  uint64_t epoch = 1;
  size_t len = sizeof(epoch);
  mallctl("epoch", &epoch, &len, &epoch, len);  // refreshes the statistics
  size_t allocated = 0;
  len = sizeof(allocated);
  return mallctl("stats.allocated", &allocated, &len, nullptr, 0) == 0 ? allocated : 0;
#else
  return mallinfo2().uordblks;
#endif
}

constexpr int kPartitions = 100;
constexpr int kReleases = 50;
constexpr int kReleasesPerComputer = 5;

std::string cat(const char* prefix, uint64_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}
std::string release(uint64_t r) { return cat("https://lab.example.org/software/release-", r) + "/software.cfg"; }
const char* kRegions[] = {"fr", "de", "jp", "us", "br", "in", "uk", "ca", "au", "za"};
const char* kCores[] = {"2", "4", "8", "16"};
const char* kStorage[] = {"ssd", "hdd", "nvme"};

// The world: what each computer is, generated from a seed.
struct ComputerSpec {
  RegisterComputer reg;
  std::vector<std::string> releases;
};
ComputerSpec computer_spec(uint64_t i, std::mt19937_64& rng) {
  ComputerSpec s;
  s.reg = RegisterComputer{cat("COMP-", i), "owner", cat("net-", rng() % 100), Scope::open, static_cast<int64_t>(1 + rng() % 20), "EUR", "",
                           normalized({{"region", kRegions[rng() % 10]}, {"cpu_core", kCores[rng() % 4]},
                                       {"storage_interface", kStorage[rng() % 3]}})};
  for (int k = 0; k < kReleasesPerComputer; ++k) s.releases.push_back(release((i + k * 7) % kReleases));
  return s;
}
}  // namespace
DeclareCapacity capacity(const std::string& guid) {
  DeclareCapacity d{guid, {}};
  d.partitions.reserve(kPartitions);
  for (int p = 0; p < kPartitions; ++p) d.partitions.push_back(PartitionSpec{cat("slappart", p), {cat("10.0.0.", p + 1)}, {}, ""});
  return d;
}
namespace {

// Requests: 80% with at least one condition, mixed.
std::vector<RequestInstance> requests(size_t n, uint64_t computers, uint64_t seed, const char* title_prefix) {
  std::mt19937_64 rng(seed);
  std::vector<RequestInstance> out;
  out.reserve(n);
  for (size_t k = 0; k < n; ++k) {
    RequestInstance r{"client", cat(title_prefix, k), release(rng() % kReleases), "default", {{"size", "10"}}, {}, false, RequestedState::started};
    const int pick = static_cast<int>(rng() % 100);
    if (pick < 20) {
      // none
    } else if (pick < 45) {
      r.sla = {{"region", kRegions[rng() % 10]}};
    } else if (pick < 60) {
      r.sla = {{"cpu_core", kCores[rng() % 4]}, {"max_price", std::to_string(5 + rng() % 15)}};
    } else if (pick < 70) {
      r.sla = {{"max_price", std::to_string(3 + rng() % 10)}};
    } else if (pick < 80) {
      r.sla = {{"region", kRegions[rng() % 10]}, {"storage_interface", kStorage[rng() % 3]}};
    } else if (pick < 90) {
      r.sla = {{"network_guid", cat("net-", rng() % 100)}};
    } else {
      r.sla = {{"computer_guid", cat("COMP-", rng() % computers)}};
    }
    out.push_back(std::move(r));
  }
  return out;
}

// Projections built by folding facts directly (no ledger): what the decide benchmark reads.
struct DecideWorld {
  ComputerView computers;
  InstanceRegistry instances;
  CapacityIndex capacity;
  Matcher matcher{capacity, computers, instances};
  double bytes_per_partition = 0;

  explicit DecideWorld(uint64_t n) {
    const size_t before = heap_bytes();
    std::mt19937_64 rng(42);
    auto fold = [&](fact::Body b) {
      Fact f{ubm::TimestampNs{1}, std::move(b)};
      computers.apply_fact(f);
      capacity.apply_fact(f);
      instances.apply_fact(f);
    };
    for (uint64_t i = 0; i < n; ++i) {
      ComputerSpec s = computer_spec(i, rng);
      const auto& r = s.reg;
      fold(fact::ComputerSet{r.computer, r.owner, r.network, r.scope, r.price_minor, r.currency, r.capability, r.categories});
      DeclareCapacity d = slap::market::capacity(r.computer);
      fold(fact::Formatted{r.computer, std::move(d.partitions), kPartitions, {}});
      for (const auto& rel : s.releases) fold(fact::Supplied{r.computer, rel, true});
    }
    bytes_per_partition = static_cast<double>(heap_bytes() - before) / static_cast<double>(n * kPartitions);
  }
};

DecideWorld& decide_world(uint64_t n) {
  static std::map<uint64_t, std::unique_ptr<DecideWorld>> worlds;
  auto& w = worlds[n];
  if (!w) {
    worlds.clear();  // one world at a time: the 100k one is large
    worlds[n] = std::make_unique<DecideWorld>(n);
    return *worlds[n];
  }
  return *w;
}

void BM_AllocateDecide(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  DecideWorld& w = decide_world(n);
  const auto reqs = requests(4096, n, 7, "i");
  size_t k = 0, placed = 0;
  for (auto _ : state) {
    const RequestInstance& r = reqs[k++ & 4095];
    auto c = parse_sla(r.sla);
    Placement p = w.matcher.place(r.release, r.requester, *c);
    placed += p.placed();
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["placed_ratio"] = static_cast<double>(placed) / static_cast<double>(std::max<size_t>(k, 1));
  state.counters["bytes_per_partition"] = w.bytes_per_partition;
  state.counters["partitions"] = static_cast<double>(n * kPartitions);
}
// The instance registry taking N new instances, one fact at a time (what the deciding thread
// folds per allocation): heap held per instance, and the longest single fold (the indexes
// growing: each doubling re-inserts every entry while deciding waits).
void BM_FoldNewInstances(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  double worst = 0, per_instance = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto reg = std::make_unique<InstanceRegistry>();
    const size_t before = heap_bytes();
    state.ResumeTiming();
    for (size_t i = 0; i < n; ++i) {
      fact::Requested r;
      r.instance = cat("SOFTINST-", i + 1);
      r.requester = cat("PERSON-", i % 1000 + 1);
      r.title = cat("load-", i);
      r.client = r.requester;
      r.release = "SR-0123456789abcdef0123456789abcdef";
      const auto t = std::chrono::steady_clock::now();
      reg->apply_fact(Fact{ubm::TimestampNs{1}, std::move(r)});
      worst = std::max(worst, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
    }
    state.PauseTiming();
    per_instance = static_cast<double>(heap_bytes() - before) / static_cast<double>(n);
    if (reg->find(std::string_view("PERSON-1"), std::string_view("load-0")) == nullptr) state.SkipWithError("an instance is not found by its title");
    reg.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(n * state.iterations()));
  state.counters["heap_bytes_per_instance"] = per_instance;
  state.counters["worst_fold_ms"] = worst;
}
BENCHMARK(BM_FoldNewInstances)->ArgName("instances")->Arg(10'000)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);

// The capacity index taking the load changes of allocations (one partition more) and releases (one
// less) on the computers the matcher picks, 1,024 apart so the loads stay level: what reordering a
// computer in every order that lists it costs the deciding thread per allocation, apart from the
// rest of the path. Its own world: the load changes would skew BM_AllocateDecide's.
void BM_CapacityLoadChange(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  static std::unique_ptr<DecideWorld> w;
  if (!w || w->capacity.size() != n) {
    w.reset();
    w = std::make_unique<DecideWorld>(n);
  }
  const auto reqs = requests(4096, n, 11, "l");
  std::vector<std::string> picked;  // computers the matcher chose, in the order of the requests
  for (const auto& r : reqs) {
    auto c = parse_sla(r.sla);
    Placement p = w->matcher.place(r.release, r.requester, *c);
    if (p.placed()) picked.push_back(p.computer);
  }
  if (picked.size() < 2048) return state.SkipWithError("too few placements");
  std::vector<Fact> allocate, release;
  for (const auto& c : picked) {
    allocate.push_back(Fact{ubm::TimestampNs{1}, fact::Allocated{"", c, ""}});
    release.push_back(Fact{ubm::TimestampNs{1}, fact::Freed{"", c, "", false}});
  }
  constexpr size_t kLag = 1024;
  size_t k = 0;
  for (; k < kLag; ++k) w->capacity.apply_fact(allocate[k]);
  for (auto _ : state) {
    const size_t i = k % picked.size();
    w->capacity.apply_fact(allocate[i]);
    w->capacity.apply_fact(release[(k - kLag) % picked.size()]);
    ++k;
  }
  for (size_t j = k - kLag; j < k; ++j) w->capacity.apply_fact(release[j % picked.size()]);  // level again
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));  // an item: one allocation and one release
}
BENCHMARK(BM_CapacityLoadChange)->ArgName("computers")->Arg(10000)->Unit(benchmark::kNanosecond);

BENCHMARK(BM_AllocateDecide)->ArgName("computers")->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kNanosecond);

std::filesystem::path temp_dir(const char* name) {
  auto dir = std::filesystem::temp_directory_path() / (std::string(name) + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

// Nanoseconds on a CPU of this process's threads named `comm` (/proc schedstat): what one stage
// of the pipeline costs, steadier than the throughput on a shared machine where the stages and
// the submitters compete for two cores.
double thread_cpu_seconds(std::string_view comm) {
  double total = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::string name;
    if (FILE* f = std::fopen((task.path() / "comm").c_str(), "r")) {
      char buf[32] = {};
      if (std::fgets(buf, sizeof buf, f) != nullptr) name = buf;
      std::fclose(f);
    }
    if (!name.empty() && name.back() == '\n') name.pop_back();
    if (name != comm) continue;
    if (FILE* f = std::fopen((task.path() / "schedstat").c_str(), "r")) {
      unsigned long long ns = 0;
      if (std::fscanf(f, "%llu", &ns) == 1) total += static_cast<double>(ns) * 1e-9;
      std::fclose(f);
    }
  }
  return total;
}

// Profiles the measurement, not the minutes of set-up before it:
//   mkfifo /tmp/ctl; SLAP_PERF_CONTROL=/tmp/ctl perf record --delay=-1 --control fifo:/tmp/ctl ...
void perf_control(const char* command) {
  const char* fifo = std::getenv("SLAP_PERF_CONTROL");
  if (fifo == nullptr) return;
  if (FILE* f = std::fopen(fifo, "w")) {
    std::fputs(command, f);
    std::fclose(f);
  }
}
void start_profiling() { perf_control("enable\n"); }
// Ends it before the tear-down (the ledger writes its checkpoints when the world is destroyed).
void stop_profiling() { perf_control("disable\n"); }

// Opens a ledger on `storage` that feeds the market's projections, and attaches the market to it:
// "" when done, else why not.
std::string open_ledger(std::shared_ptr<ledger::Storage> storage, Market& market, std::unique_ptr<ledger::Ledger>& out) {
  auto opened = ledger::Ledger::open({.storage = std::move(storage), .checkpoint_every = 0, .projections = market.projections()});
  if (!opened) return opened.error().to_string();
  out = std::move(*opened);
  market.attach(*out);
  return {};
}

constexpr size_t kSubmitters = 4;
constexpr size_t kDurableBatch = 1000;  // Sequencer::max_batch: commands per synced write at most, as slapmaster
constexpr size_t kPerIteration = 32768;  // requests submitted (and answered) per iteration: ~30 batches, so
                                        // the pipeline's start and drain at each end weigh little

// A durable market of N computers, built once per N and kept across the benchmark's runs (the
// set-up writes 100 partitions per computer: it takes far longer than the measurement).
struct DurableWorld {
  std::filesystem::path dir;
  std::shared_ptr<ledger::Storage> storage;
  Market market;
  std::unique_ptr<ledger::Ledger> ledger;
  std::vector<RequestInstance> requests;
  size_t next = 0;  // requests submitted so far (titles stay unique across runs)
  std::string error;

  explicit DurableWorld(uint64_t n) : dir(temp_dir(cat("market_bench_durable-", n).c_str())) {
    auto opened_storage = ledger::open_rocksdb(dir);
    if (!opened_storage) {
      error = opened_storage.error().to_string();
      return;
    }
    storage = *opened_storage;
    if (error = open_ledger(storage, market, ledger); !error.empty()) return;
    // Parties, then computers in batches (each batch one synced write).
    std::vector<Command> batch{RegisterParty{"owner", ubm::NodeKind::organisation, "owner"},
                               RegisterParty{"client", ubm::NodeKind::person, "client"}};
    std::mt19937_64 rng(42);
    auto flush = [&] {
      for (auto& r : market.execute_batch(batch)) {
        if (!r) return error = r.error().to_string(), false;
      }
      batch.clear();
      return true;
    };
    for (uint64_t i = 0; i < n; ++i) {
      ComputerSpec s = computer_spec(i, rng);
      batch.push_back(s.reg);
      batch.push_back(capacity(s.reg.computer));
      for (const auto& rel : s.releases) batch.push_back(Supply{"owner", s.reg.computer, rel, true});
      if (batch.size() >= 500 && !flush()) return;
    }
    if (!batch.empty() && !flush()) return;
    requests = slap::market::requests(kPerIteration * 8, n, 9, "durable-");
  }
  ~DurableWorld() {
    ledger.reset();
    storage.reset();
    std::filesystem::remove_all(dir);
  }
  RequestInstance take() {
    RequestInstance r = requests[next % requests.size()];
    if (const size_t round = next / requests.size(); round > 0) r.title += cat("-", round);
    ++next;
    return r;
  }
};

std::map<uint64_t, std::unique_ptr<DurableWorld>> g_durable_worlds;  // closed by main, see there

DurableWorld& durable_world(uint64_t n) {
  auto& worlds = g_durable_worlds;
  if (!worlds.count(n)) {
    worlds.clear();  // one world at a time
    worlds[n] = std::make_unique<DurableWorld>(n);
  }
  return *worlds[n];
}

void BM_AllocateDurable(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  DurableWorld& w = durable_world(n);
  if (!w.error.empty()) return state.SkipWithError(w.error.c_str());
  // Requests of an iteration, prepared before the clock runs, one slice per submitter.
  std::vector<std::vector<RequestInstance>> slices(kSubmitters);
  std::atomic<size_t> allocated{0}, failed{0};
  const uint64_t entries_before = w.ledger->stats().entries, writes_before = w.ledger->stats().writes,
                 bytes_before = w.ledger->stats().bytes;
  const auto pipeline = static_cast<size_t>(state.range(1));
  double cpu = 0, decide_cpu = 0, write_cpu = 0;  // seconds of CPU while timed: all threads, each stage
  const size_t heap_before = heap_bytes();
  Sequencer seq(w.market, {.max_batch = kDurableBatch, .max_queue = 2 * kPerIteration, .pipeline = pipeline});
  start_profiling();
  for (auto _ : state) {
    state.PauseTiming();
    for (size_t k = 0; k < kPerIteration; ++k) slices[k % kSubmitters].push_back(w.take());
    state.ResumeTiming();
    const double cpu_before = process_cpu_seconds(), decide_before = thread_cpu_seconds("slap-decide"),
                 write_before = thread_cpu_seconds("slap-write");
    std::latch done(static_cast<std::ptrdiff_t>(kPerIteration));
    std::vector<std::thread> submitters;
    for (auto& slice : slices) {
      submitters.emplace_back([&, s = &slice] {
        for (auto& r : *s) {
          const bool queued = seq.try_submit(std::move(r), [&](ubm::Result<Outcome> out) {
            if (!out) failed.fetch_add(1, std::memory_order_relaxed);
            else if (!out->computer.empty()) allocated.fetch_add(1, std::memory_order_relaxed);
            done.count_down();
          });
          if (!queued) failed.fetch_add(1), done.count_down();  // cannot happen: the queue holds an iteration
        }
        s->clear();
      });
    }
    for (auto& t : submitters) t.join();
    done.wait();
    cpu += process_cpu_seconds() - cpu_before;
    decide_cpu += thread_cpu_seconds("slap-decide") - decide_before;
    write_cpu += thread_cpu_seconds("slap-write") - write_before;
  }
  stop_profiling();
  if (failed.load() != 0) return state.SkipWithError("a request failed");
  const auto requests = static_cast<double>(state.iterations() * kPerIteration);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPerIteration));
  state.counters["allocated_ratio"] = static_cast<double>(allocated.load()) / requests;
  state.counters["entries_per_request"] = static_cast<double>(w.ledger->stats().entries - entries_before) / requests;
  // Log bytes per request: what the baseline's 200-byte values stand for.
  state.counters["record_bytes_per_request"] = static_cast<double>(w.ledger->stats().bytes - bytes_before) / requests;
  // CPU of every thread (sequencer, writer, submitters) per request: steadier than requests/s on
  // a shared machine, and what the HTTP front end competes with for the same cores.
  state.counters["cpu_us_per_request"] = cpu * 1e6 / requests;
  // The deciding and the writing thread's share (pipeline:0 decides and writes on one thread):
  // the busier of the two bounds the throughput when the cores are free.
  state.counters["decide_us_per_request"] = decide_cpu * 1e6 / requests;
  state.counters["write_us_per_request"] = write_cpu * 1e6 / requests;
  // What the heap grows by per request: projections, directory and RocksDB's memtable (it
  // allocates with the same allocator). Each fresh page is a page fault on first touch, a fresh
  // huge page 2 MB zeroed by the kernel: the deciding thread's largest single cost in a profile.
  state.counters["heap_bytes_per_request"] = static_cast<double>(heap_bytes() - heap_before) / requests;
  state.counters["requests_per_write"] = requests / static_cast<double>(std::max<uint64_t>(1, w.ledger->stats().writes - writes_before));
}
// pipeline: 0 decides and writes in turn on one thread; 2 writes batch k while deciding k+1.
BENCHMARK(BM_AllocateDurable)->ArgNames({"computers", "pipeline"})->ArgsProduct({{100, 10000}, {0, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

// Synced WriteBatches of `items` items, each `records` log records of `value_bytes` bytes.
void raw_append(benchmark::State& state, size_t value_bytes, int records, int items) {
  const auto dir = temp_dir("market_bench_raw");
  {
    auto storage = ledger::open_rocksdb(dir);
    if (!storage) return state.SkipWithError(storage.error().to_string().c_str());
    const std::string value(value_bytes, 'v');
    uint64_t seq = 0;
    char key[8];
    for (auto _ : state) {
      ledger::WriteBatch batch;
      for (int k = 0; k < items * records; ++k) {
        ++seq;
        for (int b = 0; b < 8; ++b) key[b] = static_cast<char>((seq >> (56 - 8 * b)) & 0xff);
        batch.put(ledger::Family::log, std::string_view(key, 8), value);
      }
      if (auto s = (*storage)->write(batch, ledger::Sync::yes); !s) return state.SkipWithError(s.error().to_string().c_str());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * items);
  }
  std::filesystem::remove_all(dir);
}

// The baseline issue 3 names: 200-byte values, one per item, 1,000 per synced write.
void BM_RawRocksDBAppend(benchmark::State& state) { raw_append(state, 200, 1, 1000); }
BENCHMARK(BM_RawRocksDBAppend)->Unit(benchmark::kMillisecond)->UseRealTime();

// The storage alone at a record's bytes: an item is one record, 1,000 items per synced write as
// kDurableBatch. No market, ledger or hashing: the ceiling RocksDB puts on the durable path here,
// read beside the 200-byte baseline above. bytes:900 is an allocation's record today
// (BM_AllocateDurable's record_bytes_per_request is ~890 in ~1.1 records); 300 and 600 tell what
// a smaller record would leave the rest of the path.
void BM_RawRocksDBAppendRecordBytes(benchmark::State& state) { raw_append(state, static_cast<size_t>(state.range(0)), 1, 1000); }
BENCHMARK(BM_RawRocksDBAppendRecordBytes)->ArgName("bytes")->Arg(300)->Arg(600)->Arg(900)->Unit(benchmark::kMillisecond)->UseRealTime();

// A market on an in-memory ledger, for the cost of single commands in a large world (no disk, no
// group commit). Worlds are built once per argument and kept across the benchmark's runs.
struct MemoryMarket {
  std::shared_ptr<ledger::MemoryStorage> storage = std::make_shared<ledger::MemoryStorage>();
  Market market;
  std::unique_ptr<ledger::Ledger> ledger;
  std::string error;

  MemoryMarket() { error = open_ledger(storage, market, ledger); }
  // In batches of kMaxBatchCommands; false (and error set) at the first command refused.
  bool run(const std::vector<Command>& commands) {
    for (size_t at = 0; at < commands.size() && error.empty(); at += kMaxBatchCommands) {
      const size_t len = std::min(kMaxBatchCommands, commands.size() - at);
      for (auto& r : market.execute_batch(std::span<const Command>(commands).subspan(at, len))) {
        if (!r) error = r.error().to_string();
      }
    }
    return error.empty();
  }
};

// The world of one argument set, built on first use.
template <class World, class... Args>
World& world_of(std::map<std::vector<int64_t>, std::unique_ptr<World>>& worlds, std::vector<int64_t> key, Args&&... args) {
  auto& slot = worlds[std::move(key)];
  if (!slot) slot = std::make_unique<World>(std::forward<Args>(args)...);
  return *slot;
}

// Runs w.churn() once per iteration; items = iterations.
template <class World>
void churn(benchmark::State& state, World& w) {
  for (auto _ : state) {
    if (!w.error.empty()) break;
    w.churn();
  }
  if (!w.error.empty()) return state.SkipWithError(w.error.c_str());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// The parties "owner" and "client", and enough open computers of kMaxPartitionsPerComputer
// partitions, supplying `rel`, for n instances.
std::vector<Command> large_computers(size_t n, const std::string& rel) {
  std::vector<Command> commands{RegisterParty{"owner", ubm::NodeKind::organisation, "owner"},
                                RegisterParty{"client", ubm::NodeKind::person, "client"}};
  for (size_t c = 0; c * kMaxPartitionsPerComputer < n; ++c) {
    const std::string guid = cat("COMP-", c);
    commands.push_back(RegisterComputer{guid, "owner", "net-0", Scope::open, 1, "EUR", "", {}});
    DeclareCapacity d{guid, {}};
    for (size_t p = 0; p < kMaxPartitionsPerComputer; ++p) d.partitions.push_back(PartitionSpec{cat("slappart", p), {}, {}, ""});
    commands.push_back(std::move(d));
    commands.push_back(Supply{"owner", guid, rel, true});
  }
  return commands;
}

// One tree of n instances (a root and n - 1 children) placed on computers of 10,000 partitions.
// An iteration is a state report (started, then stopped, each instance in turn).
struct TreeWorld : MemoryMarket {
  std::vector<Command> started, stopped;
  size_t next = 0;  // reports sent so far, across runs: each changes the state it reports

  explicit TreeWorld(size_t n) {
    const std::string rel = release(0);
    std::vector<Command> setup = large_computers(n, rel);
    setup.push_back(RequestInstance{"client", "root", rel, "default", {}, {}, false, RequestedState::started});
    if (!run(setup)) return;
    const std::string root = "SOFTINST-1";
    std::vector<Command> children;
    for (size_t k = 1; k < n; ++k) children.push_back(RequestInstance{root, cat("child-", k), rel, "default", {}, {}, false, RequestedState::started});
    if (!run(children)) return;
    for (uint32_t i = 0; i < market.instances().size(); ++i) {
      const auto& inst = market.instances().instance(i);
      started.push_back(ReportState{inst.computer, inst.request.instance, ReportedState::started});
      stopped.push_back(ReportState{inst.computer, inst.request.instance, ReportedState::stopped});
    }
  }
  void churn() {
    const size_t k = next++ % (2 * started.size());
    auto r = market.execute(k < started.size() ? started[k] : stopped[k - started.size()]);
    if (!r || !r->written) error = r ? "a report changed nothing" : r.error().to_string();
  }
};

void BM_StateReportInTree(benchmark::State& state) {
  static std::map<std::vector<int64_t>, std::unique_ptr<TreeWorld>> worlds;
  churn(state, world_of(worlds, {state.range(0)}, static_cast<size_t>(state.range(0))));
}
BENCHMARK(BM_StateReportInTree)->ArgName("tree")->Arg(100)->Arg(50'000)->Unit(benchmark::kMicrosecond);

// n instances of one release and software type running (all hosts that shared instances of that
// kind could attach to), on computers of 10,000 partitions. An iteration: one of them, taken in
// turn from across the registry, requested destroyed (it is no host any more) and then started
// again before its node confirms (a host again, at its place in registration order). hosts:100 is
// the baseline: the cost must not grow with the number of hosts of a kind.
struct HostKindWorld : MemoryMarket {
  std::vector<std::string> titles;
  size_t next = 0;

  explicit HostKindWorld(size_t n) {
    const std::string rel = release(0);
    std::vector<Command> commands = large_computers(n, rel);
    for (size_t k = 0; k < n; ++k) {
      titles.push_back(cat("host-", k));
      commands.push_back(RequestInstance{"client", titles.back(), rel, "default", {}, {}, false, RequestedState::started});
    }
    if (!run(commands)) return;
    if (market.instances().hosts(rel, "default").size() != n) error = "not every instance is a host";
  }
  void churn() {
    // A stride coprime with n visits every instance, from all over the index.
    const std::string& title = titles[(next++ * 7919) % titles.size()];
    for (RequestedState s : {RequestedState::destroyed, RequestedState::started}) {
      auto r = market.execute(RequestInstance{"client", title, release(0), "default", {}, {}, false, s});
      if (!r || !r->written) return void(error = r ? "the request changed nothing" : r.error().to_string());
    }
  }
};

void BM_HostOfALargeKindDestroyedAndRestarted(benchmark::State& state) {
  static std::map<std::vector<int64_t>, std::unique_ptr<HostKindWorld>> worlds;
  churn(state, world_of(worlds, {state.range(0)}, static_cast<size_t>(state.range(0))));
}
BENCHMARK(BM_HostOfALargeKindDestroyedAndRestarted)->ArgName("hosts")->Arg(100)->Arg(200'000)->Unit(benchmark::kMicrosecond);

// A full market with a backlog: one computer of 100 partitions, all busy, and n requests waiting.
// An iteration is what churn costs: an instance destroyed and its partition freed (the oldest
// waiting request takes it), then one more request queues. pending:100 is the baseline.
struct BacklogWorld : MemoryMarket {
  std::deque<std::string> running, waiting;  // guids, oldest first
  size_t titles = 0;

  BacklogWorld(size_t n, size_t shared_waiting) {
    DeclareCapacity d{"COMP-0", {}};
    for (int p = 0; p < 100; ++p) d.partitions.push_back(PartitionSpec{cat("slappart", p), {}, {}, ""});
    if (!run({RegisterParty{"owner", ubm::NodeKind::organisation, "owner"}, RegisterParty{"client", ubm::NodeKind::person, "client"},
              RegisterComputer{"COMP-0", "owner", "net-0", Scope::open, 1, "EUR", "", {}}, std::move(d),
              Supply{"owner", "COMP-0", release(0), true}})) {
      return;
    }
    for (size_t k = 0; k < 100 + n && error.empty(); ++k) request();
    // Shared instances no host can serve (no instance of their type runs, as when a frontend's
    // host is down): they wait for good.
    for (size_t k = 0; k < shared_waiting && error.empty(); ++k) {
      auto r = market.execute(RequestInstance{"client", cat("site-", k), release(0), "cdn", {}, {}, true, RequestedState::started});
      if (!r || r->pending.empty()) error = r ? "the shared instance found a host" : r.error().to_string();
    }
  }
  void request() {
    auto r = market.execute(RequestInstance{"client", cat("i-", titles++), release(0), "default", {}, {}, false, RequestedState::started});
    if (!r) return void(error = r.error().to_string());
    (r->computer.empty() ? waiting : running).push_back(r->instance);
  }
  // Destroys the oldest running instance; the oldest waiting takes its partition; one more queues.
  void churn() {
    const std::string guid = running.front();
    running.pop_front();
    const auto* i = market.instances().find(guid);
    const RequestInstance destroy{"client", i->request.title, release(0), "default", {}, {}, false, RequestedState::destroyed};
    auto d = market.execute(destroy);
    auto f = d ? market.execute(ReportState{"COMP-0", guid, ReportedState::destroyed}) : ubm::Result<Outcome>(d.error());
    if (!f) return void(error = f.error().to_string());
    if (market.instances().find(waiting.front())->computer.empty()) return void(error = "the oldest waiting request did not get the partition freed");
    running.push_back(waiting.front());
    waiting.pop_front();
    request();
  }
};

void BM_FreeWithBacklog(benchmark::State& state) {
  static std::map<std::vector<int64_t>, std::unique_ptr<BacklogWorld>> worlds;
  churn(state, world_of(worlds, {state.range(0), state.range(1)}, static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1))));
}
BENCHMARK(BM_FreeWithBacklog)->ArgNames({"pending", "shared"})->ArgsProduct({{100, 50'000}, {0, 1}})->Args({100, 5'000})->Args({100, 50'000})->Unit(benchmark::kMicrosecond);

// A market with partitions free on 1,000 computers and n requests waiting on conditions none of
// them meets (cpu_core=8 with storage_interface=ssd: each computer has one or the other). An
// iteration: an instance destroyed, its partition freed (none of the waiting suits it), and
// requested again. pending:100 is the baseline.
struct UnmetBacklogWorld : MemoryMarket {
  Outcome churned;

  // `distinct`: each waiting request with conditions of its own (a max_price of its own), so each
  // is a group of one; else all alike.
  explicit UnmetBacklogWorld(size_t n, bool distinct = false) {
    std::vector<Command> commands{RegisterParty{"owner", ubm::NodeKind::organisation, "owner"},
                                  RegisterParty{"client", ubm::NodeKind::person, "client"}};
    for (uint64_t c = 0; c < 1000; ++c) {
      const std::string guid = cat("COMP-", c);
      commands.push_back(RegisterComputer{guid, "owner", "net-0", Scope::open, static_cast<int64_t>(1 + c % 7), "EUR", "",
                                          c % 2 ? StringMap{{"cpu_core", "4"}, {"storage_interface", "ssd"}}
                                                : StringMap{{"cpu_core", "8"}, {"storage_interface", "hdd"}}});
      DeclareCapacity d{guid, {}};
      for (int p = 0; p < 10; ++p) d.partitions.push_back(PartitionSpec{cat("slappart", p), {}, {}, ""});
      commands.push_back(std::move(d));
      commands.push_back(Supply{"owner", guid, release(0), true});
    }
    for (size_t k = 0; k < n; ++k) {
      StringMap sla{{"cpu_core", "8"}, {"storage_interface", "ssd"}};
      if (distinct) sla.emplace_back("max_price", std::to_string(1000 + k));
      commands.push_back(RequestInstance{"client", cat("waiting-", k), release(0), "default", {}, normalized(sla), false, RequestedState::started});
    }
    if (!run(commands)) return;
    if (market.instances().pending_count() != n) {
      error = "a waiting request was placed";
      return;
    }
    request();
  }
  RequestInstance churn_request(RequestedState s) const { return {"client", "churn", release(0), "default", {}, {}, false, s}; }
  void request() {
    auto r = market.execute(churn_request(RequestedState::started));
    if (!r || r->computer.empty()) return void(error = r ? "the churned instance was not placed" : r.error().to_string());
    churned = *r;
  }
  // A release supplied to a computer and taken back: the supply offers the computer to the
  // requests waiting (none of which it suits, nor could any other computer). `own`: the release
  // they wait for, taken back first (from a computer where none runs), then supplied again; else
  // another release, which none of them runs.
  void supply_churn(bool own) {
    std::string computer = cat("COMP-", supplies++ % 1000);
    if (computer == churned.computer) computer = cat("COMP-", supplies++ % 1000);
    for (bool available : {!own, own}) {
      auto r = market.execute(Supply{"owner", computer, release(own ? 0 : 1), available});
      if (!r || !r->written) return void(error = r ? "the supply changed nothing" : r.error().to_string());
    }
  }
  uint64_t supplies = 0;
  void churn() {
    auto d = market.execute(churn_request(RequestedState::destroyed));
    auto f = d ? market.execute(ReportState{churned.computer, churned.instance, ReportedState::destroyed}) : ubm::Result<Outcome>(d.error());
    if (!f) return void(error = f.error().to_string());
    request();
  }
};

void BM_FreeWithUnmetBacklog(benchmark::State& state) {
  static std::map<std::vector<int64_t>, std::unique_ptr<UnmetBacklogWorld>> worlds;
  churn(state, world_of(worlds, {state.range(0), state.range(1)}, static_cast<size_t>(state.range(0)), state.range(1) != 0));
}
BENCHMARK(BM_FreeWithUnmetBacklog)->ArgNames({"pending", "distinct"})->ArgsProduct({{100, 20'000}, {0, 1}})->Unit(benchmark::kMicrosecond);

// The same market: an iteration supplies a release to one of its computers and takes it back.
// distinct:0, the requests waiting are alike (one group); distinct:1, each has conditions of its own.
// own:0, a release none of them runs (a supply asks only the requests of its release again);
// own:1, theirs (each of their groups is asked).
void BM_SupplyWithUnmetBacklog(benchmark::State& state) {
  static std::map<std::vector<int64_t>, std::unique_ptr<UnmetBacklogWorld>> worlds;
  UnmetBacklogWorld& w = world_of(worlds, {state.range(0), state.range(1)}, static_cast<size_t>(state.range(0)), state.range(1) != 0);
  for (auto _ : state) {
    if (!w.error.empty()) break;
    w.supply_churn(state.range(2) != 0);
  }
  if (!w.error.empty()) return state.SkipWithError(w.error.c_str());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SupplyWithUnmetBacklog)
    ->ArgNames({"pending", "distinct", "own"})
    ->ArgsProduct({{100, 20'000}, {0, 1}, {0, 1}})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

// Closes the durable worlds while RocksDB's own statics are still alive (not at static destruction).
void close_durable_worlds() { g_durable_worlds.clear(); }

}  // namespace slap::market

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  slap::market::close_durable_worlds();
  return 0;
}
