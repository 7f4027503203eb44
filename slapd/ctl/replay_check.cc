#include "slapd/ctl/replay_check.h"

#include <algorithm>
#include <map>

#include "ledger/ledger.h"
#include "slapd/ctl/projection_set.h"

namespace slap::ctl {
namespace {

struct Stored {
  std::string name;
  ubm::Seq last{0};
  std::string snapshot;
};

ledger::Projection* find(std::vector<ledger::Projection*>& ps, std::string_view name) {
  for (auto* p : ps) {
    if (p->name() == name) return p;
  }
  return nullptr;
}

// Records by key; a repeated key (a corrupt snapshot may repeat one) gets a "#n" suffix so nothing
// is silently merged.
std::map<std::string, std::string> by_key(std::vector<ledger::SnapshotRecord> records) {
  std::map<std::string, std::string> out;
  for (auto& r : records) {
    std::string key = r.key;
    for (int n = 2; out.count(key) != 0; ++n) key = r.key + " #" + std::to_string(n);
    out.emplace(std::move(key), std::move(r.value));
  }
  return out;
}

void compare(const std::string& name, const ledger::Projection& rebuilt, const std::string& stored_bytes,
             ledger::Projection& stored, ReplayCheckReport& report) {
  auto differ = [&](std::string key, std::string what) { report.differences.push_back({name, std::move(key), std::move(what)}); };
  const auto rebuilt_records = by_key(rebuilt.records());
  report.records += rebuilt_records.size();
  if (rebuilt.snapshot() == stored_bytes) return;
  if (auto s = stored.restore(stored_bytes, rebuilt.last_applied()); !s) {
    return differ("(checkpoint)", "the stored snapshot does not parse: " + s.error().detail);
  }
  const auto stored_records = by_key(stored.records());
  const size_t before = report.differences.size();
  for (const auto& [key, value] : stored_records) {
    auto it = rebuilt_records.find(key);
    if (it == rebuilt_records.end()) {
      differ(key, "only in the checkpoint");
    } else if (it->second != value) {
      differ(key, "differs (checkpoint " + std::to_string(value.size()) + " bytes, replay " + std::to_string(it->second.size()) + " bytes)");
    }
  }
  for (const auto& [key, value] : rebuilt_records) {
    if (stored_records.count(key) == 0) differ(key, "missing from the checkpoint");
  }
  // Parsing can normalise a changed byte away (a flag 1 read back from 3): the bytes still differ.
  if (report.differences.size() == before) differ("(checkpoint)", "the bytes differ although every record reads back equal");
}

}  // namespace

ubm::Result<ReplayCheckReport> replay_check(const ledger::Storage& storage, const std::function<void(ubm::Seq)>& progress) {
  ReplayCheckReport report;
  auto head = ledger::stored_head(storage);
  if (!head) return head.error();

  // 1. The checkpoints as stored: u64 LE last-applied seq, then the snapshot (FORMAT.md).
  std::vector<Stored> stored;
  {
    auto c = storage.cursor(ledger::Family::checkpoints);
    for (c->seek_to_first(); c->valid(); c->next()) {
      const std::string name(c->key());
      const std::string_view v = c->value();
      if (v.size() < 8) {
        report.differences.push_back({name, "(checkpoint)", "shorter than its 8-byte seq"});
        continue;
      }
      uint64_t last = 0;
      for (int i = 7; i >= 0; --i) last = (last << 8) | static_cast<uint8_t>(v[i]);
      stored.push_back({name, ubm::Seq{last}, std::string(v.substr(8))});
    }
    if (auto s = c->status(); !s) return s.error();
  }

  // 2. Rebuild, each projection up to its own checkpoint's seq.
  ProjectionSet rebuilt_set, stored_set;
  auto rebuilt = rebuilt_set.all();
  auto restored = stored_set.all();
  for (auto* p : rebuilt) p->reset();
  std::vector<std::pair<ledger::Projection*, ubm::Seq>> targets;
  ubm::Seq until{0};
  for (const auto& s : stored) {
    auto* p = find(rebuilt, s.name);
    if (p == nullptr) {
      report.differences.push_back({s.name, "(checkpoint)", "no projection of this name is known to slapctl: cannot rebuild it"});
    } else if (s.last > *head) {
      report.differences.push_back({s.name, "(checkpoint)", "covers seq " + std::to_string(s.last.value()) + ", beyond the log's last entry " +
                                                                std::to_string(head->value())});
    } else {
      targets.emplace_back(p, s.last);
      until = std::max(until, s.last);
    }
  }
  if (until.value() > 0) {
    auto s = ledger::scan_log(storage, ubm::Seq{1}, until, [&](const ledger::EntryView& v) {
      for (auto& [p, target] : targets) {
        if (v.seq <= target) p->apply(std::span<const ledger::EntryView>(&v, 1));
      }
      ++report.entries;
      if (progress && (v.seq.value() & 0x3fff) == 0) progress(v.seq);
      return true;
    });
    if (!s) return s.error();
  }

  // 3. Compare, record by record where they differ.
  for (const auto& s : stored) {
    auto it = std::find_if(targets.begin(), targets.end(), [&](const auto& t) { return t.first->name() == s.name; });
    if (it == targets.end()) continue;
    ++report.projections;
    compare(s.name, *it->first, s.snapshot, *find(restored, s.name), report);
  }
  return report;
}

}  // namespace slap::ctl
