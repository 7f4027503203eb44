#pragma once
// Projection: the usage journals already accounted, by key (computer, transaction reference,
// period), so a journal posted twice is accounted once. Rebuilt from the `usage_journal`
// attribute every usage Movement carries. Readers on any thread (shared lock).
#include <set>
#include <shared_mutex>
#include <string>

#include "ledger/projection.h"

namespace slap::market {

inline constexpr std::string_view kUsageJournalAttribute = "usage_journal";

class UsageJournals final : public ledger::Projection {
 public:
  std::string_view name() const override { return "market.usage_journals"; }
  void apply(std::span<const ledger::EntryView> entries) override;
  ubm::Seq last_applied() const override;
  std::string snapshot() const override;
  ubm::Status restore(std::string_view snapshot, ubm::Seq last_applied) override;
  std::vector<ledger::SnapshotRecord> records() const override;  // one per journal key
  void reset() override;

  bool seen(std::string_view key) const;
  size_t size() const;

 private:
  void write(ledger::SnapshotWriter& w) const;  // caller holds mu_
  mutable std::shared_mutex mu_;
  std::set<std::string, std::less<>> keys_;
  ubm::Seq last_{0};
};

}  // namespace slap::market
