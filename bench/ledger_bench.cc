// ledger_bench: durable appends, replay and chain verification against raw RocksDB, same run.
//
//   build/bin/ledger_bench                      # 1M entries each (the figures)
//   SLAP_BENCH_ENTRIES=5000 build/bin/ledger_bench   # smoke size (CTest)
//   build/bin/ledger_bench --benchmark_format=json
//
// Every benchmark runs one pass over N entries and reports items_per_second. The raw baseline
// writes values of the same size as the ledger's average record, so both move the same bytes.
#include <benchmark/benchmark.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <boost/unordered/unordered_flat_map.hpp>
#include <capnp/message.h>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "ledger/directory.h"
#include "ledger/ledger.h"
#include "ledger/memory_storage.h"
#include "ledger/record.h"
#include "ledger/rocksdb_storage.h"
#include "ubm/codec.h"

namespace fs = std::filesystem;
using namespace slap;

namespace {

uint64_t entries_to_run() {
  if (const char* e = std::getenv("SLAP_BENCH_ENTRIES")) return std::strtoull(e, nullptr, 10);
  return 1'000'000;
}

constexpr size_t kBatch = 1'000;

fs::path fresh_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("slap_ledger_bench_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  return p;
}

// GCC 12 warns falsely (-Wrestrict) on `"P" + std::to_string(n)`; build ids with append().
std::string id(const char* prefix, uint64_t n) { return std::string(prefix).append(std::to_string(n)); }

// Registrations + compact usage movements, ~200 bytes per stored record.
std::vector<ubm::EntryBody> registrations() {
  std::vector<ubm::EntryBody> out;
  out.push_back(ubm::Node{ubm::NodeId{"ORG-1"}, ubm::NodeKind::organisation, "provider", {}});
  for (int c = 0; c < 100; ++c) out.push_back(ubm::Node{ubm::NodeId{id("P", c)}, ubm::NodeKind::person, "", {}});
  for (int i = 0; i < 1000; ++i) out.push_back(ubm::Item{ubm::ItemId{id("I", i)}, ubm::ItemKind::instance, "", {}, {}, {}});
  return out;
}

std::vector<std::vector<ubm::EntryBody>> movement_batches(uint64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<ubm::EntryBody>> batches;
  int64_t t = 1'767'225'600'000'000'000;
  for (uint64_t done = 0; done < n;) {
    auto& b = batches.emplace_back();
    const size_t k = static_cast<size_t>(std::min<uint64_t>(kBatch, n - done));
    b.reserve(k);
    for (size_t i = 0; i < k; ++i) {
      ubm::Movement m;
      m.resource = "usage/cpu_s";
      m.quantity = {ubm::Decimal::make(static_cast<int64_t>(rng() % 100'000'000), 6).value(), "cpu_s"};
      m.price = {ubm::Decimal::make(static_cast<int64_t>(rng() % 100), 0).value(), "EUR"};
      m.source = ubm::NodeId{"ORG-1"};
      m.destination = ubm::NodeId{id("P", rng() % 100)};
      m.items = {ubm::ItemId{id("I", rng() % 1000)}};
      m.start = ubm::TimestampNs{t};
      t += 60'000'000'000;
      m.stop = ubm::TimestampNs{t};
      b.push_back(std::move(m));
    }
    done += k;
  }
  return batches;
}

// A ledger filled once by BM_LedgerAppend and reused by replay and verify.
fs::path g_filled_ledger;
double g_record_bytes = 0;  // average stored record of the workload, measured before any benchmark

// Raw RocksDB: pre-encoded values of the ledger's record size, WriteBatch of 1000, sync on.
void raw_append(const fs::path& dir, uint64_t n, size_t value_size, benchmark::State* state) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.IncreaseParallelism(2);
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::Open(options, dir.string(), &db).ok()) std::abort();
  std::string value(value_size, 'x');
  std::mt19937_64 rng(7);
  for (auto& c : value) c = static_cast<char>(rng());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto run = [&] {
    uint64_t seq = 0;
    while (seq < n) {
      rocksdb::WriteBatch wb;
      for (size_t i = 0; i < kBatch && seq < n; ++i, ++seq) {
        char key[8];
        for (int b = 0; b < 8; ++b) key[b] = static_cast<char>((seq >> (56 - 8 * b)) & 0xff);
        wb.Put(rocksdb::Slice(key, 8), value);
      }
      if (!db->Write(wo, &wb).ok()) std::abort();
    }
  };
  if (state == nullptr) {
    run();
  } else {
    for (auto _ : *state) run();
  }
  delete db;
  fs::remove_all(dir);
}

void BM_RawRocksDBAppend(benchmark::State& state) {
  const uint64_t n = entries_to_run();
  raw_append(fresh_dir("raw"), n, static_cast<size_t>(g_record_bytes), &state);
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["value_bytes"] = g_record_bytes;
}

