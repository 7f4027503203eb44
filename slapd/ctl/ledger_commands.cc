// slapctl ledger verify | replay | dump | export — for auditors and operators; read-only on the
// database. Every command reads a RocksDB ledger (--db) or, except export, an export file (--file).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <boost/json/serialize.hpp>

#include "ledger/export_file.h"
#include "ledger/ledger.h"
#include "ledger/rocksdb_storage.h"
#include "slapd/ca/certificate_authority.h"
#include "slapd/ctl/commands.h"
#include "slapd/ctl/ledger_audit.h"
#include "slapd/ctl/progress.h"
#include "slapd/ctl/projection_set.h"
#include "slapd/ctl/replay_check.h"
#include "slapd/json/entry_json.h"

namespace slap::ctl {
namespace {

struct Source {
  std::string db;
  std::string file;
};

// The ledger to read, or nullptr after setting g_exit_code: 2 when it cannot be opened, 1 when an
// export file is not well formed (for an auditor that is a failed check, not a usage error).
std::shared_ptr<ledger::Storage> open_source(const Source& src) {
  if (src.db.empty() == src.file.empty()) {
    std::fprintf(stderr, "slapctl: --db is required (or --file FILE for an export, not both)\n");
    g_exit_code = kExitError;
    return nullptr;
  }
  if (!src.file.empty()) {
    auto opened = ledger::open_export(src.file);
    if (auto* e = std::get_if<ledger::ExportOpenError>(&opened)) {
      if (e->failure == ledger::ExportOpenFailure::malformed) {
        std::printf("CORRUPT export %s: %s\n", src.file.c_str(), e->detail.c_str());
        g_exit_code = kExitFailed;
      } else {
        std::fprintf(stderr, "slapctl: %s\n", e->detail.c_str());
        g_exit_code = kExitError;
      }
      return nullptr;
    }
    return std::get<std::shared_ptr<ledger::Storage>>(opened);
  }
  auto storage = ledger::open_rocksdb(src.db, {.create_if_missing = false, .read_only = true});
  if (!storage) {
    std::fprintf(stderr, "slapctl: cannot open ledger %s: %s\n", src.db.c_str(), storage.error().to_string().c_str());
    g_exit_code = kExitError;
    return nullptr;
  }
  return storage.value();
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

int run_verify(const Source& src, const std::string& ca_file, bool json, bool require_signed_head) {
  std::optional<std::string> ca_pem;
  if (!ca_file.empty()) {
    ca_pem = read_text(ca_file);
    if (!ca_pem || !ca::fingerprint_of_pem(*ca_pem)) {
      std::fprintf(stderr, "slapctl: --ca %s: not a readable PEM certificate\n", ca_file.c_str());
      return kExitError;
    }
  }
  auto storage = open_source(src);
  if (!storage) return g_exit_code;
  auto head = ledger::stored_head(*storage);
  Progress progress("verify", head ? head->value() : 0);
  const auto t0 = std::chrono::steady_clock::now();
  const auto report = ledger::verify(*storage, [&](ubm::Seq s) { progress.update(s.value()); });
  progress.finish();
  const double secs = seconds_since(t0);
  // Signatures are checked only over a chain that verifies: they attest its hashes.
  std::optional<CheckpointAudit> audit;
  if (ca_pem && report.ok) {
    Progress cp_progress("checkpoints", report.head.value());
    audit = audit_checkpoints(*storage, *ca_pem, [&](ubm::Seq s) { cp_progress.update(s.value()); });
  }
  const bool unsigned_tail_refused = audit && audit->ok && require_signed_head && audit->unsigned_tail() > 0;
  const bool ok = report.ok && (!audit || audit->ok) && !unsigned_tail_refused;
  if (json) {
    boost::json::object o{{"ok", ok}, {"head", report.head.value()}, {"head_hash", ledger::to_hex(report.head_hash)},
                          {"entries", report.entries}, {"bytes", report.bytes}};
    if (!report.ok) {
      o["first_bad"] = report.first_bad.value();
      o["problem"] = report.problem;
    }
    if (audit) {
      boost::json::object cp{{"ok", audit->ok}, {"verified", audit->verified}, {"attested", audit->attested.value()},
                             {"unsigned_tail", audit->unsigned_tail()},
                             {"signer_sha256", ledger::to_hex(ca::fingerprint_of_pem(*ca_pem).value())}};
      if (!audit->ok) {
        cp["first_bad"] = audit->first_bad.value();
        cp["problem"] = audit->problem;
      }
      o["checkpoints"] = std::move(cp);
    }
    std::cout << boost::json::serialize(o) << "\n";
  } else if (report.ok) {
    std::printf("ok head=%llu hash=%s entries=%llu bytes=%llu (%.1f MB/s)\n", ull(report.head.value()), ledger::to_hex(report.head_hash).c_str(),
                ull(report.entries), ull(report.bytes), secs > 0 ? static_cast<double>(report.bytes) / secs / 1e6 : 0.0);
    if (audit && audit->ok) {
      std::printf("signed checkpoints: %llu verified, the latest attests seq %llu of %llu (signer sha256 %s)\n", ull(audit->verified),
                  ull(audit->attested.value()), ull(report.head.value()), ledger::to_hex(ca::fingerprint_of_pem(*ca_pem).value()).c_str());
      if (audit->unsigned_tail() > 0) {
        std::printf("%s: %llu entries after seq %llu (to seq %llu) are signed by no checkpoint: whoever held this log could have "
                    "changed, added or removed them (a master signs every --checkpoint-interval and when it stops)\n",
                    unsigned_tail_refused ? "REFUSED unsigned tail" : "WARNING unsigned tail", ull(audit->unsigned_tail()),
                    ull(audit->attested.value()), ull(audit->last_fact.value()));
      }
    } else if (audit) {
      std::printf("REFUSED signed checkpoint%s%s: %s (%llu verified before it)\n", audit->first_bad.value() ? " at seq " : "",
                  audit->first_bad.value() ? std::to_string(audit->first_bad.value()).c_str() : "", audit->problem.c_str(), ull(audit->verified));
    }
  } else {
    std::printf("CORRUPT first_bad=%llu problem=\"%s\" last_good=%llu\n", ull(report.first_bad.value()), report.problem.c_str(),
                ull(report.head.value()));
  }
  return ok ? kExitOk : kExitFailed;
}

int run_replay(const Source& src) {
  auto storage = open_source(src);
  if (!storage) return g_exit_code;
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
  std::printf("replayed %llu entries up to seq %llu in %.3f s (%.0f entries/s)\n", ull(report->entries), ull(report->head.value()), secs,
              secs > 0 ? static_cast<double>(report->entries) / secs : 0.0);
  ledger::Hasher hasher;
  for (auto* p : all) {
    const std::string snap = p->snapshot();
    std::printf("  %-16s last_applied=%llu snapshot_bytes=%zu snapshot_sha256=%s\n", std::string(p->name()).c_str(),
                ull(p->last_applied().value()), snap.size(), ledger::to_hex(hasher.digest({snap})).c_str());
  }
  return kExitOk;
}

int run_replay_check(const Source& src) {
  if (!src.file.empty()) {
    std::fprintf(stderr, "slapctl: --check needs --db: an export holds the log only, not the projections' checkpoints\n");
    return kExitError;
  }
  auto storage = open_source(src);
  if (!storage) return g_exit_code;
  auto head = ledger::stored_head(*storage);
  Progress progress("replay --check", head ? head->value() : 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto report = replay_check(*storage, [&](ubm::Seq s) { progress.update(s.value()); });
  progress.finish();
  if (!report) {
    std::fprintf(stderr, "slapctl: replay failed: %s\n", report.error().to_string().c_str());
    return kExitFailed;
  }
  constexpr size_t kShown = 50;  // a wholly different checkpoint would print every record
  for (size_t i = 0; i < report->differences.size() && i < kShown; ++i) {
    const auto& d = report->differences[i];
    std::printf("DIFFERENCE projection=%s key=\"%s\": %s\n", d.projection.c_str(), d.key.c_str(), d.what.c_str());
  }
  if (report->differences.size() > kShown) std::printf("... and %zu more differences\n", report->differences.size() - kShown);
  for (const auto& o : report->older) {
    std::printf("SKIPPED projection=%s: its checkpoint is an older format (%s): the master ignores it, rebuilds the projection from "
                "the log and writes the current format at its next checkpoint; nothing to compare\n",
                o.projection.c_str(), o.what.c_str());
  }
  std::printf("%s: %llu projection checkpoints, %llu records compared with a replay of %llu entries in %.3f s; %zu differences",
              report->ok() ? "ok" : "DIFFERENT", ull(report->projections), ull(report->records), ull(report->entries), seconds_since(t0),
              report->differences.size());
  if (!report->older.empty()) std::printf("; %zu checkpoints of an older format not compared", report->older.size());
  std::printf("\n");
  return report->ok() ? kExitOk : kExitFailed;
}

int run_export(const Source& src, const std::string& out) {
  if (!src.file.empty()) {
    std::fprintf(stderr, "slapctl: export reads --db\n");
    return kExitError;
  }
  auto storage = open_source(src);
  if (!storage) return g_exit_code;
  auto head = ledger::stored_head(*storage);
  Progress progress("export", head ? head->value() : 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto report = ledger::write_export(*storage, out, [&](ubm::Seq s) { progress.update(s.value()); });
  progress.finish();
  if (!report) {
    std::fprintf(stderr, "slapctl: export failed: %s\n", report.error().to_string().c_str());
    return kExitError;
  }
  std::printf("exported %llu entries up to seq %llu to %s (%llu bytes, %.3f s)\n", ull(report->entries), ull(report->head.value()),
              out.c_str(), ull(report->bytes), seconds_since(t0));
  return kExitOk;
}

int run_dump(const Source& src, uint64_t from, uint64_t limit) {
  auto storage = open_source(src);
  if (!storage) return g_exit_code;
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
  auto* ledger = app.add_subcommand("ledger", "Verify, replay, dump and export a ledger (read-only)");
  ledger->require_subcommand(1);

  struct Args {
    Source src;
    std::string ca;
    std::string out;
    bool json = false;
    bool check = false;
    bool require_signed_head = false;
    uint64_t from = 1;
    uint64_t limit = 100;
  };
  auto args = std::make_shared<Args>();
  auto add_source = [&](CLI::App* cmd) {
    cmd->add_option("--db", args->src.db, "Ledger directory (RocksDB)");
    cmd->add_option("--file", args->src.file, "An export file (slapctl ledger export) instead of --db");
  };

  auto* verify = ledger->add_subcommand("verify", "Recompute the hash chain (and with --ca check every signed checkpoint); exit 0 and "
                                                  "print the head, or 1 and the first bad seq");
  add_source(verify);
  verify->add_option("--ca", args->ca, "The master's CA certificate: also verify the signed checkpoints against its key");
  verify->add_flag("--json", args->json, "Print one JSON object");
  verify->add_flag("--require-signed-head", args->require_signed_head,
                   "With --ca: fail unless a signed checkpoint covers every entry (a log that ends as a stopped master leaves it)");
  verify->callback([args] {
    if (args->require_signed_head && args->ca.empty()) {
      std::fprintf(stderr, "--require-signed-head needs --ca (signatures are what it checks)\n");
      g_exit_code = 2;
      return;
    }
    g_exit_code = run_verify(args->src, args->ca, args->json, args->require_signed_head);
  });

  auto* replay = ledger->add_subcommand("replay", "Rebuild every projection from scratch and summarise it");
  add_source(replay);
  replay->add_flag("--check", args->check, "Compare the rebuild with the checkpoints stored in --db; exit 1 naming each difference");
  replay->callback([args] { g_exit_code = args->check ? run_replay_check(args->src) : run_replay(args->src); });

  auto* dump = ledger->add_subcommand("dump", "Print entries as JSON lines");
  add_source(dump);
  dump->add_option("--from", args->from, "First seq")->check(CLI::PositiveNumber);
  dump->add_option("--limit", args->limit, "Maximum number of entries")->check(CLI::Range(uint64_t{1}, uint64_t{10'000'000}));
  dump->callback([args] { g_exit_code = run_dump(args->src, args->from, args->limit); });

  auto* exp = ledger->add_subcommand("export", "Write the log, records exactly as stored, to one self-contained file (ledger/FORMAT.md)");
  exp->add_option("--db", args->src.db, "Ledger directory (RocksDB)")->required();
  exp->add_option("--out", args->out, "The file to write (replaced atomically)")->required();
  exp->callback([args] { g_exit_code = run_export(args->src, args->out); });
}

}  // namespace slap::ctl
