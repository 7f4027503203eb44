#pragma once
// Projection "billing.lines": quantity and amount per (client, supplier, resource, computer,
// instance, UTC day) — a "day line" — plus per-month roll-ups of the same keys, and the price lists.
// Fed by the ledger like every projection (rebuilt by replay, checkpointed): usage Movements
// (market/usage_journals.h), closed hosting intervals, price list and re-rating entries (entries.h).
//
// Rating: a day line takes, when it is first created, the price effective on its day — the
// computer's price for the resource if there is one, else the supplier's (the movement's source).
// Its amount is always round(its quantity x that price) (rating.h states the rounding rule); the
// month roll-ups and every query total are sums of line amounts, so totals equal the sum of their
// lines exactly. A price never changes a line already rated; only a recorded re-rating entry does
// (it re-reads the price list for its days and scope). A hosting interval is split at UTC midnight,
// so each piece lands in its own day; a usage movement belongs to the day it starts.
//
// Threading: apply/restore/reset on one thread (the ledger's writer or a replayer); query() and
// the other readers on any thread (shared lock).
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "billing/chunked_vector.h"
#include "billing/flat_index.h"
#include "billing/name_index.h"
#include "billing/query.h"
#include "billing/rating.h"
#include "ledger/projection.h"

namespace slap::billing {

class BillingProjection final : public ledger::Projection {
 public:
  explicit BillingProjection(std::string currency = "EUR");

  std::string_view name() const override { return "billing.lines"; }
  void apply(std::span<const ledger::EntryView> entries) override;
  ubm::Seq last_applied() const override;
  std::string snapshot() const override;
  ubm::Status restore(std::string_view snapshot, ubm::Seq last_applied) override;
  void reset() override;

  // Any thread. Answered from day lines and month roll-ups, never from the log.
  Answer query(const Query& q) const;

  struct Stats {
    // overflows: lines whose quantity overflowed (their movements counted, their quantity not given)
    // + other lines whose amount does not fit in int64.
    uint64_t lines = 0, rollups = 0, prices = 0, rerates = 0, rerated_lines = 0, overflows = 0;
  };
  Stats stats() const;
  const std::string& currency() const { return currency_; }

 private:
  struct Key {
    int32_t period;  // day (lines) or month (roll-ups)
    uint32_t client, supplier, resource, computer, instance;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept;
  };
  // 64 bytes: millions of them are created by a replay (each new one is memory the kernel zeroes)
  // and read by day queries.
  struct Line {
    Key key;
    uint32_t price = 0;  // in unit_prices_; 0 while unrated
    uint32_t movements = 0;
    Q18 quantity = 0;
    int64_t amount = 0;
    uint32_t rollup = 0;
    bool rated = false;
    bool overflowed = false;  // its amount does not fit in int64 (it then counts 0)
    bool dirty = false;       // its quantity changed in the batch being applied: amount not yet set
    // Its quantity's sum went past Q18: `quantity` means nothing, later movements are counted but
    // not added, its amount is not given (counted 0, as `overflowed`).
    bool quantity_overflowed = false;
  };
  static_assert(sizeof(Line) == 64);
  struct Rollup {
    Key key;
    Q18 quantity = 0;
    // 128 bits: each line fits in int64, a month of them may not (a unit typo in a price); a query
    // over it then says so instead of wrapping (query.h Answer::out_of_range).
    __int128 amount = 0;
    uint64_t movements = 0;
    uint64_t unrated = 0;
    uint64_t overflowed = 0;  // lines whose own amount overflowed (counted 0)
    // Its quantity's sum went past Q18 (byte-seconds of a large month): `quantity` means nothing
    // then, and a query over it says so (Row::quantity_out_of_range). Quantities are never
    // negative, so this is set whatever order the lines were added in (live or restored).
    bool quantity_overflowed = false;
  };
  struct PriceRec {
    int64_t mantissa = 0;
    uint8_t scale = 0;
    uint32_t unit = 0;  // name id
    bool correction = false;
  };
  // (0 = computer | 1 = supplier, scope name id, resource name id) -> effective day -> price
  using PriceKey = std::tuple<uint8_t, uint32_t, uint32_t>;

