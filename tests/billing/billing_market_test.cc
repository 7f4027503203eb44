// Billing through the real market and ledger (in memory, manual clock): hosting intervals, usage
// lines, idempotent journals, prices by date, rejected price commands, re-rating with history.
#include "billing_fixture.h"

namespace slap::billing::testing {
namespace {

using ubm::Rejection;
constexpr int64_t kHourNs = 3'600'000'000'000;

TEST(Hosting, EachStartedToStoppedOrDestroyedIsOneClosedInterval) {
  World w;
  small_world(w);
  const Outcome o = w.request("db");
  ASSERT_FALSE(o.partition.empty());
  const int32_t d0 = today(w) + 1;
  at_day(w, d0, 1);
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::started});
  const int64_t t1 = w.clock.now().value();
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::started});  // repeated: nothing new
  at_day(w, d0, 3);
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::stopped});
  const int64_t t2 = w.clock.now().value();
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::stopped});  // repeated: no second interval
  at_day(w, d0, 22);
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::started});
  const int64_t t3 = w.clock.now().value();
  w.request("db", {}, "alice", false, RequestedState::destroyed);
  at_day(w, d0 + 1, 2);  // runs over midnight
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::destroyed});
  const int64_t t4 = w.clock.now().value();

  auto intervals = movements(w, kHostingKey, kHostingInterval);
  ASSERT_EQ(intervals.size(), 2u);
  EXPECT_EQ(intervals[0].start.value(), t1);
  EXPECT_EQ(intervals[0].stop.value(), t2);
  EXPECT_EQ(intervals[1].start.value(), t3);
  EXPECT_EQ(intervals[1].stop.value(), t4);
  EXPECT_EQ(intervals[0].quantity.unit, "s");
  EXPECT_EQ(intervals[0].quantity.amount, ubm::Decimal::make(t2 - t1, 9).value());
  EXPECT_EQ(intervals[0].source.value(), "owner");
  EXPECT_EQ(intervals[0].destination.value(), "alice");
  ASSERT_EQ(intervals[1].items.size(), 5u);  // instance, partition, computer, release, subscription
  EXPECT_EQ(intervals[1].items[0].value(), o.instance);
  EXPECT_EQ(intervals[1].items[1].value(), "COMP-1/" + o.partition);
  EXPECT_EQ(intervals[1].items[2].value(), "COMP-1");
  EXPECT_EQ(intervals[1].items[3].value(), Market::release_id(market::testing::kRelease));
  EXPECT_EQ(intervals[1].items[4].value(), "SUB-" + o.instance);
  EXPECT_EQ(w.market().hosting().running(), 0u);

  // Billing splits the second interval at midnight: 2 hours (first) + 2 h (second) on d0, 2 h on d0+1.
  auto a = ask(w, d0, d0 + 1, {Dim::day});
  ASSERT_EQ(a.rows.size(), 2u);
  EXPECT_EQ(a.rows[0].quantity, to_q18(ubm::Decimal::make((t2 - t1) + (day_start_ns(d0 + 1) - t3), 9).value()));
  EXPECT_EQ(a.rows[1].quantity, to_q18(ubm::Decimal::make(t4 - day_start_ns(d0 + 1), 9).value()));
  EXPECT_EQ(a.rows[0].unrated, 2u);  // no price yet: quantities counted, amounts zero
  EXPECT_EQ(a.amount, 0);
  w.expect_replay_equal();
}

