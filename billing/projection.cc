#include "billing/projection.h"

#include <algorithm>
#include <mutex>

#include "billing/calendar.h"
#include "billing/entries.h"
#include "ledger/snapshot_codec.h"

namespace slap::billing {
namespace {

constexpr std::string_view kUsageJournalKey = "usage_journal";  // market/usage_journals.h
constexpr Q18 kQPerNs = 1'000'000'000;                          // 1 ns = 10^-9 s = 10^9 at scale 18

std::string_view text(capnp::Text::Reader t) { return std::string_view(t.cStr(), t.size()); }

}  // namespace

size_t BillingProjection::KeyHash::operator()(const Key& k) const noexcept {
  uint64_t h = static_cast<uint32_t>(k.period);
  for (uint32_t v : {k.client, k.supplier, k.resource, k.computer, k.instance}) h = (h ^ v) * 0x9E3779B97F4A7C15ull;
  return static_cast<size_t>(h ^ (h >> 29));  // linear probing uses the low bits: fold the high ones in
}

size_t BillingProjection::SeriesKeyHash::operator()(const SeriesKey& k) const noexcept {
  uint64_t h = 0;
  for (uint32_t v : {k.client, k.supplier, k.resource, k.computer, k.instance}) h = (h ^ v) * 0x9E3779B97F4A7C15ull;
  return static_cast<size_t>(h ^ (h >> 29));
}

BillingProjection::BillingProjection(std::string currency) : currency_(std::move(currency)) { clear(); }

uint32_t BillingProjection::intern(std::string_view s) {
  if (const uint32_t found = name_ids_.find(s, names_); found != NameIndex::kNone) return found;
  const auto id = static_cast<uint32_t>(names_.size());
  names_.emplace_back(s);
  name_ids_.insert(names_.back(), id);  // not `s`: it may have pointed into names_ before it grew
  return id;
}

uint32_t BillingProjection::intern_recent(Recent& r, std::string_view s) {
  if (r.id != UINT32_MAX && r.text == s) return r.id;
  r.id = intern(s);
  r.text.assign(s);
  return r.id;
}

uint32_t BillingProjection::resource_of(std::string_view resource, std::string_view unit) {
  for (const auto& r : recent_resources_) {
    if (r.resource == resource && r.unit == unit) return r.id;
  }
  const uint32_t id = resource_id(intern(resource), intern(unit));
  if (recent_resources_.size() < kRecentResources) recent_resources_.push_back({std::string(resource), std::string(unit), id});
  return id;
}

std::optional<uint32_t> BillingProjection::lookup(std::string_view s) const {
  const uint32_t id = name_ids_.find(s, names_);
  if (id == NameIndex::kNone) return std::nullopt;
  return id;
}

uint32_t BillingProjection::resource_id(uint32_t name, uint32_t unit) {
  auto [it, fresh] = resource_ids_.emplace(std::make_pair(name, unit), static_cast<uint32_t>(resources_.size()));
  if (fresh) resources_.emplace_back(name, unit);
  return it->second;
}

const BillingProjection::PriceRec* BillingProjection::find_price(uint8_t scope, uint32_t id, uint32_t resource_name,
                                                                 int32_t day, int32_t* effective) const {
  auto it = prices_.find(PriceKey{scope, id, resource_name});
  if (it == prices_.end()) return nullptr;
  auto p = it->second.upper_bound(day);
  if (p == it->second.begin()) return nullptr;
  --p;
  if (effective != nullptr) *effective = p->first;
  return &p->second;
}

uint32_t BillingProjection::price_id(const UnitPrice& p) {
  auto [it, fresh] = unit_price_ids_.emplace(std::tuple{p.mantissa, p.scale, p.divisor}, static_cast<uint32_t>(unit_prices_.size()));
  if (fresh) unit_prices_.push_back(p);
  return it->second;
}

void BillingProjection::price_line(Line& line) {
  const Key& k = line.key;
  for (size_t i = 0; i < recent_prices_used_; ++i) {
    const RecentPrice& r = recent_prices_[i];
    if (r.computer == k.computer && r.supplier == k.supplier && r.resource == k.resource && r.day == k.period) {
      line.rated = r.rated;
      line.price = r.price;
      return;
    }
  }
  line.rated = false;
  line.price = 0;
  const auto [rname, unit] = resources_[k.resource];
  // The computer's price, then the supplier's; a price in a unit the line's quantity cannot be
  // converted from does not apply to it (a computer's usage/cpu_s per hour would otherwise leave
  // every cpu_s line of that computer unrated, hiding the supplier's price per cpu_s).
  for (const PriceRec* p : {find_price(0, k.computer, rname, k.period, nullptr), find_price(1, k.supplier, rname, k.period, nullptr)}) {
    if (p == nullptr) continue;
    if (auto div = unit_divisor(names_[p->unit], names_[unit])) {
      line.price = price_id(UnitPrice{p->mantissa, p->scale, *div});
      line.rated = true;
      break;
    }
  }
  recent_prices_[recent_prices_next_] = RecentPrice{k.computer, k.supplier, k.resource, k.period, line.price, line.rated};
  recent_prices_next_ = (recent_prices_next_ + 1) % kRecentPrices;
  recent_prices_used_ = std::max(recent_prices_used_, recent_prices_next_ == 0 ? kRecentPrices : recent_prices_next_);
}

// Keeps amount == round(quantity x price) and the roll-up equal to the sum of its lines.
void BillingProjection::set_amount(Line& line) {
  int64_t amount = 0;
  bool overflowed = false;
  if (line.rated) {
    auto a = line.quantity_overflowed ? std::nullopt : rate(line.quantity, unit_prices_[line.price]);
    if (a) amount = *a;
    else overflowed = true;
  }
  Rollup& r = rollups_[line.rollup];
  if (overflowed != line.overflowed) {
    // A line whose quantity overflowed is counted once, in overflows_ (add).
    if (!line.quantity_overflowed) overflowed ? ++overflowed_lines_ : --overflowed_lines_;
    overflowed ? ++r.overflowed : --r.overflowed;
    line.overflowed = overflowed;
  }
  r.amount += static_cast<__int128>(amount) - line.amount;
  line.amount = amount;
}

void BillingProjection::mark_dirty(uint32_t idx) {
  Line& line = lines_[idx];
  if (line.dirty) return;
  line.dirty = true;
  dirty_.push_back(idx);
}

void BillingProjection::rate_dirty() {
  for (uint32_t idx : dirty_) {
    Line& line = lines_[idx];
    line.dirty = false;
    set_amount(line);
  }
  dirty_.clear();
}

uint32_t BillingProjection::series_of(const Key& key) {
  const SeriesKey sk{key.client, key.supplier, key.resource, key.computer, key.instance};
  uint32_t s = series_ids_.find(sk);
  if (s == FlatIndex<SeriesKey, SeriesKeyHash>::kEmpty) {
    s = static_cast<uint32_t>(series_.size());
    series_ids_.insert(sk, s);
    series_.emplace_back();
  }
  return s;
}

uint32_t* BillingProjection::day_slot(Series& series, int32_t day) {
  auto& days = series.days;
  if (!days.empty() && days.back().first == day) return &days.back().second;
  auto it = days.end();
  if (!days.empty() && days.back().first > day) {  // a late report: rare, days are short
    it = std::lower_bound(days.begin(), days.end(), day, [](const auto& d, int32_t v) { return d.first < v; });
    if (it != days.end() && it->first == day) return &it->second;
  }
  return &days.insert(it, {day, kNoLine})->second;
}

uint32_t BillingProjection::push_line(const Line& line, uint32_t series, uint32_t* slot) {
  const auto idx = static_cast<uint32_t>(lines_.size());
  *slot = idx;
  lines_.push_back(line);
  Line& l = lines_.back();
  if (l.key.period != last_day_) {
    last_day_ = l.key.period;
    last_day_lines_ = &days_[l.key.period];  // map nodes never move
  }
  last_day_lines_->push_back(idx);
  Series& s = series_[series];
  const int32_t month = month_of_day(l.key.period);
  if (s.month != month) {
    Key mk = l.key;
    mk.period = month;
    uint32_t r = rollup_ids_.find(mk);
    if (r == FlatIndex<Key, KeyHash>::kEmpty) {
      r = static_cast<uint32_t>(rollups_.size());
      rollup_ids_.insert(mk, r);
      rollups_.push_back(Rollup{mk, 0, 0, 0, 0, 0});
      months_[mk.period].push_back(r);
    }
    s.month = month;
    s.rollup = r;
  }
  l.rollup = s.rollup;
  return idx;
}

uint32_t BillingProjection::line_of(const Key& key) {
  for (size_t i = 0; i < recent_lines_used_; ++i) {
    if (recent_lines_[i].key == key) return recent_lines_[i].line;
  }
  const uint32_t series = series_of(key);
  uint32_t* slot = day_slot(series_[series], key.period);
  uint32_t idx = *slot;
  if (idx == kNoLine) {
    Line l;
    l.key = key;
    price_line(l);
    idx = push_line(l, series, slot);
  }
  recent_lines_[recent_lines_next_] = RecentLine{key, idx};
  recent_lines_next_ = (recent_lines_next_ + 1) % kRecentLines;
  recent_lines_used_ = std::max(recent_lines_used_, recent_lines_next_ == 0 ? kRecentLines : recent_lines_next_);
  return idx;
}

void BillingProjection::add(Key key, Q18 quantity, uint32_t movements) {
  const uint32_t idx = line_of(key);
  Line& line = lines_[idx];
  Rollup& r = rollups_[line.rollup];
  if (line.quantity_overflowed || !add_q18(line.quantity, quantity)) {
    // Counted, never dropped: the line and its roll-up say their quantity is not given.
    if (!line.quantity_overflowed) {
      ++overflows_;
      if (line.overflowed) --overflowed_lines_;  // counted once, here, from now on (set_amount)
    }
    line.quantity_overflowed = true;
    r.quantity_overflowed = true;
  } else if (!add_q18(r.quantity, quantity)) {
    r.quantity_overflowed = true;  // each line fits; a month of them may not
  }
  line.movements += movements;
  r.movements += movements;
  if (!line.rated) r.unrated += movements;
  mark_dirty(idx);
}

void BillingProjection::rerate(std::string_view supplier, std::string_view computer, int32_t from_day, int32_t to_day) {
  ++rerates_;
  const auto sid = lookup(supplier);
  const auto cid = computer.empty() ? std::optional<uint32_t>() : lookup(computer);
  if (!sid || (!computer.empty() && !cid)) return;  // no line can match
  for (auto it = days_.lower_bound(from_day); it != days_.end() && it->first <= to_day; ++it) {
    for (uint32_t idx : it->second) {
      Line& line = lines_[idx];
      if (cid ? line.key.computer != *cid : line.key.supplier != *sid) continue;
      const bool was_rated = line.rated;
      price_line(line);
      Rollup& r = rollups_[line.rollup];
      if (was_rated && !line.rated) r.unrated += line.movements;
      if (!was_rated && line.rated) r.unrated -= line.movements;
      set_amount(line);
      ++rerated_lines_;
    }
  }
}

void BillingProjection::apply(std::span<const ledger::EntryView> entries) {
  std::unique_lock lock(mu_);
  struct RateAtEnd {  // also when a malformed entry throws half-way: no line is left unrated
    BillingProjection& p;
    ~RateAtEnd() { p.rate_dirty(); }
  } rate_at_end{*this};
  for (const auto& e : entries) {
    last_ = e.seq;
    auto body = e.entry.getBody();
    if (!body.isMovement()) continue;
    auto mv = body.getMovement();
    auto attrs = mv.getAttributes();
    if (attrs.size() == 0) continue;
    const std::string_view k0 = text(attrs[0].getKey());
    auto items = mv.getItems();
    if (k0 == kUsageJournalKey) {
      // Usage: items {instance, computer}, or {computer} for the computer's own usage.
      if (items.size() == 0) continue;
      Key key{day_of(mv.getStartNs()), intern_recent(client_, text(mv.getDestination())),
              intern_recent(supplier_, text(mv.getSource())), resource_of(text(mv.getResource()), text(mv.getUnit())),
              intern_recent(computer_, text(items[items.size() - 1])),
              intern_recent(instance_, items.size() >= 2 ? text(items[0]) : std::string_view())};
      auto q = mv.getQuantity();
      auto d = ubm::Decimal::make(q.getMantissa(), q.getScale());
      if (!d) continue;
      add(key, to_q18(*d), 1);
      continue;
    }
    const std::string_view v0 = text(attrs[0].getValue());  // not read for usage, the bulk of the log
    if (k0 == kHostingKey && v0 == kHostingInterval) {
      // items {instance, partition, computer, release, subscription}; split at UTC midnights.
      if (items.size() < 3 || mv.getStopNs() < mv.getStartNs()) continue;
      Key key{0, intern(text(mv.getDestination())), intern(text(mv.getSource())),
              resource_id(intern(text(mv.getResource())), intern("s")), intern(text(items[2])), intern(text(items[0]))};
      for (int64_t t = mv.getStartNs(); t < mv.getStopNs();) {
        key.period = day_of(t);
        const int64_t end = std::min<int64_t>(mv.getStopNs(), day_start_ns(key.period + 1));
        add(key, static_cast<Q18>(end - t) * kQPerNs, 1);
        t = end;
      }
    } else if (k0 == kBillingKey && v0 == "price") {
      std::string_view resource;
      bool correction = false;
      for (auto a : attrs) {
        if (text(a.getKey()) == "resource") resource = text(a.getValue());
        if (text(a.getKey()) == "correction") correction = text(a.getValue()) == "1";
      }
      const bool per_computer = items.size() > 0;
      const uint32_t scope = intern(per_computer ? text(items[0]) : text(mv.getSource()));
      auto p = mv.getPrice();
      PriceRec rec{p.getMinor(), p.getScale(), intern(text(mv.getUnit())), correction};
      prices_[PriceKey{per_computer ? 0 : 1, scope, intern(resource)}][day_of(mv.getStartNs())] = rec;
      recent_prices_used_ = recent_prices_next_ = 0;
      ++price_count_;
    } else if (k0 == kBillingKey && v0 == "rerate") {
      if (mv.getStopNs() <= mv.getStartNs()) continue;
      rerate(text(mv.getSource()), items.size() > 0 ? text(items[0]) : std::string_view(), day_of(mv.getStartNs()),
             day_of(mv.getStopNs() - 1));
    }
  }
}

ubm::Seq BillingProjection::last_applied() const {
  std::shared_lock lock(mu_);
  return last_;
}

// Leads the snapshot, naming the rating rules its lines were rated under: a checkpoint written
// under other rules (none before 2026-12-07: the computer's price then applied whatever its unit)
// does not parse, so billing is replayed from the log rather than restored with lines a fresh
// replay would rate differently.
constexpr uint64_t kRatingRules = 0xB111'0000'0000'0003;  // 3: a line's quantity overflow is flagged, its movements counted

std::string BillingProjection::snapshot() const {
  std::shared_lock lock(mu_);
  ledger::SnapshotWriter w;
  w.u64(kRatingRules);
  w.u64(names_.size());
  for (const auto& n : names_) w.str(n);
  w.u64(resources_.size());
  for (const auto& [n, u] : resources_) {
    w.u64(n);
    w.u64(u);
  }
  w.u64(prices_.size());
  for (const auto& [k, days] : prices_) {
    w.u8(std::get<0>(k));
    w.u64(std::get<1>(k));
    w.u64(std::get<2>(k));
    w.u64(days.size());
    for (const auto& [day, p] : days) {
      w.u64(static_cast<uint64_t>(static_cast<int64_t>(day)));
      w.u64(static_cast<uint64_t>(p.mantissa));
      w.u8(p.scale);
      w.u64(p.unit);
      w.u8(p.correction ? 1 : 0);
    }
  }
  w.u64(lines_.size());
  for (size_t i = 0; i < lines_.size(); ++i) {
    const Line& l = lines_[i];
    w.u64(static_cast<uint64_t>(static_cast<int64_t>(l.key.period)));
    for (uint32_t v : {l.key.client, l.key.supplier, l.key.resource, l.key.computer, l.key.instance}) w.u64(v);
    w.i128(l.quantity);
    w.u64(static_cast<uint64_t>(l.amount));
    const UnitPrice& price = unit_prices_[l.price];
    w.u64(static_cast<uint64_t>(price.mantissa));
    w.u8(price.scale);
    w.u64(price.divisor);
    w.u8(static_cast<uint8_t>((l.rated ? 1 : 0) | (l.overflowed ? 2 : 0) | (l.quantity_overflowed ? 4 : 0)));
    w.u64(l.movements);
  }
  for (uint64_t v : {price_count_, rerates_, rerated_lines_, overflows_}) w.u64(v);
  return w.take();
}

ubm::Status BillingProjection::restore(std::string_view snapshot, ubm::Seq last_applied) {
  std::unique_lock lock(mu_);
  clear();
  names_.clear();  // the snapshot lists every name, "" included
  name_ids_.clear();
  ledger::SnapshotReader r(snapshot);
  auto fail = [&] {
    clear();
    return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "billing.lines", "malformed snapshot");
  };
  if (r.u64() != kRatingRules || !r.ok()) return fail();
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    std::string s = r.str();
    if (name_ids_.find(s, names_) != NameIndex::kNone) return fail();
    intern(s);
  }
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    const uint64_t a = r.u64(), b = r.u64();
    if (a >= names_.size() || b >= names_.size()) return fail();
    resource_id(static_cast<uint32_t>(a), static_cast<uint32_t>(b));
  }
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    const uint8_t scope = r.u8();
    const uint64_t id = r.u64(), res = r.u64();
    auto& days = prices_[PriceKey{scope, static_cast<uint32_t>(id), static_cast<uint32_t>(res)}];
    for (uint64_t m = r.u64(); r.ok() && m > 0; --m) {
      const auto day = static_cast<int32_t>(static_cast<int64_t>(r.u64()));
      PriceRec p;
      p.mantissa = static_cast<int64_t>(r.u64());
      p.scale = r.u8();
      p.unit = static_cast<uint32_t>(r.u64());
      p.correction = r.u8() != 0;
      if (p.unit >= names_.size()) return fail();
      days[day] = p;
    }
  }
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    Line l;
    l.key.period = static_cast<int32_t>(static_cast<int64_t>(r.u64()));
    for (uint32_t* v : {&l.key.client, &l.key.supplier, &l.key.resource, &l.key.computer, &l.key.instance}) {
      *v = static_cast<uint32_t>(r.u64());
    }
    l.quantity = r.i128();
    l.amount = static_cast<int64_t>(r.u64());
    UnitPrice price;
    price.mantissa = static_cast<int64_t>(r.u64());
    price.scale = r.u8();
    price.divisor = static_cast<uint32_t>(r.u64());
    l.price = price_id(price);
    const uint8_t flags = r.u8();
    l.rated = (flags & 1) != 0;
    l.overflowed = (flags & 2) != 0;
    l.quantity_overflowed = (flags & 4) != 0;
    if ((flags & ~7) != 0) return fail();
    if (l.overflowed && !l.quantity_overflowed) ++overflowed_lines_;  // as set_amount counts
    l.movements = static_cast<uint32_t>(r.u64());
    if (!r.ok() || l.key.resource >= resources_.size()) return fail();
    const uint32_t series = series_of(l.key);
    uint32_t* slot = day_slot(series_[series], l.key.period);
    if (*slot != kNoLine) return fail();  // the same line twice
    const uint32_t idx = push_line(l, series, slot);
    Rollup& ru = rollups_[lines_[idx].rollup];
    if (l.quantity_overflowed || !add_q18(ru.quantity, l.quantity)) ru.quantity_overflowed = true;
    ru.amount += l.amount;
    ru.movements += l.movements;
    if (!l.rated) ru.unrated += l.movements;
    if (l.overflowed) ++ru.overflowed;
  }
  price_count_ = r.u64();
  rerates_ = r.u64();
  rerated_lines_ = r.u64();
  overflows_ = r.u64();
  if (!r.ok() || !r.at_end()) return fail();
  last_ = last_applied;
  return {};
}

