#include "ledger/fault_storage.h"

namespace slap::ledger {
namespace {

// A cursor that reads `left` records, then reports an I/O error (RocksDB's iterator turns invalid
// with a non-ok status).
class FailingCursor final : public Cursor {
 public:
  FailingCursor(std::unique_ptr<Cursor> inner, size_t left) : inner_(std::move(inner)), left_(left) {}
  void seek(std::string_view key) override { inner_->seek(key); }
  void seek_to_first() override { inner_->seek_to_first(); }
  void seek_to_last() override { inner_->seek_to_last(); }
  bool valid() const override { return !failed_ && inner_->valid(); }
  void next() override {
    if (left_ == 0) {
      failed_ = true;
      return;
    }
    --left_;
    inner_->next();
  }
  void prev() override { inner_->prev(); }
  std::string_view key() const override { return inner_->key(); }
  std::string_view value() const override { return inner_->value(); }
  ubm::Status status() const override {
    if (failed_) return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "", "injected read failure");
    return inner_->status();
  }

 private:
  std::unique_ptr<Cursor> inner_;
  size_t left_;
  bool failed_ = false;
};

}  // namespace

ubm::Result<std::optional<std::string>> FaultStorage::get(Family f, std::string_view key) const {
  std::lock_guard lock(mu_);
  if (fail_gets_ == f) return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "", "injected read failure");
  return live_.get(f, key);
}

std::unique_ptr<Cursor> FaultStorage::cursor(Family f) const {
  std::lock_guard lock(mu_);
  auto c = live_.cursor(f);
  if (f == Family::log && fail_scans_after_) return std::make_unique<FailingCursor>(std::move(c), *fail_scans_after_);
  return c;
}

void FaultStorage::fail_gets(Family f) {
  std::lock_guard lock(mu_);
  fail_gets_ = f;
}

void FaultStorage::fail_scans_after(size_t records) {
  std::lock_guard lock(mu_);
  fail_scans_after_ = records;
}

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
  fail_gets_.reset();
  fail_scans_after_.reset();
}

size_t FaultStorage::writes() const { std::lock_guard lock(mu_); return writes_; }
size_t FaultStorage::synced_writes() const { std::lock_guard lock(mu_); return synced_; }
size_t FaultStorage::failed_writes() const { std::lock_guard lock(mu_); return failed_; }
size_t FaultStorage::unsynced_writes() const { std::lock_guard lock(mu_); return unsynced_.size(); }

}  // namespace slap::ledger