TEST(Usage, JournalLinesLandOnTheirInstanceDayAndAreCountedOnce) {
  World w;
  small_world(w);
  const Outcome o = w.request("db");
  const int32_t d = today(w) + 2;
  at_day(w, d, 5);
  const auto start = ubm::TimestampNs{day_start_ns(d)}, stop = ubm::TimestampNs{day_start_ns(d) + kHourNs};
  const ReportUsage journal = usage("COMP-1", o.partition, o.partition, start, stop,
                                    {{"usage/cpu_s", dec("12.345"), "cpu_s", "", ""}, {"custom/transaction", dec("7"), "transaction", "", ""}});
  w.ok(journal);
  const ubm::Seq head = w.ledger().head();
  w.ok(journal);  // the same journal again: accounted once
  EXPECT_EQ(w.ledger().head(), head);
  auto a = ask(w, d, d, {Dim::client, Dim::resource, Dim::instance, Dim::computer, Dim::supplier});
  ASSERT_EQ(a.rows.size(), 2u);
  EXPECT_EQ(a.rows[0].key[static_cast<size_t>(Dim::resource)], "custom/transaction");
  EXPECT_EQ(a.rows[0].quantity, to_q18(dec("7")));
  EXPECT_EQ(a.rows[1].key[static_cast<size_t>(Dim::resource)], "usage/cpu_s");
  EXPECT_EQ(a.rows[1].key[static_cast<size_t>(Dim::client)], "alice");
  EXPECT_EQ(a.rows[1].key[static_cast<size_t>(Dim::supplier)], "owner");
  EXPECT_EQ(a.rows[1].key[static_cast<size_t>(Dim::instance)], o.instance);
  EXPECT_EQ(a.rows[1].key[static_cast<size_t>(Dim::computer)], "COMP-1");
  EXPECT_EQ(q18_to_string(a.rows[1].quantity), "12.345");
  EXPECT_EQ(a.rows[1].movements, 1u);
  EXPECT_TRUE(ask(w, d + 1, d + 1, {}).rows.empty());
}

// What the market records itself (hosting intervals, prices, capacity, supplies) cannot come in a
// usage journal: a node's (or an instance's) "hosting/running" line of 3600 s was merged into the
// hosting interval the market recorded, under the same resource and key, and the client paid the
// hour twice. Such a journal is refused whole and writes nothing.
TEST(Usage, AJournalCannotReportWhatTheMarketRecordsItself) {
  World w;
  small_world(w);
  const Outcome o = w.request("db");
  const int32_t d = today(w) + 1;
  at_day(w, d, 1);
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::started});
  at_day(w, d, 2);
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::stopped});
  const auto hosted = ask(w, d, d, {Dim::resource});
  ASSERT_EQ(hosted.rows.size(), 1u);
  const auto start = ubm::TimestampNs{day_start_ns(d) + kHourNs}, stop = ubm::TimestampNs{day_start_ns(d) + 2 * kHourNs};
  for (const char* resource : {"hosting/running", "hosting/partition", "billing/price", "capacity/partition", "software/supply"}) {
    const ReportUsage journal = usage("COMP-1", o.instance, std::string("tx-") + resource, start, stop,
                                      {{"usage/cpu_s", dec("1"), "cpu_s", "", ""}, {resource, dec("3600"), "s", "", ""}});
    EXPECT_EQ(w.refused(journal), ubm::Rejection::INVALID_PARAMETER) << resource;
  }
  const auto after = ask(w, d, d, {Dim::resource});
  ASSERT_EQ(after.rows.size(), 1u);
  EXPECT_EQ(after.rows[0].quantity, hosted.rows[0].quantity) << "the hour is billed once";
  EXPECT_EQ(after.rows[0].movements, hosted.rows[0].movements);
  // Usage of its own kind still comes in, custom resources included.
  w.ok(usage("COMP-1", o.instance, "tx-ok", start, stop, {{"usage/cpu_s", dec("1"), "cpu_s", "", ""}, {"custom/hours", dec("3600"), "s", "", ""}}));
  EXPECT_EQ(ask(w, d, d, {Dim::resource}).rows.size(), 3u);
  w.expect_replay_equal();
}

