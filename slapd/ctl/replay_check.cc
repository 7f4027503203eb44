#include "slapd/ctl/replay_check.h"

#include <algorithm>
#include <map>
#include <optional>

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

// The projections whose snapshots lead with a format mark: a family in the top 16 bits (directory,
// computer view, billing), a version below it, raised whenever the layout changes.
constexpr uint64_t kMarkedFamilies[] = {0xD1EC, 0xC0E1, 0xB111};

uint64_t leading_u64(std::string_view bytes) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
  return v;
}

// "version A, this slapctl writes B" when `stored` is an earlier format of the projection whose
// current snapshot is `rebuilt`; nullopt otherwise (a later version, or a mark mangled into
// another family, is a difference like any bytes that do not parse).
std::optional<std::string> older_format(std::string_view stored, std::string_view rebuilt) {
  if (stored.size() < 8 || rebuilt.size() < 8) return std::nullopt;
  const uint64_t now = leading_u64(rebuilt), then = leading_u64(stored);
  const uint64_t family = now >> 48;
  if (std::find(std::begin(kMarkedFamilies), std::end(kMarkedFamilies), family) == std::end(kMarkedFamilies)) return std::nullopt;
  const uint64_t version = now & 0xFFFF'FFFF'FFFF, earlier = then & 0xFFFF'FFFF'FFFF;
  if (then >> 48 != family || earlier == 0 || earlier >= version) return std::nullopt;
  return "format version " + std::to_string(earlier) + ", this slapctl writes " + std::to_string(version);
}

void compare(const std::string& name, const ledger::Projection& rebuilt, const std::string& stored_bytes,
             ledger::Projection& stored, ReplayCheckReport& report) {
  auto differ = [&](std::string key, std::string what) { report.differences.push_back({name, std::move(key), std::move(what)}); };
  const auto rebuilt_records = by_key(rebuilt.records());
  report.records += rebuilt_records.size();
  const std::string rebuilt_bytes = rebuilt.snapshot();
  if (rebuilt_bytes == stored_bytes) return;
  if (auto older = older_format(stored_bytes, rebuilt_bytes)) {
    report.older.push_back({name, "(checkpoint)", *older});
    return;
  }
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
