#include "ledger/fault_storage.h"

namespace slap::ledger {

ubm::Status FaultStorage::write(const WriteBatch& batch, Sync sync) {
  std::lock_guard lock(mu_);
  if (fail_next_ > 0) {
    --fail_next_;
    ++failed_;
    return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "", "injected write failure");
  }
  if (tear_next_) {
    const size_t keep = *tear_next_;
    tear_next_.reset();
    ++failed_;
    // A torn write reached the disk partially: both what is seen and what survives hold the prefix.
    live_.apply_prefix(batch, keep);
    for (const auto& b : unsynced_) durable_.apply_prefix(b, b.size());
    unsynced_.clear();
    durable_.apply_prefix(batch, keep);
    return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "", "injected torn write");
  }
  live_.apply_prefix(batch, batch.size());
  ++writes_;
  if (sync) {
    ++synced_;
    for (const auto& b : unsynced_) durable_.apply_prefix(b, b.size());
    unsynced_.clear();
    durable_.apply_prefix(batch, batch.size());
  } else {
    unsynced_.push_back(batch);
  }
  return {};
}

void FaultStorage::fail_next_writes(int n) {
  std::lock_guard lock(mu_);
  fail_next_ = n;
}

void FaultStorage::tear_next_write(size_t keep_ops) {
  std::lock_guard lock(mu_);
  tear_next_ = keep_ops;
}

void FaultStorage::crash() {
  std::lock_guard lock(mu_);
  unsynced_.clear();
  live_ = durable_;
}

void FaultStorage::clear_faults() {
  std::lock_guard lock(mu_);
  fail_next_ = 0;
  tear_next_.reset();
}

size_t FaultStorage::writes() const { std::lock_guard lock(mu_); return writes_; }
size_t FaultStorage::synced_writes() const { std::lock_guard lock(mu_); return synced_; }
size_t FaultStorage::failed_writes() const { std::lock_guard lock(mu_); return failed_; }
size_t FaultStorage::unsynced_writes() const { std::lock_guard lock(mu_); return unsynced_.size(); }

}  // namespace slap::ledger