// The storage layer alone (ledger's RocksDB options and column families, no encoding, no hash):
// tells apart what the ledger costs from what its RocksDB configuration costs.
void BM_StorageAppend(benchmark::State& state) {
  const uint64_t n = entries_to_run();
  const fs::path dir = fresh_dir("storage");
  auto storage = ledger::open_rocksdb(dir).value();
  std::string value(static_cast<size_t>(g_record_bytes), 'x');
  ledger::WriteBatch batch;
  for (auto _ : state) {
    uint64_t seq = 0;
    while (seq < n) {
      batch.clear();
      for (size_t i = 0; i < kBatch && seq < n; ++i, ++seq) {
        char key[8];
        for (int b = 0; b < 8; ++b) key[b] = static_cast<char>((seq >> (56 - 8 * b)) & 0xff);
        batch.put(ledger::Family::log, std::string_view(key, 8), value);
      }
      if (!storage->write(batch, ledger::Sync::yes)) state.SkipWithError("write failed");
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  storage.reset();
  fs::remove_all(dir);
}

void BM_LedgerAppend(benchmark::State& state) {
  const uint64_t n = entries_to_run();
  const int threads = static_cast<int>(state.range(0));
  const fs::path dir = fresh_dir("ledger" + std::to_string(threads));
  // Built before timing: the benchmark measures encode + validate + hash chain + group commit.
  std::vector<std::vector<std::vector<ubm::EntryBody>>> work;
  for (int t = 0; t < threads; ++t) work.push_back(movement_batches(n / threads + (t < static_cast<int>(n % threads) ? 1 : 0), 100 + t));
  uint64_t writes = 0, bytes = 0;
  {
    // Open and close stay outside the timed loop, as for the raw baseline (closing flushes the
    // memtable to a table file, which neither side should be charged for).
    auto storage = ledger::open_rocksdb(dir).value();
    auto led = ledger::Ledger::open({.storage = storage, .checkpoint_every = 0}).value();
    if (!led->append(registrations())) state.SkipWithError("registration failed");
    const uint64_t before = led->head().value();
    for (auto _ : state) {
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          for (const auto& b : work[t]) {
            if (!led->append(b)) std::abort();
          }
        });
      }
      for (auto& th : pool) th.join();
    }
    writes = led->stats().writes;
    if (led->head().value() - before != n) state.SkipWithError("lost entries");
  }
  {
    auto storage = ledger::open_rocksdb(dir, {.create_if_missing = false, .read_only = true}).value();
    const auto report = ledger::verify(*storage);
    bytes = report.bytes;
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["group_writes"] = static_cast<double>(writes);
  state.counters["record_bytes"] = static_cast<double>(bytes) / static_cast<double>(n + registrations().size());
  if (!g_filled_ledger.empty()) fs::remove_all(g_filled_ledger);
  g_filled_ledger = dir;
}

// Counts movements and sums their quantities: the cheapest useful projection.
class CountingProjection final : public ledger::Projection {
 public:
  std::string_view name() const override { return "counting"; }
  void apply(std::span<const ledger::EntryView> entries) override {
    for (const auto& e : entries) {
      auto body = e.entry.getBody();
      if (body.isMovement()) {
        ++movements;
        total += body.getMovement().getQuantity().getMantissa();
      }
      last = e.seq;
    }
  }
  ubm::Seq last_applied() const override { return last; }
  std::string snapshot() const override { return std::to_string(movements) + ":" + std::to_string(total); }
  ubm::Status restore(std::string_view, ubm::Seq l) override { last = l; return {}; }
  void reset() override { movements = 0; total = 0; last = ubm::Seq{0}; }
  uint64_t movements = 0;
  int64_t total = 0;
  ubm::Seq last{0};
};

void BM_Replay(benchmark::State& state) {
  if (g_filled_ledger.empty()) return state.SkipWithError("run BM_LedgerAppend first");
  auto storage = ledger::open_rocksdb(g_filled_ledger, {.create_if_missing = false, .read_only = true}).value();
  CountingProjection counting;
  ledger::Projection* ps[] = {&counting};
  uint64_t entries = 0;
  const auto reader = state.range(0) == 0 ? ledger::ReplayReader::inline_ : ledger::ReplayReader::pipelined;
  for (auto _ : state) {
    auto r = ledger::replay(*storage, ps, {}, reader);
    if (!r) {
      state.SkipWithError("replay failed");
      break;
    }
    entries += r->entries;
  }
  state.SetItemsProcessed(static_cast<int64_t>(counting.movements * state.iterations()));
  state.counters["entries"] = static_cast<double>(entries / state.iterations());
}

