#include "ledger/directory.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include "ledger/snapshot_codec.h"

namespace slap::ledger {

void Directory::apply(std::span<const EntryView> entries) {
  std::unique_lock lock(mu_);
  for (const auto& e : entries) {
    auto body = e.entry.getBody();
    if (body.isNode()) {
      auto n = body.getNode();
      nodes_.emplace(std::string(n.getId().cStr(), n.getId().size()), static_cast<ubm::NodeKind>(n.getKind()));
    } else if (body.isItem()) {
      auto it = body.getItem();
      items_.emplace(std::string(it.getId().cStr(), it.getId().size()), static_cast<ubm::ItemKind>(it.getKind()));
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

void Directory::write(SnapshotWriter& w) const {
  // Sorted, so equal states give equal bytes whatever the hash map's order.
  auto sorted = [](const auto& m) {
    std::vector<std::pair<std::string_view, uint8_t>> v;
    v.reserve(m.size());
    for (const auto& [k, kind] : m) v.emplace_back(k, static_cast<uint8_t>(kind));
    std::sort(v.begin(), v.end());
    return v;
  };
  const char* kinds[] = {"node", "item"};
  int k = 0;
  for (const auto& m : {sorted(nodes_), sorted(items_)}) {
    w.mark(k == 0 ? "(nodes)" : "(items)");
    w.u64(m.size());
    for (const auto& [id, kind] : m) {
      w.mark(kinds[k], id);
      w.str(id);
      w.u8(kind);
    }
    ++k;
  }
}

ubm::Status Directory::restore(std::string_view snapshot, ubm::Seq last_applied) {
  reset();
  SnapshotReader r(snapshot);
  Map<ubm::NodeKind> nodes;
  Map<ubm::ItemKind> items;
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    std::string id = r.str();
    const uint8_t kind = r.u8();
    if (kind > 2) return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "directory", "bad node kind in snapshot");
    nodes.emplace(std::move(id), static_cast<ubm::NodeKind>(kind));
  }
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    std::string id = r.str();
    const uint8_t kind = r.u8();
    if (kind > 4) return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "directory", "bad item kind in snapshot");
    items.emplace(std::move(id), static_cast<ubm::ItemKind>(kind));
  }
  if (!r.ok() || !r.at_end()) return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "directory", "truncated snapshot");
  std::unique_lock lock(mu_);
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
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

std::optional<ubm::ItemKind> Directory::item_kind(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = items_.find(id);
  if (it == items_.end()) return std::nullopt;
  return it->second;
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
