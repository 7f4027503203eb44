#pragma once
// An open-addressing (linear probing) index from a small trivially-copyable key to a uint32 slot
// number: one probe touches one cache line, where std::unordered_map chases a heap node per
// lookup — it is the replay's hottest structure (one lookup per usage movement). Never erases.
#include <cstdint>
#include <vector>

namespace slap::billing {

template <typename Key, typename Hash>
class FlatIndex {
 public:
  static constexpr uint32_t kEmpty = UINT32_MAX;

  // The slot stored for `key`, or kEmpty.
  uint32_t find(const Key& key) const noexcept {
    if (cells_.empty()) return kEmpty;
    for (size_t i = Hash{}(key) & mask_;; i = (i + 1) & mask_) {
      const Cell& c = cells_[i];
      if (c.value == kEmpty) return kEmpty;
      if (c.key == key) return c.value;
    }
  }
  // Precondition: find(key) == kEmpty.
  void insert(const Key& key, uint32_t value) {
    if ((size_ + 1) * 2 > cells_.size()) grow();
    place(key, value);
    ++size_;
  }
  void clear() {
    cells_.clear();
    mask_ = 0;
    size_ = 0;
  }
  size_t size() const noexcept { return size_; }

 private:
  struct Cell {
    Key key{};
    uint32_t value = kEmpty;
  };
  void place(const Key& key, uint32_t value) {
    size_t i = Hash{}(key) & mask_;
    while (cells_[i].value != kEmpty) i = (i + 1) & mask_;
    cells_[i] = Cell{key, value};
  }
  void grow() {
    std::vector<Cell> old = std::move(cells_);
    cells_.assign(old.empty() ? 1024 : old.size() * 2, Cell{});
    mask_ = cells_.size() - 1;
    for (const Cell& c : old) {
      if (c.value != kEmpty) place(c.key, c.value);
    }
  }
  std::vector<Cell> cells_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace slap::billing