void BM_VerifyChain(benchmark::State& state) {
  if (g_filled_ledger.empty()) return state.SkipWithError("run BM_LedgerAppend first");
  auto storage = ledger::open_rocksdb(g_filled_ledger, {.create_if_missing = false, .read_only = true}).value();
  uint64_t bytes = 0, entries = 0;
  for (auto _ : state) {
    const auto report = ledger::verify(*storage);
    if (!report.ok) {
      state.SkipWithError("verify failed");
      break;
    }
    bytes += report.bytes;
    entries += report.entries;
  }
  state.SetItemsProcessed(static_cast<int64_t>(entries));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

// The directory growing to N item ids (SOFTINST-like, ~45 bytes): the ledger's writer applies
// each batch, and a batch that makes the index double waits for every entry to be re-inserted.
// worst_batch_ms is that wait; the baseline is the earlier index (a flat map keyed by string_view,
// rehashing reads each id again) fed the same ids in the same batches.
std::vector<std::string> growth_ids(uint64_t n) {
  std::vector<std::string> ids;
  ids.reserve(n);
  for (uint64_t i = 0; i < n; ++i) ids.push_back(id("SOFTINST-", i * 2'654'435'761u % 1'000'000'007u).append("-0123456789abcdef0123456789"));
  return ids;
}

void BM_DirectoryGrowth(benchmark::State& state) {
  const auto ids = growth_ids(entries_to_run() * 3);
  double worst = 0, total = 0;
  for (auto _ : state) {
    ledger::Directory dir;
    uint64_t seq = 0;
    for (size_t at = 0; at < ids.size(); at += kBatch) {
      const size_t k = std::min(kBatch, ids.size() - at);
      std::vector<ledger::EntryView> views;
      views.reserve(k);
      std::vector<capnp::MallocMessageBuilder> entries(k);
      for (size_t i = 0; i < k; ++i) {
        auto e = entries[i].initRoot<schema::Entry>();
        ubm::encode(ubm::Item{ubm::ItemId{ids[at + i]}, ubm::ItemKind::instance, "", {}, {}, {}}, e);
        e.setSeq(++seq);
        views.push_back(ledger::EntryView{ubm::Seq{seq}, ubm::TimestampNs{0}, {}, e.asReader()});
      }
      const auto t0 = std::chrono::steady_clock::now();
      dir.apply(views);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      worst = std::max(worst, ms);
      total += ms;
    }
    if (dir.item_count() != ids.size()) return state.SkipWithError("ids lost");
  }
  state.SetIterationTime(total / 1e3 / static_cast<double>(state.iterations()));
  state.SetItemsProcessed(static_cast<int64_t>(ids.size() * state.iterations()));
  state.counters["ids"] = static_cast<double>(ids.size());
  state.counters["worst_batch_ms"] = worst;
}

void BM_StringViewMapGrowth(benchmark::State& state) {
  const auto ids = growth_ids(entries_to_run() * 3);
  double worst = 0, total = 0;
  for (auto _ : state) {
    boost::unordered_flat_map<std::string_view, ubm::ItemKind> index;
    for (size_t at = 0; at < ids.size(); at += kBatch) {
      const size_t k = std::min(kBatch, ids.size() - at);
      const auto t0 = std::chrono::steady_clock::now();
      for (size_t i = 0; i < k; ++i) index.emplace(ids[at + i], ubm::ItemKind::instance);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      worst = std::max(worst, ms);
      total += ms;
    }
    benchmark::DoNotOptimize(index.size());
  }
  state.SetIterationTime(total / 1e3 / static_cast<double>(state.iterations()));
  state.SetItemsProcessed(static_cast<int64_t>(ids.size() * state.iterations()));
  state.counters["worst_batch_ms"] = worst;
}

}  // namespace

BENCHMARK(BM_RawRocksDBAppend)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StorageAppend)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
// Replay and verify read the ledger the last BM_LedgerAppend wrote.
BENCHMARK(BM_LedgerAppend)->Arg(1)->Arg(4)->ArgName("threads")->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
// reader: 0 inline (one thread), 1 pipelined (a reader thread feeds the caller's; ledger.h).
BENCHMARK(BM_Replay)->Arg(0)->Arg(1)->ArgName("reader")->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VerifyChain)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StringViewMapGrowth)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DirectoryGrowth)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // The exact average record size of the workload, so the baseline writes the same bytes.
  {
    auto storage = std::make_shared<ledger::MemoryStorage>();
    auto led = ledger::Ledger::open({.storage = storage, .checkpoint_every = 0}).value();
    if (!led->append(registrations())) return 1;
    const uint64_t before = storage->size(ledger::Family::log);
    for (const auto& b : movement_batches(10'000, 99)) {
      if (!led->append(b)) return 1;
    }
    uint64_t bytes = 0;
    if (!ledger::scan_log(*storage, ubm::Seq{before + 1}, ubm::Seq{0}, [&](const ledger::EntryView&) { return true; })) return 1;
    auto c = storage->cursor(ledger::Family::log);
    for (c->seek(ledger::key_of(ubm::Seq{before + 1})); c->valid(); c->next()) bytes += c->value().size();
    g_record_bytes = static_cast<double>(bytes) / 10'000.0;
  }
  // Warm up the process (heap, page cache, RocksDB's first open) so the first benchmark is not
  // charged for it: untimed raw appends into a throwaway database.
  raw_append(fresh_dir("warmup"), std::min<uint64_t>(entries_to_run(), 200'000), static_cast<size_t>(g_record_bytes), nullptr);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (!g_filled_ledger.empty()) fs::remove_all(g_filled_ledger);
  return 0;
}
