#include "market/usage_journals.h"

#include <mutex>

#include "ledger/snapshot_codec.h"

namespace slap::market {

void UsageJournals::apply(std::span<const ledger::EntryView> entries) {
  std::unique_lock lock(mu_);
  for (const auto& e : entries) {
    last_ = e.seq;
    auto body = e.entry.getBody();
    if (!body.isMovement()) continue;
    // A usage movement names its journal first (market.cc writes it so; billing reads it there
    // too): one comparison per entry, not one per attribute of every market fact.
    auto attrs = body.getMovement().getAttributes();
    if (attrs.size() == 0) continue;
    auto a = attrs[0];
    if (std::string_view(a.getKey().cStr(), a.getKey().size()) == kUsageJournalAttribute) {
      keys_.emplace(a.getValue().cStr(), a.getValue().size());
    }
  }
}

ubm::Seq UsageJournals::last_applied() const {
  std::shared_lock lock(mu_);
  return last_;
}

std::string UsageJournals::snapshot() const {
  std::shared_lock lock(mu_);
  ledger::SnapshotWriter w;
  write(w);
  return w.take();
}

std::vector<ledger::SnapshotRecord> UsageJournals::records() const {
  std::shared_lock lock(mu_);
  auto w = ledger::SnapshotWriter::marking();
  write(w);
  return w.records();
}

void UsageJournals::write(ledger::SnapshotWriter& w) const {
  w.u64(keys_.size());
  for (const auto& k : keys_) {
    w.mark("journal", k);
    w.str(k);
  }
}

ubm::Status UsageJournals::restore(std::string_view snapshot, ubm::Seq last_applied) {
  reset();
  ledger::SnapshotReader r(snapshot);
  std::set<std::string, std::less<>> keys;
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) keys.insert(r.str());
  if (!r.ok() || !r.at_end()) return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "usage_journals", "truncated snapshot");
  std::unique_lock lock(mu_);
  keys_ = std::move(keys);
  last_ = last_applied;
  return {};
}

void UsageJournals::reset() {
  std::unique_lock lock(mu_);
  keys_.clear();
  last_ = ubm::Seq{0};
}

bool UsageJournals::seen(std::string_view key) const {
  std::shared_lock lock(mu_);
  return keys_.find(key) != keys_.end();
}

size_t UsageJournals::size() const {
  std::shared_lock lock(mu_);
  return keys_.size();
}

}  // namespace slap::market
