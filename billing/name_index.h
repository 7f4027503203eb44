#pragma once
// Name -> id for the billing projection's interned names (clients, instances, computers...): an
// open-addressing table of (hash, id) cells, so a lookup touches one compact cell (tens of
// thousands of names fit in a few hundred KB, which stays in cache) and then the name itself to
// confirm it — where std::unordered_map walks a chain of separately allocated nodes, a cache miss
// each, once per client change during a replay. The names live in the caller's vector; ids index
// it. Never erases.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace slap::billing {

class NameIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // The id of `s`, or kNone. `names[id]` must be the name of every id inserted.
  uint32_t find(std::string_view s, const std::vector<std::string>& names) const noexcept {
    if (cells_.empty()) return kNone;
    const uint64_t h = hash_of(s);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Cell& c = cells_[i];
      if (c.id == kNone) return kNone;
      if (c.hash == h && names[c.id] == s) return c.id;  // equal hashes of different names go on
    }
  }
  // Precondition: find(s) == kNone.
  void insert(std::string_view s, uint32_t id) {
    if ((size_ + 1) * 2 > cells_.size()) grow();
    place(Cell{hash_of(s), id});
    ++size_;
  }
  void clear() {
    cells_.clear();
    mask_ = 0;
    size_ = 0;
  }

 private:
  struct Cell {
    uint64_t hash = 0;
    uint32_t id = kNone;
  };
  static uint64_t hash_of(std::string_view s) noexcept { return std::hash<std::string_view>{}(s); }
  void place(Cell cell) {
    size_t i = cell.hash & mask_;
    while (cells_[i].id != kNone) i = (i + 1) & mask_;
    cells_[i] = cell;
  }
  void grow() {
    std::vector<Cell> old = std::move(cells_);
    cells_.assign(old.empty() ? 1024 : old.size() * 2, Cell{});
    mask_ = cells_.size() - 1;
    for (const Cell& c : old) {
      if (c.id != kNone) place(c);
    }
  }
  std::vector<Cell> cells_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace slap::billing