// A node reporting usage for another computer's instance is refused as for a guid that names
// nothing: the same code and the same words, so that a node cannot learn by its journals which
// instances exist elsewhere (it was NOT_OWNER "... does not run on" against UNKNOWN_INSTANCE).
TEST(Usage, AnotherComputersInstanceIsRefusedAsAnUnknownOne) {
  World w;
  small_world(w);
  w.computer("COMP-2", 10);
  w.format("COMP-2", 2);
  w.supply("COMP-2");
  const Outcome theirs = w.request("elsewhere", {{"computer_guid", "COMP-2"}});
  ASSERT_EQ(theirs.computer, "COMP-2");
  const auto stop = w.clock.now(), start = ubm::TimestampNs{stop.value() - kHourNs};
  auto journal = [&](const std::string& reference) {
    return usage("COMP-1", reference, "tx-" + reference, start, stop, {{"usage/cpu_s", dec("1"), "cpu_s", "", ""}});
  };
  EXPECT_EQ(w.refused(journal(theirs.instance)), ubm::Rejection::UNKNOWN_INSTANCE);
  EXPECT_EQ(w.refused(journal("SOFTINST-999")), ubm::Rejection::UNKNOWN_INSTANCE);
  auto words = [&](const std::string& reference) {
    auto r = w.run(journal(reference));
    std::string detail = r.ok() ? "" : r.error().detail;
    if (const size_t at = detail.find(reference); at != std::string::npos) detail.replace(at, reference.size(), "<ref>");
    return detail;
  };
  EXPECT_EQ(words(theirs.instance), words("SOFTINST-999"));
  // Its own computer's journal for it is taken.
  w.ok(usage("COMP-2", theirs.instance, "tx-own", start, stop, {{"usage/cpu_s", dec("1"), "cpu_s", "", ""}}));
}

// The owner running an instance on its own computer is supplied by the computer's network, for its
// hosting and for its usage alike, so both are on its statement, rated by the same price; the
// computer's own usage (no instance named) goes from the owner to the market. Before, the usage of
// such an instance went from the owner to the market: the market "bought" the owner's own usage,
// and the owner's statement showed its hosting without it.
TEST(SelfHosting, HostingAndUsageOfTheOwnersOwnInstanceHaveOneSupplier) {
  World w;
  small_world(w);
  const Outcome o = w.request("mine", {}, "owner");
  ASSERT_FALSE(o.partition.empty());
  const int32_t d = today(w) + 1;
  w.ok(SetPrice{"owner", "COMP-1", "usage/cpu_s", "cpu_s", dec("2"), "EUR", d, false});
  at_day(w, d, 1);
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::started});
  at_day(w, d, 3);
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::stopped});
  const auto start = ubm::TimestampNs{day_start_ns(d) + kHourNs}, stop = ubm::TimestampNs{day_start_ns(d) + 2 * kHourNs};
  w.ok(usage("COMP-1", o.partition, o.partition, start, stop, {{"usage/cpu_s", dec("10"), "cpu_s", "", ""}}));
  w.ok(usage("COMP-1", "", "COMP-1", start, stop, {{"usage/cpu_s", dec("5"), "cpu_s", "", ""}}));  // the computer's own

  auto intervals = movements(w, kHostingKey, kHostingInterval);
  ASSERT_EQ(intervals.size(), 1u);
  EXPECT_EQ(intervals[0].source.value(), "net-1");
  EXPECT_EQ(intervals[0].destination.value(), "owner");
  auto used = movements(w, market::kUsageJournalAttribute);
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].items.front().value(), o.instance);
  EXPECT_EQ(used[0].source.value(), "net-1") << "the instance's usage comes from the supplier of its hosting";
  EXPECT_EQ(used[0].destination.value(), "owner");
  EXPECT_EQ(used[1].items.front().value(), "COMP-1");
  EXPECT_EQ(used[1].source.value(), "owner");
  EXPECT_EQ(used[1].destination.value(), std::string(kMarketNode));

  // The owner's own lines: its hosting and its usage, both from the network; the usage rated.
  std::array<std::string, kFilterDims> mine{};
  mine[static_cast<size_t>(Dim::client)] = "owner";
  auto a = ask(w, d, d, {Dim::supplier, Dim::resource}, mine);
  ASSERT_EQ(a.rows.size(), 2u);
  EXPECT_EQ(a.rows[0].key[static_cast<size_t>(Dim::resource)], "hosting/running");
  EXPECT_EQ(a.rows[1].key[static_cast<size_t>(Dim::resource)], "usage/cpu_s");
  for (const auto& r : a.rows) EXPECT_EQ(r.key[static_cast<size_t>(Dim::supplier)], "net-1");
  EXPECT_EQ(a.rows[1].amount, 20);
  w.expect_replay_equal();
}

