#pragma once
// A market world (tests/market/market_fixture.h) with billing helpers: days, usage journals, prices,
// and the ledger's billing Movements read back.
#include "billing/calendar.h"
#include "billing/entries.h"
#include "tests/market/market_fixture.h"
#include "ubm/codec.h"

namespace slap::billing::testing {

using market::testing::World;
using namespace slap::market;

inline ubm::Decimal dec(const char* s) { return ubm::Decimal::parse(s).value(); }
inline int32_t today(World& w) { return day_of(w.clock.now().value()); }

// Moves the clock to `hours` after the start of `day` (UTC).
inline void at_day(World& w, int32_t day, int hours = 0) {
  const int64_t t = day_start_ns(day) + int64_t{hours} * 3'600'000'000'000;
  ASSERT_GE(t, w.clock.now().value()) << "the clock never goes back";
  w.clock.set(t);
}

inline ReportUsage usage(const std::string& computer, const std::string& partition, const std::string& tx,
                         ubm::TimestampNs start, ubm::TimestampNs stop, std::vector<UsageLine> lines) {
  for (auto& l : lines) l.reference = partition;
  return ReportUsage{computer, {UsageTransaction{tx, start, stop, std::move(lines)}}};
}

// Every Movement of the ledger whose first attribute is `key`=`value` (value "" = any).
inline std::vector<ubm::Movement> movements(World& w, std::string_view key, std::string_view value = {}) {
  std::vector<ubm::Movement> out;
  auto s = w.ledger().scan(ubm::Seq{1}, ubm::Seq{0}, [&](const ledger::EntryView& v) {
    auto d = ubm::decode(v.entry);
    if (d && std::holds_alternative<ubm::Movement>(*d)) {
      const auto& m = std::get<ubm::Movement>(*d);
      if (!m.attributes.empty() && m.attributes[0].key == key && (value.empty() || m.attributes[0].value == value)) out.push_back(m);
    }
    return true;
  });
  EXPECT_TRUE(s.ok());
  return out;
}

// One grouped query over [from, to].
inline Answer ask(World& w, int32_t from, int32_t to, std::initializer_list<Dim> group, std::array<std::string, kFilterDims> filter = {}) {
  Query q;
  q.from_day = from;
  q.to_day = to;
  for (Dim d : group) q.group |= 1u << static_cast<unsigned>(d);
  q.filter = std::move(filter);
  return w.market().billing().query(q);
}

// A computer "COMP-1" of "owner" with 4 partitions supplying kRelease, and client "alice".
inline void small_world(World& w) {
  w.party("owner");
  w.party("alice");
  w.computer("COMP-1", 10);
  w.format("COMP-1", 4);
  w.supply("COMP-1");
}

}  // namespace slap::billing::testing
