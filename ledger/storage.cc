#include "ledger/storage.h"

#include <cstring>

namespace slap::ledger {

void WriteBatch::put(Family f, std::string_view key, std::string_view value) {
  char* out = put_uninitialized(f, key, value.size());
  if (!value.empty()) std::memcpy(out, value.data(), value.size());
}

char* WriteBatch::put_uninitialized(Family f, std::string_view key, size_t size) {
  Raw r{f, false, data_.size(), key.size(), 0, size};
  data_.append(key);
  r.value_off = data_.size();
  data_.resize(data_.size() + size);
  ops_.push_back(r);
  return data_.data() + r.value_off;
}

void WriteBatch::remove(Family f, std::string_view key) {
  Raw r{f, true, data_.size(), key.size(), 0, 0};
  data_.append(key);
  ops_.push_back(r);
}

WriteBatch::Op WriteBatch::op(size_t i) const noexcept {
  const Raw& r = ops_[i];
  return Op{r.family, r.is_delete, std::string_view(data_.data() + r.key_off, r.key_len),
            std::string_view(data_.data() + r.value_off, r.value_len)};
}

void WriteBatch::clear() noexcept {
  data_.clear();
  ops_.clear();
}

void WriteBatch::reserve(size_t ops, size_t bytes) {
  ops_.reserve(ops);
  data_.reserve(bytes);
}

}  // namespace slap::ledger