  uint32_t intern(std::string_view s);
  // Consecutive entries mostly name the same parties, computer and instance (a journal lists each
  // partition's lines together): one remembered name per field skips the hashing.
  struct Recent {
    std::string text;
    uint32_t id = UINT32_MAX;
  };
  uint32_t intern_recent(Recent& r, std::string_view s);
  uint32_t resource_of(std::string_view resource, std::string_view unit);
  std::optional<uint32_t> lookup(std::string_view s) const;
  uint32_t resource_id(uint32_t name, uint32_t unit);
  const PriceRec* find_price(uint8_t scope, uint32_t id, uint32_t resource_name, int32_t day, int32_t* effective) const;
  void price_line(Line& line);
  // The index of `p` in unit_prices_, added if new. Few distinct prices exist (one per price list
  // entry and unit conversion), so lines hold an index rather than the 16-byte price.
  uint32_t price_id(const UnitPrice& p);
  // What price_line found last for a (computer, supplier, resource, day): a journal creates the
  // lines of one computer and day together, a few resources in turn. Emptied when prices change.
  struct RecentPrice {
    uint32_t computer, supplier, resource;
    int32_t day;
    uint32_t price;
    bool rated;
  };
  static constexpr size_t kRecentPrices = 8;
  RecentPrice recent_prices_[kRecentPrices]{};
  size_t recent_prices_used_ = 0, recent_prices_next_ = 0;
  void add(Key key, Q18 quantity, uint32_t movements);
  void set_amount(Line& line);
  // Amounts are set once per applied batch, not once per movement: a line takes several movements
  // of a batch (a journal lists each partition's periods together) and rating is exact 128-bit
  // arithmetic with divisions. The amount is a function of the line's final quantity and price
  // alone, so the result does not depend on where batches end (live and replay agree).
  void mark_dirty(uint32_t line);
  void rate_dirty();
  void rerate(std::string_view supplier, std::string_view computer, int32_t from_day, int32_t to_day);

  // A line's key without its period: the day lines of one (client, supplier, resource, computer,
  // instance). A movement finds its line through its series (an index of one entry per series,
  // small enough to stay in cache) and then the series' days, which mostly grow at the end — not
  // by probing one table of every line, where each new line costs a cache and TLB miss.
  struct SeriesKey {
    uint32_t client, supplier, resource, computer, instance;
    friend bool operator==(const SeriesKey&, const SeriesKey&) = default;
  };
  struct SeriesKeyHash {
    size_t operator()(const SeriesKey& k) const noexcept;
  };
  struct Series {
    std::vector<std::pair<int32_t, uint32_t>> days;  // (day, line), sorted by day
    int32_t month = INT32_MIN;                       // the month of `rollup`, the last one used
    uint32_t rollup = 0;
  };
  uint32_t series_of(const Key& key);
  // The line of `key`, created (and priced) if new. The lines touched last are remembered: a
  // journal lists each partition's periods together, so most movements hit one of them without
  // touching the series index or the series' days (cache misses at millions of lines).
  uint32_t line_of(const Key& key);
  struct RecentLine {
    Key key;
    uint32_t line;
  };
  static constexpr size_t kRecentLines = 8;
  // The line of (series, day): its index, or kNoLine after reserving a place for it (the caller
  // stores the new line's index there before anything else touches the series).
  static constexpr uint32_t kNoLine = UINT32_MAX;
  uint32_t* day_slot(Series& series, int32_t day);
  // Appends `line` to lines_ in the place `slot` reserved; registers it in the day index and its
  // month roll-up.
  uint32_t push_line(const Line& line, uint32_t series, uint32_t* slot);
  void clear();

  std::string currency_;
  mutable std::shared_mutex mu_;
  ubm::Seq last_{0};
  std::vector<std::string> names_;
  NameIndex name_ids_;  // name -> its index in names_
  std::vector<std::pair<uint32_t, uint32_t>> resources_;  // (resource name id, unit name id)
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> resource_ids_;
  std::map<PriceKey, std::map<int32_t, PriceRec>> prices_;
  std::vector<UnitPrice> unit_prices_;  // [0] = no price
  std::map<std::tuple<int64_t, uint8_t, uint32_t>, uint32_t> unit_price_ids_;
  ChunkedVector<Line> lines_;  // millions on a long ledger: grown without copies
  std::vector<Series> series_;
  FlatIndex<SeriesKey, SeriesKeyHash> series_ids_;
  std::map<int32_t, std::vector<uint32_t>> days_;  // day -> lines
  int32_t last_day_ = INT32_MIN;                   // the days_ entry used last: lines arrive by day
  std::vector<uint32_t>* last_day_lines_ = nullptr;
  std::vector<Rollup> rollups_;
  FlatIndex<Key, KeyHash> rollup_ids_;
  std::map<int32_t, std::vector<uint32_t>> months_;  // month -> roll-ups
  uint64_t price_count_ = 0, rerates_ = 0, rerated_lines_ = 0;
  uint64_t overflows_ = 0;         // lines whose quantity overflowed (their later movements counted, not added)
  uint64_t overflowed_lines_ = 0;  // lines whose amount overflows (Line::overflowed)
  std::vector<uint32_t> dirty_;    // lines with Line::dirty, in the batch being applied
  Recent client_, supplier_, computer_, instance_;  // folding thread only; cleared with the state
  struct RecentResource {
    std::string resource, unit;
    uint32_t id;
  };
  std::vector<RecentResource> recent_resources_;  // at most kRecentResources
  RecentLine recent_lines_[kRecentLines]{};        // lines never move: valid until clear()
  size_t recent_lines_used_ = 0, recent_lines_next_ = 0;
  static constexpr size_t kRecentResources = 16;
};

}  // namespace slap::billing
