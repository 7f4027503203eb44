#include "ledger/memory_storage.h"

namespace slap::ledger {

class MemoryCursor final : public Cursor {
 public:
  MemoryCursor(const MemoryStorage& s, Family f) : s_(s), f_(f) {}
  void seek(std::string_view key) override { locate([&](const MemoryStorage::Map& m) { return m.lower_bound(key); }); }
  void seek_to_first() override { locate([](const MemoryStorage::Map& m) { return m.begin(); }); }
  void seek_to_last() override {
    locate([](const MemoryStorage::Map& m) { return m.empty() ? m.end() : std::prev(m.end()); });
  }
  bool valid() const override { return valid_; }
  void next() override {
    locate([&](const MemoryStorage::Map& m) { return m.upper_bound(key_); });
  }
  void prev() override {
    locate([&](const MemoryStorage::Map& m) {
      auto it = m.lower_bound(key_);
      return it == m.begin() ? m.end() : std::prev(it);
    });
  }
  std::string_view key() const override { return key_; }
  std::string_view value() const override { return value_; }
  ubm::Status status() const override { return {}; }

 private:
  template <typename Find>
  void locate(Find find) {
    std::shared_lock lock(s_.mu_);
    const auto& m = s_.maps_[static_cast<size_t>(f_)];
    auto it = find(m);
    valid_ = it != m.end();
    if (valid_) {
      key_ = it->first;
      value_ = it->second;
    }
  }
  const MemoryStorage& s_;
  Family f_;
  bool valid_ = false;
  std::string key_, value_;  // copies: the map may change between moves
};

MemoryStorage::MemoryStorage(const MemoryStorage& other) {
  std::shared_lock lock(other.mu_);
  maps_ = other.maps_;
}

MemoryStorage& MemoryStorage::operator=(const MemoryStorage& other) {
  if (this == &other) return *this;
  std::array<Map, kFamilyCount> copy;
  {
    std::shared_lock lock(other.mu_);
    copy = other.maps_;
  }
  std::unique_lock lock(mu_);
  maps_ = std::move(copy);
  return *this;
}

ubm::Status MemoryStorage::write(const WriteBatch& batch, Sync) {
  apply_prefix(batch, batch.size());
  return {};
}

void MemoryStorage::apply_prefix(const WriteBatch& batch, size_t count) {
  std::unique_lock lock(mu_);
  for (size_t i = 0; i < count && i < batch.size(); ++i) {
    const auto op = batch.op(i);
    auto& m = maps_[static_cast<size_t>(op.family)];
    if (op.is_delete) {
      if (auto it = m.find(op.key); it != m.end()) m.erase(it);
    } else {
      m.insert_or_assign(std::string(op.key), std::string(op.value));
    }
  }
}

ubm::Result<std::optional<std::string>> MemoryStorage::get(Family f, std::string_view key) const {
  std::shared_lock lock(mu_);
  const auto& m = maps_[static_cast<size_t>(f)];
  auto it = m.find(key);
  if (it == m.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

std::unique_ptr<Cursor> MemoryStorage::cursor(Family f) const { return std::make_unique<MemoryCursor>(*this, f); }

size_t MemoryStorage::size(Family f) const {
  std::shared_lock lock(mu_);
  return maps_[static_cast<size_t>(f)].size();
}

}  // namespace slap::ledger
