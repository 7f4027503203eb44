#include "ledger/directory.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include <boost/container_hash/hash.hpp>

#include "ledger/little_endian.h"
#include "ledger/snapshot_codec.h"

namespace slap::ledger {

template <typename Kind>
bool Directory::Ordered<Kind>::add(std::string_view id, Kind kind) {
  // The record is written past the block's end first and kept only if the id is new: one hash
  // lookup per id on the writer's path, not a lookup and then an insert.
  const size_t need = 8 + id.size() + 1;
  if (blocks_.empty() || blocks_.back().used + need > kBlockBytes) {
    blocks_.push_back(Block{std::make_unique<char[]>(std::max(kBlockBytes, need)), 0});
  }
  Block& b = blocks_.back();
  char* out = b.bytes.get() + b.used;
  le::put64(out, id.size());
  std::memcpy(out + 8, id.data(), id.size());
  out[8 + id.size()] = static_cast<char>(kind);
  Key k = key_of(id);
  k.data = out + 8;  // the copy in the block, which never moves
  if (!index_.emplace(k, kind).second) return false;
  b.used += need;
  return true;
}

template <typename Kind>
typename Directory::Ordered<Kind>::Key Directory::Ordered<Kind>::key_of(std::string_view id) noexcept {
  return Key{id.data(), static_cast<uint32_t>(id.size()), static_cast<uint32_t>(boost::hash<std::string_view>{}(id))};
}

template <typename Kind>
std::optional<Kind> Directory::Ordered<Kind>::find(std::string_view id) const {
  if (id.size() > ubm::kMaxIdLength) return std::nullopt;  // never stored; and its size fits a Key
  auto it = index_.find(key_of(id));
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

template <typename Kind>
void Directory::Ordered<Kind>::clear() {
  index_.clear();
  blocks_.clear();
}

template <typename Kind>
void Directory::Ordered<Kind>::write(SnapshotWriter& w, const char* mark) const {
  w.u64(index_.size());
  if (!w.is_marking()) {
    size_t total = 0;
    for (const Block& b : blocks_) total += b.used;
    w.reserve(total);
    for (const Block& b : blocks_) w.raw(std::string_view(b.bytes.get(), b.used));
    return;
  }
  // Record by record, for an audit naming the id where two states differ.
  for (const Block& b : blocks_) {
    for (size_t at = 0; at < b.used;) {
      const uint64_t n = le::get64(b.bytes.get() + at);
      const std::string_view id(b.bytes.get() + at + 8, n);
      w.mark(mark, id);
      w.raw(std::string_view(b.bytes.get() + at, 8 + n + 1));
      at += 8 + n + 1;
    }
  }
}

void Directory::apply(std::span<const EntryView> entries) {
  std::unique_lock lock(mu_);
  auto add_item = [this](schema::Item::Reader it) {
    items_.add(std::string_view(it.getId().cStr(), it.getId().size()), static_cast<ubm::ItemKind>(it.getKind()));
  };
  for (const auto& e : entries) {
    auto body = e.entry.getBody();
    if (body.isNode()) {
      auto n = body.getNode();
      nodes_.add(std::string_view(n.getId().cStr(), n.getId().size()), static_cast<ubm::NodeKind>(n.getKind()));
    } else if (body.isItem()) {
      add_item(body.getItem());
    } else if (body.isMovement()) {
      // Items a movement registers itself (schema/ledger.capnp `registers`), in their order.
      auto m = body.getMovement();
      if (m.hasRegisters()) {
        for (auto it : m.getRegisters()) add_item(it);
      }
    }
    last_ = e.seq;
  }
}

ubm::Seq Directory::last_applied() const {
  std::shared_lock lock(mu_);
  return last_;
}

std::string Directory::snapshot() const {
  std::shared_lock lock(mu_);
  SnapshotWriter w;
  write(w);
  return w.take();
}

std::vector<SnapshotRecord> Directory::records() const {
  std::shared_lock lock(mu_);
  auto w = SnapshotWriter::marking();
  write(w);
  return w.records();
}

// Leads the snapshot since ids are listed in first-seen order: a checkpoint of the earlier format
// (sorted ids, starting with the node count) does not parse, so it is ignored and the directory is
// rebuilt from the log rather than restored in an order a fresh replay would not give.
constexpr uint64_t kFirstSeenOrder = 0xD1EC'0000'0000'0002;

void Directory::write(SnapshotWriter& w) const {
  w.mark("(order)");
  w.u64(kFirstSeenOrder);
  w.mark("(nodes)");
  nodes_.write(w, "node");
  w.mark("(items)");
  items_.write(w, "item");
}

ubm::Status Directory::restore(std::string_view snapshot, ubm::Seq last_applied) {
  reset();
  SnapshotReader r(snapshot);
  Ordered<ubm::NodeKind> nodes;
  Ordered<ubm::ItemKind> items;
  auto malformed = [](const char* what) { return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "directory", what); };
  if (r.u64() != kFirstSeenOrder || !r.ok()) return malformed("not a first-seen-order snapshot (an older checkpoint: rebuilt from the log)");
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    std::string id = r.str();
    const uint8_t kind = r.u8();
    if (kind > 2) return malformed("bad node kind in snapshot");
    if (!nodes.add(id, static_cast<ubm::NodeKind>(kind))) return malformed("a node listed twice in snapshot");
  }
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    std::string id = r.str();
    const uint8_t kind = r.u8();
    if (kind > 4) return malformed("bad item kind in snapshot");
    if (!items.add(id, static_cast<ubm::ItemKind>(kind))) return malformed("an item listed twice in snapshot");
  }
  if (!r.ok() || !r.at_end()) return malformed("truncated snapshot");
  std::unique_lock lock(mu_);
  // Moving keeps every block where it is, so the moved indexes still view valid ids.
  nodes_ = std::move(nodes);
  items_ = std::move(items);
  last_ = last_applied;
  return {};
}

void Directory::reset() {
  std::unique_lock lock(mu_);
  nodes_.clear();
  items_.clear();
  last_ = ubm::Seq{0};
}

std::optional<ubm::NodeKind> Directory::node_kind(std::string_view id) const {
  std::shared_lock lock(mu_);
  return nodes_.find(id);
}

std::optional<ubm::ItemKind> Directory::item_kind(std::string_view id) const {
  std::shared_lock lock(mu_);
  return items_.find(id);
}

size_t Directory::node_count() const {
  std::shared_lock lock(mu_);
  return nodes_.size();
}

size_t Directory::item_count() const {
  std::shared_lock lock(mu_);
  return items_.size();
}

}  // namespace slap::ledger
