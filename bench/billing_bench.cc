// billing_bench (issue 6): usage Movements over many clients and days, through the real path —
// TioXML journals parsed (slapd/usage), decided by the market, appended to a synced RocksDB ledger,
// applied to the billing projection — then an analyst's month query, a replay and a verify, each
// beside a baseline measured in the same run.
//
//   build/bin/billing_bench                     # 10M movements, 10,000 clients, 90 days
//   SLAP_BENCH_MOVEMENTS=20000 SLAP_BENCH_CLIENTS=100 SLAP_BENCH_DAYS=10 build/bin/billing_bench   # smoke (CTest)
//
//   BM_IngestTioXML        journals (one per computer and day: every client's partition x 3 periods x
//                          4 resources) parsed + decided + appended (batches of 10 journals, synced)
//                          + applied to every projection; generating the XML text is not timed.
//   BM_RawRocksDBAppend    baseline: as many values of the ledger's average record size, same batch
//                          size, synced.
//   BM_QueryMonth          GET /v1/billing?window=<a whole month>&group_by=client,resource, minus HTTP:
//                          the projection's query (month roll-ups). BM_Query7d reads day lines.
//   BM_ReplayBilling       every entry of the ledger decoded and applied to a fresh billing projection.
//   BM_RawRocksDBScan      baseline: iterate the same keys and values.
//   BM_Verify              the hash chain over every record (items = entries; bytes/s too).
// The ledger checkpoints only on close (checkpoint_every = 0): a checkpoint of this many day lines
// every 100,000 entries would measure snapshotting, not ingestion.
#include <benchmark/benchmark.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "billing/calendar.h"
#include "billing/projection.h"
#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "ledger/record.h"
#include "ledger/rocksdb_storage.h"
#include "market/market.h"
#include "slapd/usage/tioxml.h"

namespace fs = std::filesystem;
using namespace slap;

namespace {

uint64_t env(const char* name, uint64_t fallback) {
  if (const char* e = std::getenv(name)) return std::strtoull(e, nullptr, 10);
  return fallback;
}
const uint64_t kMovements = env("SLAP_BENCH_MOVEMENTS", 10'000'000);
const uint64_t kClients = env("SLAP_BENCH_CLIENTS", 10'000);
const uint64_t kDays = env("SLAP_BENCH_DAYS", 90);
constexpr uint64_t kPartitionsPerComputer = 100;
constexpr uint64_t kJournalsPerBatch = 10;
constexpr const char* kRelease = "https://lab.example.org/software/kvm/software.cfg";
const char* kResources[] = {"usage/cpu_s", "usage/ram_byte_s", "usage/disk_byte_s", "usage/net_bytes"};
const char* kUnits[] = {"cpu_s", "byte_s", "byte_s", "net_byte"};
const char* kPrices[] = {"0.0035", "0.000000002", "0.000000001", "0.000001"};  // minor units per unit
const int32_t kDay0 = *billing::parse_date("2026-01-01");

std::string id(const char* prefix, uint64_t n) { return std::string(prefix).append(std::to_string(n)); }

fs::path fresh_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("slap_billing_bench_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  return p;
}

// The filled world, built once (by BM_IngestTioXML, or by whichever benchmark runs first).
struct World {
  fs::path dir;
  ledger::ManualClock clock{billing::day_start_ns(kDay0 - 1)};
  std::unique_ptr<market::Market> market;
  std::shared_ptr<ledger::Storage> storage;
  std::unique_ptr<ledger::Ledger> ledger;
  std::vector<std::vector<std::string>> occupied;  // per computer: partitions holding an instance
  uint64_t movements = 0, journals = 0;
  double ingest_seconds = 0, record_bytes = 0;
};
World* g_world = nullptr;

void must(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "billing_bench: %s failed\n", what);
    std::abort();
  }
}

std::string two(unsigned v) { return (v < 10 ? "0" : "") + std::to_string(v); }
std::string stamp(int32_t day, unsigned hour) {
  if (hour == 24) {
    ++day;
    hour = 0;
  }
  return billing::format_date(day) + " " + two(hour) + ":00:00";
}

// One computer's journal for one day: 3 periods x 4 resources per occupied partition.
std::string journal(const std::vector<std::string>& partitions, int32_t day, uint64_t periods, std::mt19937_64& rng) {
  std::string x = "<?xml version='1.0'?><journal>";
  for (const auto& p : partitions) {
    for (uint64_t k = 0; k < periods; ++k) {
      const unsigned h0 = static_cast<unsigned>(k * 24 / periods), h1 = static_cast<unsigned>((k + 1) * 24 / periods);
      x += "<transaction type=\"Sale Packing List\"><start_date>" + stamp(day, h0) + "</start_date><stop_date>" + stamp(day, h1) +
           "</stop_date><reference>" + p + "</reference><currency/><payment_mode/><arrow type=\"Source\"><source>node</source></arrow>";
      for (size_t r = 0; r < 4; ++r) {
        const uint64_t q = rng() % 100'000'000;
        x += "<movement><resource>" + std::string(kResources[r]) + "</resource><reference>" + p + "</reference><quantity>" +
             std::to_string(q / 1000) + "." + std::to_string(1000 + q % 1000).substr(1) + "</quantity><price>0.0</price><VAT/></movement>";
      }
      x += "</transaction>";
    }
  }
  return x + "</journal>";
}

