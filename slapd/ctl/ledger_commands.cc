// slapctl ledger verify | replay | dump — for auditors and operators; read-only on the database.
#include <cstdio>
#include <iostream>
#include <memory>

#include <boost/json/serialize.hpp>

#include "ledger/ledger.h"
#include "ledger/rocksdb_storage.h"
#include "slapd/ctl/commands.h"
#include "slapd/ctl/progress.h"
#include "slapd/ctl/projection_set.h"
#include "slapd/json/entry_json.h"

namespace slap::ctl {
namespace {

std::shared_ptr<ledger::Storage> open_read_only(const std::string& db) {
  auto storage = ledger::open_rocksdb(db, {.create_if_missing = false, .read_only = true});
  if (!storage) {
    std::fprintf(stderr, "slapctl: cannot open ledger %s: %s\n", db.c_str(), storage.error().to_string().c_str());
    g_exit_code = kExitError;
    return nullptr;
  }
  return storage.value();
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int run_verify(const std::string& db, bool json) {
  auto storage = open_read_only(db);
  if (!storage) return kExitError;
  auto head = ledger::stored_head(*storage);
  Progress progress("verify", head ? head->value() : 0);
  const auto t0 = std::chrono::steady_clock::now();
  const auto report = ledger::verify(*storage, [&](ubm::Seq s) { progress.update(s.value()); });
  progress.finish();
  const double secs = seconds_since(t0);
  if (json) {
    boost::json::object o{{"ok", report.ok}, {"head", report.head.value()}, {"head_hash", ledger::to_hex(report.head_hash)},
                          {"entries", report.entries}, {"bytes", report.bytes}};
    if (!report.ok) {
      o["first_bad"] = report.first_bad.value();
      o["problem"] = report.problem;
    }
    std::cout << boost::json::serialize(o) << "\n";
  } else if (report.ok) {
    std::printf("ok head=%llu hash=%s entries=%llu bytes=%llu (%.1f MB/s)\n", static_cast<unsigned long long>(report.head.value()),
                ledger::to_hex(report.head_hash).c_str(), static_cast<unsigned long long>(report.entries),
                static_cast<unsigned long long>(report.bytes), secs > 0 ? static_cast<double>(report.bytes) / secs / 1e6 : 0.0);
  } else {
    std::printf("CORRUPT first_bad=%llu problem=\"%s\" last_good=%llu\n", static_cast<unsigned long long>(report.first_bad.value()),
                report.problem.c_str(), static_cast<unsigned long long>(report.head.value()));
  }
  return report.ok ? kExitOk : kExitFailed;
}

int run_replay(const std::string& db) {
  auto storage = open_read_only(db);
  if (!storage) return kExitError;
  auto head = ledger::stored_head(*storage);
  ProjectionSet set;
  auto all = set.all();
  Progress progress("replay", head ? head->value() : 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto report = ledger::replay(*storage, all, [&](ubm::Seq s) { progress.update(s.value()); });
  progress.finish();
  const double secs = seconds_since(t0);
  if (!report) {
    std::fprintf(stderr, "slapctl: replay failed: %s\n", report.error().to_string().c_str());
    return kExitFailed;
  }
  std::printf("replayed %llu entries up to seq %llu in %.3f s (%.0f entries/s)\n", static_cast<unsigned long long>(report->entries),
              static_cast<unsigned long long>(report->head.value()), secs, secs > 0 ? static_cast<double>(report->entries) / secs : 0.0);
  ledger::Hasher hasher;
  for (auto* p : all) {
    const std::string snap = p->snapshot();
    std::printf("  %-10s last_applied=%llu snapshot_bytes=%zu snapshot_sha256=%s\n", std::string(p->name()).c_str(),
                static_cast<unsigned long long>(p->last_applied().value()), snap.size(), ledger::to_hex(hasher.digest({snap})).c_str());
  }
  return kExitOk;
}

int run_dump(const std::string& db, uint64_t from, uint64_t limit) {
  auto storage = open_read_only(db);
  if (!storage) return kExitError;
  uint64_t n = 0;
  auto s = ledger::scan_log(*storage, ubm::Seq{from}, ubm::Seq{0}, [&](const ledger::EntryView& v) {
    if (n >= limit) return false;
    std::cout << boost::json::serialize(json::entry_to_json(v)) << "\n";
    ++n;
    return true;
  });
  if (!s) {
    std::fprintf(stderr, "slapctl: dump stopped: %s\n", s.error().to_string().c_str());
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace

void add_ledger_commands(CLI::App& app) {
  auto* ledger = app.add_subcommand("ledger", "Verify, replay and dump a ledger (read-only)");
  ledger->require_subcommand(1);

  struct Args {
    std::string db;
    bool json = false;
    uint64_t from = 1;
    uint64_t limit = 100;
  };
  auto args = std::make_shared<Args>();

  auto* verify = ledger->add_subcommand("verify", "Recompute the hash chain; exit 0 and print the head, or 1 and the first bad seq");
  verify->add_option("--db", args->db, "Ledger directory (RocksDB)")->required();
  verify->add_flag("--json", args->json, "Print one JSON object");
  verify->callback([args] { g_exit_code = run_verify(args->db, args->json); });

  auto* replay = ledger->add_subcommand("replay", "Rebuild every projection from scratch and summarise it");
  replay->add_option("--db", args->db, "Ledger directory (RocksDB)")->required();
  replay->callback([args] { g_exit_code = run_replay(args->db); });

  auto* dump = ledger->add_subcommand("dump", "Print entries as JSON lines");
  dump->add_option("--db", args->db, "Ledger directory (RocksDB)")->required();
  dump->add_option("--from", args->from, "First seq")->check(CLI::PositiveNumber);
  dump->add_option("--limit", args->limit, "Maximum number of entries")->check(CLI::Range(uint64_t{1}, uint64_t{10'000'000}));
  dump->callback([args] { g_exit_code = run_dump(args->db, args->from, args->limit); });
}

}  // namespace slap::ctl