void BillingProjection::reset() {
  std::unique_lock lock(mu_);
  clear();
}

void BillingProjection::clear() {
  last_ = ubm::Seq{0};
  names_.clear();
  name_ids_.clear();
  resources_.clear();
  resource_ids_.clear();
  prices_.clear();
  recent_prices_used_ = recent_prices_next_ = 0;
  unit_prices_.assign(1, UnitPrice{});
  unit_price_ids_.clear();
  unit_price_ids_.emplace(std::tuple{UnitPrice{}.mantissa, UnitPrice{}.scale, UnitPrice{}.divisor}, 0);
  lines_.clear();
  series_.clear();
  series_ids_.clear();
  days_.clear();
  last_day_ = INT32_MIN;
  last_day_lines_ = nullptr;
  rollups_.clear();
  rollup_ids_.clear();
  months_.clear();
  price_count_ = rerates_ = rerated_lines_ = overflows_ = overflowed_lines_ = 0;
  dirty_.clear();
  client_ = supplier_ = computer_ = instance_ = Recent{};
  recent_resources_.clear();
  recent_lines_used_ = recent_lines_next_ = 0;
  intern("");  // id 0: "no instance"
}

BillingProjection::Stats BillingProjection::stats() const {
  std::shared_lock lock(mu_);
  return Stats{lines_.size(), rollups_.size(), price_count_, rerates_, rerated_lines_, overflows_ + overflowed_lines_};
}

}  // namespace slap::billing
