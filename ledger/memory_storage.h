#pragma once
// Storage in ordered in-memory maps: fast and deterministic, for tests and simulations. Nothing
// survives the process. Cursors re-find their position on every move, so concurrent writes never
// invalidate them (they see keys inserted after them in order).
#include <array>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "ledger/storage.h"

namespace slap::ledger {

class MemoryStorage final : public Storage {
 public:
  using Map = std::map<std::string, std::string, std::less<>>;

  MemoryStorage() = default;
  MemoryStorage(const MemoryStorage& other);
  MemoryStorage& operator=(const MemoryStorage& other);

  ubm::Status write(const WriteBatch& batch, Sync sync) override;
  ubm::Result<std::optional<std::string>> get(Family f, std::string_view key) const override;
  std::unique_ptr<Cursor> cursor(Family f) const override;

  // Applies the first `count` operations of the batch (count <= batch.size()).
  void apply_prefix(const WriteBatch& batch, size_t count);
  size_t size(Family f) const;

 private:
  friend class MemoryCursor;
  mutable std::shared_mutex mu_;
  std::array<Map, kFamilyCount> maps_;
};

}  // namespace slap::ledger
