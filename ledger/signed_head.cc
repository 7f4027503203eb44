#include "ledger/signed_head.h"

#include <mutex>

#include "ledger/snapshot_codec.h"

namespace slap::ledger {
namespace {

std::string bytes(capnp::Data::Reader d) { return std::string(reinterpret_cast<const char*>(d.begin()), d.size()); }

}  // namespace

void SignedHead::apply(std::span<const EntryView> entries) {
  std::unique_lock lock(mu_);
  for (const auto& e : entries) {
    last_ = e.seq;
    auto body = e.entry.getBody();
    if (!body.isCheckpoint()) continue;
    auto c = body.getCheckpoint();
    latest_ = Latest{e.seq, e.timestamp, ubm::Checkpoint{ubm::Seq{c.getSeq()}, bytes(c.getHeadHash()), bytes(c.getSignature())}};
    ++count_;
  }
}

ubm::Seq SignedHead::last_applied() const {
  std::shared_lock lock(mu_);
  return last_;
}

std::string SignedHead::snapshot() const {
  std::shared_lock lock(mu_);
  SnapshotWriter w;
  w.u64(count_);
  w.u8(latest_ ? 1 : 0);
  if (latest_) {
    w.u64(latest_->entry.value());
    w.u64(static_cast<uint64_t>(latest_->recorded.value()));
    w.u64(latest_->checkpoint.seq.value());
    w.str(latest_->checkpoint.head_hash);
    w.str(latest_->checkpoint.signature);
  }
  return w.take();
}

ubm::Status SignedHead::restore(std::string_view snapshot, ubm::Seq last_applied) {
  reset();
  SnapshotReader r(snapshot);
  const uint64_t count = r.u64();
  std::optional<Latest> latest;
  if (r.u8() == 1) {
    Latest l;
    l.entry = ubm::Seq{r.u64()};
    l.recorded = ubm::TimestampNs{static_cast<int64_t>(r.u64())};
    l.checkpoint.seq = ubm::Seq{r.u64()};
    l.checkpoint.head_hash = r.str();
    l.checkpoint.signature = r.str();
    latest = std::move(l);
  }
  if (!r.ok() || !r.at_end()) return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "signed_head", "truncated snapshot");
  std::unique_lock lock(mu_);
  count_ = count;
  latest_ = std::move(latest);
  last_ = last_applied;
  return {};
}

void SignedHead::reset() {
  std::unique_lock lock(mu_);
  latest_.reset();
  count_ = 0;
  last_ = ubm::Seq{0};
}

std::optional<SignedHead::Latest> SignedHead::latest() const {
  std::shared_lock lock(mu_);
  return latest_;
}

uint64_t SignedHead::count() const {
  std::shared_lock lock(mu_);
  return count_;
}

}  // namespace slap::ledger
