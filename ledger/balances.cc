#include "ledger/balances.h"

#include <mutex>

#include "ledger/snapshot_codec.h"

namespace slap::ledger {
namespace {

__int128 to_scale18(int64_t mantissa, unsigned scale) {
  __int128 v = mantissa;
  for (unsigned i = scale; i < 18; ++i) v *= 10;
  return v;
}

std::string text(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

}  // namespace

void Balances::apply(std::span<const EntryView> entries) {
  std::unique_lock lock(mu_);
  for (const auto& e : entries) {
    last_ = e.seq;
    auto body = e.entry.getBody();
    if (!body.isMovement()) continue;
    auto m = body.getMovement();
    const auto q = m.getQuantity();
    const __int128 amount = to_scale18(q.getMantissa(), q.getScale() > 18 ? 18 : q.getScale());
    const std::string resource = text(m.getResource());
    const std::string unit = text(m.getUnit());
    // Checked: a crafted export (19 movements of 9.2e18 at scale 18) overflowed 128 bits, which is
    // undefined; a total that would is held at the largest value instead.
    auto add = [](__int128& total, __int128 x) {
      if (__builtin_add_overflow(total, x, &total)) total = x < 0 ? -(((__int128{1} << 126) - 1) * 2 + 1) - 1 : ((__int128{1} << 126) - 1) * 2 + 1;
    };
    auto& in = totals_[Key{text(m.getDestination()), resource, unit}];
    add(in.in, amount);
    ++in.movements;
    auto& out = totals_[Key{text(m.getSource()), resource, unit}];
    add(out.out, amount);
    ++out.movements;
  }
}

ubm::Seq Balances::last_applied() const {
  std::shared_lock lock(mu_);
  return last_;
}

std::string Balances::snapshot() const {
  std::shared_lock lock(mu_);
  SnapshotWriter w;
  w.u64(totals_.size());
  for (const auto& [k, t] : totals_) {
    w.str(k.node);
    w.str(k.resource);
    w.str(k.unit);
    w.i128(t.in);
    w.i128(t.out);
    w.u64(t.movements);
  }
  return w.take();
}

ubm::Status Balances::restore(std::string_view snapshot, ubm::Seq last_applied) {
  reset();
  SnapshotReader r(snapshot);
  std::map<Key, Totals> totals;
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    Key k;
    k.node = r.str();
    k.resource = r.str();
    k.unit = r.str();
    Totals t;
    t.in = r.i128();
    t.out = r.i128();
    t.movements = r.u64();
    totals.emplace(std::move(k), t);
  }
  if (!r.ok() || !r.at_end()) return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "balances", "truncated snapshot");
  std::unique_lock lock(mu_);
  totals_ = std::move(totals);
  last_ = last_applied;
  return {};
}

void Balances::reset() {
  std::unique_lock lock(mu_);
  totals_.clear();
  last_ = ubm::Seq{0};
}

std::optional<Balances::Totals> Balances::get(const Key& key) const {
  std::shared_lock lock(mu_);
  auto it = totals_.find(key);
  if (it == totals_.end()) return std::nullopt;
  return it->second;
}

std::map<Balances::Key, Balances::Totals> Balances::all() const {
  std::shared_lock lock(mu_);
  return totals_;
}

std::string Balances::format(__int128 v) {
  const bool negative = v < 0;
  unsigned __int128 mag = negative ? static_cast<unsigned __int128>(-(v + 1)) + 1 : static_cast<unsigned __int128>(v);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(mag % 10)));
    mag /= 10;
  } while (mag > 0);
  if (digits.size() <= 18) digits.insert(0, 19 - digits.size(), '0');
  std::string integer = digits.substr(0, digits.size() - 18);
  std::string fraction = digits.substr(digits.size() - 18);
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  std::string s = (negative ? "-" : "") + integer;
  if (!fraction.empty()) s += "." + fraction;
  return s;
}

}  // namespace slap::ledger
