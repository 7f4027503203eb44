#include "market/fact_projection.h"

#include <mutex>

#include "market/encoding.h"
#include "ubm/codec.h"

namespace slap::market {

void FactProjection::apply(std::span<const ledger::EntryView> entries) {
  std::unique_lock lock(mu_);
  for (const auto& e : entries) {
    last_ = e.seq;
    if (e.seq <= speculated_) continue;  // folded already by the sequencer
    auto body = e.entry.getBody();
    if (!body.isMovement()) continue;
    auto decoded = ubm::decode(e.entry);
    if (!decoded) {
      ++undecodable_;
      continue;
    }
    auto f = decode(std::get<ubm::Movement>(*decoded));
    if (!f) {
      ++undecodable_;
      continue;
    }
    if (f->has_value()) fold(**f);
  }
}

ubm::Seq FactProjection::last_applied() const {
  std::shared_lock lock(mu_);
  return last_;
}

std::string FactProjection::snapshot() const {
  std::shared_lock lock(mu_);
  ledger::SnapshotWriter w;
  write(w);
  return w.take();
}

std::optional<std::pair<ubm::Seq, std::string>> FactProjection::checkpoint() const {
  std::shared_lock lock(mu_);
  if (folding_ahead_ || speculated_ > last_) return std::nullopt;
  ledger::SnapshotWriter w;
  // Sized from the last checkpoint plus an eighth: a growing state fits without the string
  // doubling (each doubling copied everything so far into fresh pages).
  w.reserve(last_checkpoint_bytes_.load(std::memory_order_relaxed) / 8 * 9);
  write(w);
  std::string bytes = w.take();
  last_checkpoint_bytes_.store(bytes.size(), std::memory_order_relaxed);
  return std::pair{last_, std::move(bytes)};
}

std::vector<ledger::SnapshotRecord> FactProjection::records() const {
  std::shared_lock lock(mu_);
  auto w = ledger::SnapshotWriter::marking();
  write(w);
  return w.records();
}

ubm::Status FactProjection::restore(std::string_view snapshot, ubm::Seq last_applied) {
  reset();
  ledger::SnapshotReader r(snapshot);
  std::unique_lock lock(mu_);
  if (!read(r) || !r.ok() || !r.at_end()) {
    clear();
    return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, std::string(name()), "malformed snapshot");
  }
  last_ = last_applied;
  return {};
}

void FactProjection::reset() {
  std::unique_lock lock(mu_);
  clear();
  last_ = ubm::Seq{0};
  speculated_ = ubm::Seq{0};
  folding_ahead_ = false;
  undecodable_ = 0;
}

void FactProjection::apply_fact(const Fact& fact) {
  std::unique_lock lock(mu_);
  folding_ahead_ = true;
  fold(fact);
}

void FactProjection::speculated_until(ubm::Seq seq) {
  std::unique_lock lock(mu_);
  speculated_ = seq;
  folding_ahead_ = false;
}

}  // namespace slap::market
