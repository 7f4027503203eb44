#include "market/hosting_clock.h"

#include <mutex>

namespace slap::market {

void HostingClock::fold(const Fact& f) {
  const auto* r = std::get_if<fact::Reported>(&f.body);
  if (r == nullptr) return;
  if (r->state == ReportedState::started) since_.emplace(r->instance, f.at.value());  // keeps an earlier start
  else since_.erase(r->instance);
}

std::optional<ubm::TimestampNs> HostingClock::since(std::string_view instance) const {
  auto it = since_.find(instance);
  if (it == since_.end()) return std::nullopt;
  return ubm::TimestampNs{it->second};
}

std::optional<ubm::TimestampNs> HostingClock::since_at(std::string_view instance) const {
  std::shared_lock lock(mu_);
  return since(instance);
}

size_t HostingClock::running() const {
  std::shared_lock lock(mu_);
  return since_.size();
}

void HostingClock::write(ledger::SnapshotWriter& w) const {
  w.u64(since_.size());
  for (const auto& [k, v] : since_) {
    w.str(k);
    w.u64(static_cast<uint64_t>(v));
  }
}

bool HostingClock::read(ledger::SnapshotReader& r) {
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    std::string k = r.str();
    since_[std::move(k)] = static_cast<int64_t>(r.u64());
  }
  return r.ok();
}

}  // namespace slap::market
