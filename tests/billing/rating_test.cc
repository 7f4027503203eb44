// Exact billing arithmetic: rounding, unit conversion, quantities as text, calendar and windows.
#include <gtest/gtest.h>

#include "billing/calendar.h"
#include "billing/query.h"
#include "billing/rating.h"

namespace slap::billing {
namespace {

Q18 q(const char* text) { return to_q18(ubm::Decimal::parse(text).value()); }

TEST(Rating, RoundsHalfAwayFromZeroOnce) {
  EXPECT_EQ(rate(q("2.5"), {1, 0, 1}), 3);              // 2.5 minor units -> 3
  EXPECT_EQ(rate(q("2.49999"), {1, 0, 1}), 2);
  EXPECT_EQ(rate(q("-2.5"), {1, 0, 1}), -3);            // corrections round away from zero too
  EXPECT_EQ(rate(q("3"), {125, 2, 1}), 4);              // 3 x 1.25 = 3.75 -> 4
  EXPECT_EQ(rate(q("0.000000000000000001"), {1, 0, 1}), 0);
  EXPECT_EQ(rate(q("1000000"), {35, 4, 1}), 3500);      // a CPU-second at 0.0035 cents
}

TEST(Rating, HostingSecondsPricedPerPartitionHour) {
  auto div = unit_divisor("partition_h", "s");
  ASSERT_TRUE(div);
  EXPECT_EQ(*div, 3600u);
  EXPECT_EQ(rate(q("3600"), {12, 0, *div}), 12);        // one hour at 12 cents
  EXPECT_EQ(rate(q("5400"), {12, 0, *div}), 18);        // 1.5 h
  EXPECT_EQ(rate(q("150"), {12, 0, *div}), 1);          // 0.5 cent -> 1 (half away from zero)
  EXPECT_EQ(rate(q("149.999999999"), {12, 0, *div}), 0);
  EXPECT_FALSE(unit_divisor("byte", "s"));
  EXPECT_FALSE(unit_divisor("partition_h", "cpu_s"));
}

TEST(Rating, LargeValuesAreExactOrRefused) {
  // 9e18 units at 1 minor unit: fits exactly.
  EXPECT_EQ(rate(to_q18(ubm::Decimal::integer(9'000'000'000'000'000'000)), {1, 0, 1}), 9'000'000'000'000'000'000);
  // Twice that does not fit an int64 amount: refused, never wrapped.
  Q18 big = to_q18(ubm::Decimal::integer(9'000'000'000'000'000'000));
  ASSERT_TRUE(add_q18(big, big));
  EXPECT_FALSE(rate(big, {1, 0, 1}));
}

TEST(Rating, QuantitiesPrintExactly) {
  EXPECT_EQ(q18_to_string(q("76.4371428571")), "76.4371428571");
  EXPECT_EQ(q18_to_string(q("3.000")), "3");
  EXPECT_EQ(q18_to_string(q("-0.5")), "-0.5");
  Q18 a = q("0.1");
  ASSERT_TRUE(add_q18(a, q("0.2")));
  EXPECT_EQ(q18_to_string(a), "0.3");  // no binary floating point
}

TEST(Calendar, DaysMonthsAndDates) {
  EXPECT_EQ(parse_date("1970-01-01"), 0);
  EXPECT_EQ(format_date(*parse_date("2026-11-25")), "2026-11-25");
  EXPECT_FALSE(parse_date("2026-02-30"));
  EXPECT_FALSE(parse_date("2026-1-05"));
  EXPECT_EQ(day_of(-1), -1);
  EXPECT_EQ(format_month(month_of_day(*parse_date("2024-02-29"))), "2024-02");
  EXPECT_EQ(first_day_of_month(*parse_month("2024-03")) - first_day_of_month(*parse_month("2024-02")), 29);
}

TEST(Windows, NamedWindows) {
  const int32_t today = *parse_date("2026-11-25");
  EXPECT_EQ(parse_window("today", today)->from_day, today);
  EXPECT_EQ(parse_window("7d", today)->from_day, today - 6);
  EXPECT_EQ(format_date(parse_window("month", today)->from_day), "2026-11-01");
  EXPECT_EQ(format_date(parse_window("2026-02", today)->to_day), "2026-02-28");
  EXPECT_FALSE(parse_window("last-week", today));
  Query qq;
  qq.from_day = today - 6;
  qq.to_day = today;
  EXPECT_EQ(previous_window(qq).to_day, today - 7);
  EXPECT_EQ(previous_window(qq).from_day, today - 13);
}

}  // namespace
// Grouped by resource, one name reported under two units is two rows: the previous window's
// amounts join each to its own (before, the first took them both and the second showed 0).
TEST(Compare, RowsOfOneResourceUnderTwoUnitsKeepTheirOwnPreviousAmounts) {
  auto row = [](const char* unit, int64_t amount) {
    Row r;
    r.key[static_cast<size_t>(Dim::resource)] = "custom/work";
    r.unit = unit;
    r.amount = amount;
    return r;
  };
  Answer cur, prev;
  cur.rows = {row("hour", 10), row("transaction", 20)};
  cur.amount = 30;
  prev.rows = {row("hour", 1), row("transaction", 2)};
  prev.amount = 3;
  compare(cur, prev);
  ASSERT_EQ(cur.rows.size(), 2u);
  EXPECT_EQ(cur.rows[0].unit, "hour");
  EXPECT_EQ(cur.rows[0].previous_amount, 1);
  EXPECT_EQ(cur.rows[1].unit, "transaction");
  EXPECT_EQ(cur.rows[1].previous_amount, 2);
  EXPECT_EQ(cur.rows[0].previous_amount + cur.rows[1].previous_amount, cur.previous_amount);
  // Not grouped by resource: the unit is only what a row's lines share and may differ between
  // windows (mixed, ""): the rows still join by their key.
  Answer c2, p2;
  c2.rows = {Row{}};
  c2.rows[0].unit = "";
  c2.rows[0].amount = 5;
  p2.rows = {Row{}};
  p2.rows[0].unit = "hour";
  p2.rows[0].amount = 4;
  compare(c2, p2);
  ASSERT_EQ(c2.rows.size(), 1u);
  EXPECT_EQ(c2.rows[0].previous_amount, 4);
}

}  // namespace slap::billing