TEST(Prices, TakeEffectOnTheirDayAndNeverRewriteThePast) {
  World w;
  small_world(w);
  const Outcome o = w.request("db");
  const int32_t d0 = today(w) + 1;
  // 0.5 cent per CPU-second for every computer of "owner" from d0+1; 0.75 on COMP-1 from d0+3.
  w.ok(SetPrice{"owner", "", "usage/cpu_s", "cpu_s", dec("0.5"), "EUR", d0 + 1, false});
  w.ok(SetPrice{"owner", "COMP-1", "usage/cpu_s", "cpu_s", dec("0.75"), "EUR", d0 + 3, false});
  auto post = [&](int32_t day, const char* q) {
    at_day(w, day, 12);
    const auto start = ubm::TimestampNs{day_start_ns(day) + kHourNs};
    w.ok(usage("COMP-1", o.partition, "tx-" + std::to_string(day), start, ubm::TimestampNs{start.value() + kHourNs},
               {{"usage/cpu_s", dec(q), "cpu_s", "", ""}}));
  };
  post(d0, "100");      // before any price: unrated
  post(d0 + 1, "100");  // 0.5 -> 50
  post(d0 + 2, "3");    // 1.5 -> 2 (half away from zero)
  post(d0 + 3, "100");  // 0.75 (computer price wins) -> 75
  auto a = ask(w, d0, d0 + 3, {Dim::day});
  ASSERT_EQ(a.rows.size(), 4u);
  EXPECT_EQ(a.rows[0].amount, 0);
  EXPECT_EQ(a.rows[0].unrated, 1u);
  EXPECT_EQ(a.rows[1].amount, 50);
  EXPECT_EQ(a.rows[2].amount, 2);
  EXPECT_EQ(a.rows[3].amount, 75);
  EXPECT_EQ(a.amount, 127);
  // A price for today is refused: it would rewrite what today already billed.
  const int32_t now = today(w);
  EXPECT_EQ(w.refused(SetPrice{"owner", "", "usage/cpu_s", "cpu_s", dec("9"), "EUR", now, false}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(ask(w, d0, d0 + 3, {}).amount, 127);
  w.expect_replay_equal();
}

TEST(Prices, RejectedPriceCommandsWriteNothing) {
  World w;
  small_world(w);
  w.party("mallory");
  const int32_t t = today(w) + 1;
  EXPECT_EQ(w.refused(SetPrice{"mallory", "COMP-1", "usage/cpu_s", "cpu_s", dec("1"), "EUR", t, false}), Rejection::NOT_OWNER);
  // An unknown computer is refused as someone else's (no probing for computer guids).
  EXPECT_EQ(w.refused(SetPrice{"owner", "COMP-9", "usage/cpu_s", "cpu_s", dec("1"), "EUR", t, false}), Rejection::NOT_OWNER);
  EXPECT_EQ(w.refused(Rerate{"mallory", "COMP-9", t, t, ""}), Rejection::NOT_OWNER);
  EXPECT_EQ(w.refused(SetPrice{"nobody", "", "usage/cpu_s", "cpu_s", dec("1"), "EUR", t, false}), Rejection::UNKNOWN_PARTY);
  EXPECT_EQ(w.refused(SetPrice{"net-1", "", "usage/cpu_s", "cpu_s", dec("1"), "EUR", t, false}), Rejection::UNKNOWN_PARTY);
  EXPECT_EQ(w.refused(SetPrice{"owner", "", "usage/cpu_s", "parsec", dec("1"), "EUR", t, false}), Rejection::UNKNOWN_UNIT);
  EXPECT_EQ(w.refused(SetPrice{"owner", "", "usage/cpu_s", "cpu_s", dec("-1"), "EUR", t, false}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(w.refused(SetPrice{"owner", "", "usage/cpu_s", "cpu_s", dec("0.0000000001"), "EUR", t, false}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(w.refused(SetPrice{"owner", "", "usage/cpu_s", "cpu_s", dec("1"), "USD", t, false}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(w.refused(SetPrice{"owner", "", "usage/cpu_s", "cpu_s", dec("1"), "eur", t, false}), Rejection::INVALID_CURRENCY);
  EXPECT_EQ(w.refused(SetPrice{"owner", "", "usage/cpu_s", "cpu_s", dec("1"), "EUR", t - 5, false}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(w.refused(SetPrice{"owner", "", "hosting/running", "byte", dec("1"), "EUR", t, false}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(w.refused(SetPrice{"owner", "", "billing/price", "unit", dec("1"), "EUR", t, false}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(w.refused(SetPrice{"owner", "", "no resource", "unit", dec("1"), "EUR", t, false}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(w.refused(Rerate{"mallory", "COMP-1", t - 2, t - 1, ""}), Rejection::NOT_OWNER);
  EXPECT_EQ(w.refused(Rerate{"owner", "", t, t + 3, ""}), Rejection::INVALID_PARAMETER);  // the future
  EXPECT_EQ(w.refused(Rerate{"owner", "", t - 1, t - 3, ""}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(w.refused(Rerate{"owner", "", t - 400, t - 1, ""}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(w.market().billing().stats().prices, 0u);
}

TEST(Rerating, IsExplicitRecordedAndKeepsTheHistory) {
  World w;
  small_world(w);
  const Outcome o = w.request("db");
  const int32_t d0 = today(w);
  w.ok(SetPrice{"owner", "", "hosting/running", "partition_h", dec("10"), "EUR", d0 + 1, false});
  at_day(w, d0 + 1, 0);
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::started});
  const int64_t started = w.clock.now().value();
  w.clock.set(started + 6 * kHourNs);
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::stopped});
  EXPECT_EQ(ask(w, d0 + 1, d0 + 1, {}).amount, 60);  // 6 h x 10 (plus 2 s of commands, rounded away)
  // The price was wrong: 12, not 10. A correction alone changes no line already rated...
  at_day(w, d0 + 2, 1);
  w.ok(SetPrice{"owner", "", "hosting/running", "partition_h", dec("12"), "EUR", d0 + 1, true});
  EXPECT_EQ(ask(w, d0 + 1, d0 + 1, {}).amount, 60);
  // ... an explicit re-rating does.
  w.ok(Rerate{"owner", "", d0 + 1, d0 + 1, "price typo"});
  EXPECT_EQ(ask(w, d0 + 1, d0 + 1, {}).amount, 72);
  EXPECT_EQ(w.market().billing().stats().rerated_lines, 1u);
  // The history keeps both prices and the re-rating.
  auto prices = movements(w, kBillingKey, "price");
  ASSERT_EQ(prices.size(), 2u);
  EXPECT_EQ(prices[0].price.minor, dec("10"));
  EXPECT_EQ(prices[1].price.minor, dec("12"));
  EXPECT_EQ(movements(w, kBillingKey, "rerate").size(), 1u);
  // A replay reaches the same amounts; a restored snapshot answers the same.
  w.expect_replay_equal();
  BillingProjection copy;
  ASSERT_TRUE(copy.restore(w.market().billing().snapshot(), w.ledger().head()).ok());
  EXPECT_EQ(copy.snapshot(), w.market().billing().snapshot());
  Query q;
  q.from_day = d0;
  q.to_day = d0 + 2;
  EXPECT_EQ(copy.query(q).amount, 72);
}

// Quantities are summed exactly, up to about 1.7e20 units: byte-seconds of a large month go past
// that. A sum that does not fit is said to (quantity_out_of_range, no quantity), by the month's
// roll-up and by a sum of day lines alike; before, the addition was dropped silently and a month
// showed less than its days.
TEST(Statements, AQuantityThatDoesNotFitIsSaidNotDropped) {
  World w;
  small_world(w);
  const Outcome o = w.request("db");
  const int32_t first = first_day_of_month(month_of_day(today(w)) + 1), last = first_day_of_month(month_of_day(first) + 1) - 1;
  constexpr int kDays = 25;  // 25 x 9e18 byte_s > 1.7e20; each day alone fits
  for (int k = 0; k < kDays; ++k) {
    at_day(w, first + k, 2);
    const auto start = ubm::TimestampNs{day_start_ns(first + k)}, stop = ubm::TimestampNs{day_start_ns(first + k) + kHourNs};
    w.ok(usage("COMP-1", o.instance, "tx-" + std::to_string(k), start, stop, {{"usage/disk_byte_s", dec("9000000000000000000"), "byte_s", "", ""}}));
  }
  const auto days = ask(w, first, last, {Dim::day});
  ASSERT_EQ(days.rows.size(), static_cast<size_t>(kDays));
  for (const auto& r : days.rows) {
    EXPECT_FALSE(r.quantity_out_of_range);
    EXPECT_EQ(r.quantity, to_q18(dec("9000000000000000000")));
  }
  EXPECT_FALSE(days.quantity_out_of_range);
  const auto month = ask(w, first, last, {Dim::resource});  // the month's roll-up
  ASSERT_EQ(month.rows.size(), 1u);
  EXPECT_TRUE(month.rows[0].quantity_out_of_range);
  EXPECT_EQ(month.rows[0].quantity, 0);
  EXPECT_TRUE(month.quantity_out_of_range);
  EXPECT_EQ(month.rows[0].movements, static_cast<uint64_t>(kDays)) << "every movement counted";
  const auto part = ask(w, first, first + kDays - 2, {Dim::resource});  // day lines of part of the month
  ASSERT_EQ(part.rows.size(), 1u);
  EXPECT_TRUE(part.rows[0].quantity_out_of_range);
  const auto fits = ask(w, first, first + 9, {Dim::resource});  // 10 days fit: 9e19
  ASSERT_EQ(fits.rows.size(), 1u);
  EXPECT_FALSE(fits.rows[0].quantity_out_of_range);
  EXPECT_EQ(q18_to_string(fits.rows[0].quantity), "90000000000000000000");
  // One day line past it: 20 journals of the last day. Every movement counted, none dropped.
  const int32_t full = first + kDays;
  at_day(w, full, 2);
  for (int k = 0; k < 20; ++k) {
    const auto start = ubm::TimestampNs{day_start_ns(full) + k}, stop = ubm::TimestampNs{day_start_ns(full) + kHourNs};
    w.ok(usage("COMP-1", o.instance, "full-" + std::to_string(k), start, stop, {{"usage/disk_byte_s", dec("9000000000000000000"), "byte_s", "", ""}}));
  }
  const auto day = ask(w, full, full, {Dim::day});
  ASSERT_EQ(day.rows.size(), 1u);
  EXPECT_TRUE(day.rows[0].quantity_out_of_range);
  EXPECT_EQ(day.rows[0].movements, 20u);
  w.expect_replay_equal();
}

TEST(Statements, MonthRollupsAgreeWithDayLines) {
  World w;
  small_world(w);
  const Outcome o = w.request("db");
  const int32_t d0 = today(w);
  w.ok(SetPrice{"owner", "", "usage/cpu_s", "cpu_s", dec("0.3"), "EUR", d0 + 1, false});
  for (int k = 1; k <= 40; ++k) {
    at_day(w, d0 + k, 1);
    const auto s = ubm::TimestampNs{day_start_ns(d0 + k)};
    w.ok(usage("COMP-1", o.partition, "d" + std::to_string(k), s, ubm::TimestampNs{s.value() + kHourNs},
               {{"usage/cpu_s", dec("11.5"), "cpu_s", "", ""}}));
  }
  const int32_t m = month_of_day(d0 + 20);
  const int32_t first = first_day_of_month(m), last = first_day_of_month(m + 1) - 1;
  const Answer by_month = ask(w, first, last, {Dim::client, Dim::month});  // roll-ups
  const Answer by_day = ask(w, first, last, {Dim::client, Dim::day});      // day lines
  ASSERT_EQ(by_month.rows.size(), 1u);
  EXPECT_EQ(by_month.amount, by_day.amount);
  EXPECT_EQ(by_month.rows[0].quantity, [&] {
    Q18 s = 0;
    for (const auto& r : by_day.rows) EXPECT_TRUE(add_q18(s, r.quantity));
    return s;
  }());
  EXPECT_EQ(by_month.rows[0].key[static_cast<size_t>(Dim::month)], format_month(m));
}

}  // namespace
}  // namespace slap::billing::testing