World& world() {
  if (g_world != nullptr) return *g_world;
  auto* w = new World;
  w->dir = fresh_dir("ledger");
  w->market = std::make_unique<market::Market>(market::MarketOptions{.clock = &w->clock});
  auto s = ledger::open_rocksdb(w->dir);
  must(s.ok(), "open rocksdb");
  w->storage = *s;
  auto l = ledger::Ledger::open({.storage = w->storage, .clock = &w->clock, .checkpoint_every = 0, .projections = w->market->projections()});
  must(l.ok(), "open ledger");
  w->ledger = std::move(*l);
  w->market->attach(*w->ledger);
  // Setup (not timed): a supplier, computers of 100 partitions, clients with one instance each.
  const uint64_t computers = (kClients + kPartitionsPerComputer - 1) / kPartitionsPerComputer;
  std::vector<market::Command> cmds{market::RegisterParty{"owner", ubm::NodeKind::organisation, "Supplier"}};
  for (uint64_t c = 0; c < computers; ++c) {
    cmds.push_back(market::RegisterComputer{id("COMP-", c), "owner", "net-1", market::Scope::open, 10, "EUR", "", {}});
    market::DeclareCapacity d{id("COMP-", c), {}};
    for (uint64_t p = 0; p < kPartitionsPerComputer; ++p) d.partitions.push_back({id("slappart", p), {}, {}, {}});
    cmds.push_back(std::move(d));
    cmds.push_back(market::Supply{"owner", id("COMP-", c), kRelease, true});
  }
  for (size_t r = 0; r < 4; ++r) {
    cmds.push_back(market::SetPrice{"owner", "", kResources[r], kUnits[r], ubm::Decimal::parse(kPrices[r]).value(), "EUR", kDay0, false});
  }
  for (uint64_t k = 0; k < kClients; ++k) cmds.push_back(market::RegisterParty{id("C-", k), ubm::NodeKind::person, ""});
  for (size_t from = 0; from < cmds.size(); from += 5000) {
    auto rs = w->market->execute_batch(std::span(cmds).subspan(from, std::min<size_t>(5000, cmds.size() - from)));
    for (auto& r : rs) {
      if (!r.ok()) std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
      must(r.ok(), "setup command");
    }
  }
  w->occupied.resize(computers);
  std::vector<market::Command> reqs;
  for (uint64_t k = 0; k < kClients; ++k) reqs.push_back(market::RequestInstance{id("C-", k), "vm", kRelease, "default", {}, {}, false, market::RequestedState::started});
  for (size_t from = 0; from < reqs.size(); from += 5000) {
    auto rs = w->market->execute_batch(std::span(reqs).subspan(from, std::min<size_t>(5000, reqs.size() - from)));
    for (auto& r : rs) {
      must(r.ok() && !r->partition.empty(), "allocation");
      w->occupied[std::stoul(r->computer.substr(5))].push_back(r->partition);
    }
  }
  // Ingestion (timed without the XML generation).
  const uint64_t per_period = kClients * kDays * 4;  // movements of one period over the run
  const uint64_t periods = std::max<uint64_t>(1, (kMovements + per_period - 1) / per_period);
  std::mt19937_64 rng(42);
  for (uint64_t d = 0; d < kDays; ++d) {
    const int32_t day = kDay0 + static_cast<int32_t>(d);
    w->clock.set(billing::day_start_ns(day + 1) + 3'600'000'000'000);  // the node reports after the day
    for (uint64_t c0 = 0; c0 < computers; c0 += kJournalsPerBatch) {
      std::vector<std::string> xml;
      for (uint64_t c = c0; c < std::min(computers, c0 + kJournalsPerBatch); ++c) xml.push_back(journal(w->occupied[c], day, periods, rng));
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<market::Command> batch;
      for (size_t k = 0; k < xml.size(); ++k) {
        auto txs = usage::parse_journal(xml[k], {.max_transactions = 100'000, .max_movements = 1'000'000});
        must(txs.ok(), "parse journal");
        for (const auto& t : *txs) w->movements += t.lines.size();
        batch.push_back(market::ReportUsage{id("COMP-", c0 + k), std::move(*txs)});
      }
      auto rs = w->market->execute_batch(batch);
      for (auto& r : rs) must(r.ok() && r->written, "usage journal");
      w->ingest_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      w->journals += xml.size();
    }
  }
  // Average stored record, for the raw baseline.
  uint64_t bytes = 0, n = 0;
  auto cur = w->storage->cursor(ledger::Family::log);
  for (cur->seek_to_first(); cur->valid() && n < 200'000; cur->next(), ++n) bytes += cur->value().size();
  w->record_bytes = n ? static_cast<double>(bytes) / static_cast<double>(n) : 0;
  g_world = w;
  return *w;
}

void BM_IngestTioXML(benchmark::State& state) {
  for (auto _ : state) {
    World& w = world();
    state.SetIterationTime(w.ingest_seconds);
  }
  World& w = world();
  state.SetItemsProcessed(static_cast<int64_t>(w.movements));
  state.counters["movements"] = static_cast<double>(w.movements);
  state.counters["journals"] = static_cast<double>(w.journals);
  state.counters["record_bytes"] = w.record_bytes;
  state.counters["lines"] = static_cast<double>(w.market->billing().stats().lines);
}

void BM_RawRocksDBAppend(benchmark::State& state) {
  World& w = world();
  const fs::path dir = fresh_dir("raw");
  rocksdb::Options options;
  options.create_if_missing = true;
  options.IncreaseParallelism(2);
  rocksdb::DB* db = nullptr;
  must(rocksdb::DB::Open(options, dir.string(), &db).ok(), "raw open");
  std::string value(static_cast<size_t>(w.record_bytes), 'x');
  std::mt19937_64 rng(7);
  for (auto& ch : value) ch = static_cast<char>(rng());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  const uint64_t per_batch = w.movements / std::max<uint64_t>(1, w.journals) * kJournalsPerBatch;
  for (auto _ : state) {
    for (uint64_t seq = 0; seq < w.movements;) {
      rocksdb::WriteBatch wb;
      for (uint64_t i = 0; i < per_batch && seq < w.movements; ++i, ++seq) {
        char key[8];
        for (int b = 0; b < 8; ++b) key[b] = static_cast<char>((seq >> (56 - 8 * b)) & 0xff);
        wb.Put(rocksdb::Slice(key, 8), value);
      }
      must(db->Write(wo, &wb).ok(), "raw write");
    }
  }
  delete db;
  fs::remove_all(dir);
  state.SetItemsProcessed(static_cast<int64_t>(w.movements));
  state.counters["value_bytes"] = w.record_bytes;
}

void query_bench(benchmark::State& state, int32_t from, int32_t to) {
  World& w = world();
  billing::Query q;
  q.from_day = from;
  q.to_day = to;
  q.group = (1u << static_cast<unsigned>(billing::Dim::client)) | (1u << static_cast<unsigned>(billing::Dim::resource));
  size_t rows = 0;
  int64_t amount = 0;
  for (auto _ : state) {
    auto a = w.market->billing().query(q);
    rows = a.rows.size();
    amount = a.amount;
    benchmark::DoNotOptimize(a);
  }
  state.counters["rows"] = static_cast<double>(rows);
  state.counters["amount_minor"] = static_cast<double>(amount);
}

void BM_QueryMonth(benchmark::State& state) {
  const int32_t m = billing::month_of_day(kDay0);  // January: a whole month when the run has >= 31 days
  query_bench(state, billing::first_day_of_month(m), billing::first_day_of_month(m + 1) - 1);
}
void BM_Query7d(benchmark::State& state) { query_bench(state, kDay0 + 3, kDay0 + 9); }

void BM_ReplayBilling(benchmark::State& state) {
  World& w = world();
  uint64_t entries = 0;
  billing::BillingProjection fresh;
  for (auto _ : state) {
    ledger::Projection* ps[] = {&fresh};
    auto r = ledger::replay(*w.storage, ps);
    must(r.ok(), "replay");
    entries = r->entries;
  }
  must(fresh.snapshot() == w.market->billing().snapshot(), "replay equals the live projection");  // not timed
  state.SetItemsProcessed(static_cast<int64_t>(entries * state.iterations()));
}

void BM_RawRocksDBScan(benchmark::State& state) {
  World& w = world();
  uint64_t n = 0, bytes = 0;
  for (auto _ : state) {
    n = bytes = 0;
    auto c = w.storage->cursor(ledger::Family::log);
    for (c->seek_to_first(); c->valid(); c->next()) {
      ++n;
      bytes += c->value().size();
    }
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(n * state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes * state.iterations()));
}

void BM_Verify(benchmark::State& state) {
  World& w = world();
  uint64_t entries = 0, bytes = 0;
  for (auto _ : state) {
    auto report = ledger::verify(*w.storage);
    must(report.ok, "verify");
    entries = report.head.value();
  }
  auto c = w.storage->cursor(ledger::Family::log);
  for (c->seek_to_first(); c->valid(); c->next()) bytes += c->value().size();
  state.SetItemsProcessed(static_cast<int64_t>(entries * state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes * state.iterations()));
}

BENCHMARK(BM_IngestTioXML)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawRocksDBAppend)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QueryMonth)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Query7d)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReplayBilling)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawRocksDBScan)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Verify)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (g_world != nullptr) {
    g_world->ledger.reset();
    g_world->storage.reset();
    fs::remove_all(g_world->dir);
  }
  return 0;
}
