#pragma once
// The narrow interface between the ledger and whatever keeps its bytes: ordered key/value families,
// atomic batches, optional sync. RocksDB is the default (rocksdb_storage.h); memory_storage.h is for
// fast deterministic tests; fault_storage.h fails and drops writes on demand. A replicated log
// (DESIGN.md §10) would be one more implementation of this interface.
//
// Thread-safety: every implementation accepts concurrent calls.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ubm/error.h"
#include "ubm/strong_type.h"

namespace slap::ledger {

enum class Family : uint8_t {
  log = 0,          // big-endian seq -> record (FORMAT.md)
  checkpoints = 1,  // projection name -> last applied seq + snapshot
  meta = 2,         // small facts about the ledger itself
};
inline constexpr size_t kFamilyCount = 3;

using Sync = ubm::BoolClass<struct SyncTag>;

// Write buffers kept for the next write are given back once a write passed this many bytes (one
// command's cascade: an append takes up to LedgerOptions::max_batch_entries), not kept for good.
inline constexpr size_t kKeptWriteBytes = size_t{128} << 20;

// Puts and deletes applied all together or not at all. Values live in one buffer so building a
// batch of thousands of entries costs one growing allocation.
class WriteBatch {
 public:
  struct Op {
    Family family;
    bool is_delete;
    std::string_view key;
    std::string_view value;
  };
  void put(Family f, std::string_view key, std::string_view value);
  void remove(Family f, std::string_view key);
  // Appends a put whose value is written by the caller into the returned buffer of `size` bytes.
  // The pointer is valid until the next call on this batch.
  char* put_uninitialized(Family f, std::string_view key, size_t size);
  size_t size() const noexcept { return ops_.size(); }
  bool empty() const noexcept { return ops_.empty(); }
  size_t byte_size() const noexcept { return data_.size(); }
  Op op(size_t i) const noexcept;
  void clear() noexcept;
  void reserve(size_t ops, size_t bytes);

 private:
  // 64-bit offsets: a projection checkpoint (tens of MB now) or a large group may pass 4 GiB in
  // one batch; 32-bit ones, guarded by an assert compiled out of release builds, wrapped silently.
  struct Raw {
    Family family;
    bool is_delete;
    size_t key_off, key_len, value_off, value_len;
  };
  std::string data_;
  std::vector<Raw> ops_;
};

// An ordered cursor over one family. key()/value() are valid until the next move.
class Cursor {
 public:
  virtual ~Cursor() = default;
  virtual void seek(std::string_view key) = 0;  // first key >= key
  virtual void seek_to_first() = 0;
  virtual void seek_to_last() = 0;
  virtual bool valid() const = 0;
  virtual void next() = 0;
  virtual void prev() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  virtual ubm::Status status() const = 0;
};

class Storage {
 public:
  virtual ~Storage() = default;
  // Atomic. With Sync::yes the batch is durable when this returns ok.
  [[nodiscard]] virtual ubm::Status write(const WriteBatch& batch, Sync sync) = 0;
  // A large batch of checkpoints (never log records): atomic and durable when this returns ok, as
  // write(batch, Sync::yes) is, but by a path that does not hold up concurrent writes for as long
  // as tens of megabytes take to reach the disk. RocksDB skips its write-ahead log and flushes the
  // families the batch touched (a crash before the flush loses the whole batch, never part of
  // it); the default is the synced write.
  [[nodiscard]] virtual ubm::Status write_large(const WriteBatch& batch) { return write(batch, Sync::yes); }
  // Found: the value; absent: nullopt; error: an error.
  [[nodiscard]] virtual ubm::Result<std::optional<std::string>> get(Family f, std::string_view key) const = 0;
  [[nodiscard]] virtual std::unique_ptr<Cursor> cursor(Family f) const = 0;
};

}  // namespace slap::ledger
