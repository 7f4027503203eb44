#pragma once
// The registry of every Node and Item the ledger has seen, by id, with its kind. The ledger uses it
// to resolve a batch's references before writing; readers use it to look ids up.
// Thread-safe: lookups take a shared lock, apply takes it exclusively.
//
// Ids are kept in the order the log first names them, and snapshots list them in that order: it
// is as deterministic as sorting (replaying the same entries names them in the same order, and a
// restore re-inserts them in it), and a checkpoint no longer sorts every id ever seen while the
// ledger's writer waits (a million ids: 55-165 ms per checkpoint under HTTP load, now a copy).
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "ledger/projection.h"
#include "ubm/validate.h"

namespace slap::ledger {

class Directory final : public Projection, public ubm::Resolver {
 public:
  std::string_view name() const override { return "directory"; }
  void apply(std::span<const EntryView> entries) override;
  ubm::Seq last_applied() const override;
  std::string snapshot() const override;
  ubm::Status restore(std::string_view snapshot, ubm::Seq last_applied) override;
  void reset() override;
  std::vector<SnapshotRecord> records() const override;  // one per node and item

  std::optional<ubm::NodeKind> node_kind(std::string_view id) const override;
  std::optional<ubm::ItemKind> item_kind(std::string_view id) const override;
  size_t node_count() const;
  size_t item_count() const;

  // Lookups under one shared lock taken for the reader's lifetime, instead of one lock per id: the
  // ledger's writer resolves every id of a group (five or six per allocation) through it. Whoever
  // holds one must not apply() on the same thread until it is gone (apply locks exclusively).
  class LockedReader final : public ubm::Resolver {
   public:
    explicit LockedReader(const Directory& d) : d_(d), lock_(d.mu_) {}
    std::optional<ubm::NodeKind> node_kind(std::string_view id) const override { return d_.nodes_.find(id); }
    std::optional<ubm::ItemKind> item_kind(std::string_view id) const override { return d_.items_.find(id); }

   private:
    const Directory& d_;
    std::shared_lock<std::shared_mutex> lock_;
  };

 private:
  // The ids of one kind (nodes or items), in first-seen order, kept as the snapshot lists them
  // ([u64 LE length][id][u8 kind] each) in blocks that never move: a snapshot copies the blocks,
  // and the index's keys view the ids inside them.
  template <typename Kind>
  class Ordered {
   public:
    Ordered() = default;
    Ordered(Ordered&&) = default;  // the blocks move as pointers: the views stay valid
    Ordered& operator=(Ordered&&) = default;
    Ordered(const Ordered&) = delete;  // a copy's index would view the original's blocks
    Ordered& operator=(const Ordered&) = delete;
    bool add(std::string_view id, Kind kind);  // false (and the first kind kept) when already there
    std::optional<Kind> find(std::string_view id) const;
    size_t size() const noexcept { return index_.size(); }
    void clear();
    void write(SnapshotWriter& w, const char* mark) const;

   private:
    static constexpr size_t kBlockBytes = 256 << 10;  // far above one record (ids <= kMaxIdLength)
    struct Block {
      std::unique_ptr<char[]> bytes;
      size_t used = 0;
    };
    // The index's key: where the id lies in its block, and its hash. Keeping the hash means that
    // growing the index (each doubling re-inserts every entry) does not read every id again from
    // blocks scattered through memory, and the ledger's writer waits for it: growing to 3M ids,
    // the worst batch of 1,000 took 114-171 ms here against 503-530 ms for a map keyed by
    // string_view (bench/ledger_bench --benchmark_filter=Growth). A slot stays 16 bytes.
    struct Key {
      const char* data;
      uint32_t size;
      uint32_t hash;
      std::string_view id() const noexcept { return {data, size}; }
    };
    static Key key_of(std::string_view id) noexcept;
    struct KeyHash {
      size_t operator()(const Key& k) const noexcept { return k.hash; }  // the map mixes it further
    };
    struct KeyEqual {
      bool operator()(const Key& a, const Key& b) const noexcept { return a.hash == b.hash && a.id() == b.id(); }
    };
    std::vector<Block> blocks_;
    // Open addressing (Boost 1.81): a lookup reads a metadata group and one slot holding the key,
    // where std::unordered_map chased a bucket, then nodes; the directory holds every id ever seen.
    boost::unordered_flat_map<Key, Kind, KeyHash, KeyEqual> index_;
  };

  void write(SnapshotWriter& w) const;  // caller holds mu_

  mutable std::shared_mutex mu_;
  Ordered<ubm::NodeKind> nodes_;
  Ordered<ubm::ItemKind> items_;
  ubm::Seq last_{0};
};

}  // namespace slap::ledger
