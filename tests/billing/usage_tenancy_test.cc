// Usage a node reports for a partition belongs to whoever held the partition while it was
// measured. SlapOS nodes name partitions (slapuserN) in journals of a whole day posted afterwards;
// by then the partition may have been freed and given to another client.
#include <gtest/gtest.h>

#include <numeric>

#include "market/computer_view.h"
#include "market/partition_tenancy.h"
#include "market/usage_split.h"
#include "tests/billing/billing_fixture.h"

namespace slap::billing::testing {
namespace {

constexpr int64_t kHour = 3'600'000'000'000;

// One partition ("slappart0" of COMP-1) held by alice's "a" from t_a to t_freed, then empty, then
// by bob's "b" from t_b on.
struct HandOver {
  std::string a, b;
  int64_t t_a = 0, t_freed = 0, t_b = 0;
};
HandOver hand_over(World& w) {
  HandOver h;
  small_world(w);
  w.party("bob");
  const Outcome a = w.request("a");
  h.a = a.instance;
  h.t_a = w.clock.now().value();
  EXPECT_EQ(a.partition, "slappart0");
  w.clock.advance(std::chrono::hours(2));
  w.request("a", {}, "alice", false, RequestedState::destroyed);
  w.ok(ReportState{"COMP-1", h.a, ReportedState::destroyed});  // the node confirms: freed
  h.t_freed = w.clock.now().value();
  w.clock.advance(std::chrono::hours(1));
  const Outcome b = w.request("b", {}, "bob");
  h.b = b.instance;
  h.t_b = w.clock.now().value();
  EXPECT_EQ(b.partition, "slappart0") << "bob takes the partition alice's instance left";
  w.clock.advance(std::chrono::hours(1));
  return h;
}

ReportUsage journal(const std::string& line_ref, int64_t start, int64_t stop, const char* quantity, std::string tx = "day") {
  return ReportUsage{"COMP-1", {UsageTransaction{std::move(tx), ubm::TimestampNs{start}, ubm::TimestampNs{stop},
                                                 {UsageLine{"usage/cpu_s", dec(quantity), "cpu_s", line_ref, ""}}}}};
}

std::string attribute(const ubm::Movement& m, std::string_view key) {
  for (const auto& a : m.attributes) {
    if (a.key == key) return a.value;
  }
  return {};
}

TEST(UsageTenancy, APartitionsUsageGoesToWhoHeldItThenNotToItsHolderWhenPosted) {
  World w;
  const HandOver h = hand_over(w);
  // Alice's hour, posted while bob holds the partition: alice's, whole, over the reported period.
  w.ok(journal("slapuser0", h.t_a, h.t_a + kHour, "1000"));
  auto usage = movements(w, kUsageJournalAttribute);
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].destination.value(), "alice");
  EXPECT_EQ(usage[0].items[0].value(), h.a);
  EXPECT_EQ(usage[0].start.value(), h.t_a);
  EXPECT_EQ(usage[0].stop.value(), h.t_a + kHour);
  EXPECT_EQ(attribute(usage[0], "split"), "");
  // The partition as the transaction's reference (slapnode's way) says the same.
  w.ok(journal("", h.t_a + kHour, h.t_a + kHour + 60, "5", "slappart0"));
  usage = movements(w, kUsageJournalAttribute);
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[1].destination.value(), "alice");
  // Bob's first half hour, in a period that began while the partition stood empty: dated from
  // when he got it (billing puts usage on the day, at the price, of its start).
  w.ok(journal("slapuser0", h.t_freed + 1, h.t_b + kHour / 2, "3"));
  usage = movements(w, kUsageJournalAttribute);
  ASSERT_EQ(usage.size(), 3u);
  EXPECT_EQ(usage[2].destination.value(), "bob");
  EXPECT_EQ(usage[2].start.value(), h.t_b);
  EXPECT_EQ(usage[2].stop.value(), h.t_b + kHour / 2);
  EXPECT_EQ(attribute(usage[2], "split"), "") << "one holder: nothing split";
  // While nobody held it: refused whole, nothing written.
  EXPECT_EQ(w.refused(journal("slappart0", h.t_freed + 1, h.t_b - 1, "7")), ubm::Rejection::UNKNOWN_INSTANCE);
  EXPECT_EQ(w.refused(journal("slappart0", h.t_a - kHour, h.t_a, "7")), ubm::Rejection::UNKNOWN_INSTANCE)
      << "the period ends as the tenancy begins: none of it was held";
  w.expect_replay_equal();
}

TEST(UsageTenancy, APeriodOverAHandOverIsSplitByTimeHeldExactly) {
  World w;
  const HandOver h = hand_over(w);
  const int64_t start = h.t_a - kHour, stop = h.t_b + kHour;  // before alice, alice, empty, bob
  w.ok(journal("slapuser0", start, stop, "1000.001"));
  const auto usage = movements(w, kUsageJournalAttribute);
  ASSERT_EQ(usage.size(), 2u);
  const int64_t held_a = h.t_freed - h.t_a, held_b = stop - h.t_b;
  // Largest remainder over 1,000,001 thousandths: alice's share rounded down, the unit left over
  // to the larger remainder.
  const unsigned __int128 units = 1'000'001;
  const auto floor_a = static_cast<int64_t>(units * held_a / (held_a + held_b));
  const auto floor_b = static_cast<int64_t>(units * held_b / (held_a + held_b));
  const auto rem_a = units * held_a % (held_a + held_b), rem_b = units * held_b % (held_a + held_b);
  int64_t want_a = floor_a, want_b = floor_b;
  if (floor_a + floor_b < 1'000'001) (rem_a >= rem_b ? want_a : want_b) += 1;
  EXPECT_EQ(usage[0].destination.value(), "alice");
  EXPECT_EQ(usage[0].items[0].value(), h.a);
  EXPECT_TRUE(usage[0].quantity.amount.identical(ubm::Decimal::make(want_a, 3).value())) << usage[0].quantity.amount.to_string();
  EXPECT_EQ(usage[0].start.value(), h.t_a);
  EXPECT_EQ(usage[0].stop.value(), h.t_freed);
  EXPECT_EQ(attribute(usage[0], "split"), std::to_string(held_a) + "/" + std::to_string(held_a + held_b));
  EXPECT_EQ(usage[1].destination.value(), "bob");
  EXPECT_EQ(usage[1].items[0].value(), h.b);
  EXPECT_TRUE(usage[1].quantity.amount.identical(ubm::Decimal::make(want_b, 3).value())) << usage[1].quantity.amount.to_string();
  EXPECT_EQ(usage[1].start.value(), h.t_b);
  EXPECT_EQ(usage[1].stop.value(), stop);
  EXPECT_EQ(want_a + want_b, 1'000'001) << "nothing billed twice, nothing lost";
  // Billing counts each part for its own client.
  const auto rows = ask(w, day_of(start), day_of(stop), {Dim::client}).rows;
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].key[static_cast<size_t>(Dim::client)], "alice");
  EXPECT_EQ(rows[1].key[static_cast<size_t>(Dim::client)], "bob");
  w.expect_replay_equal();
}

TEST(UsageTenancy, AnInstantBelongsToItsHolderThenAndAHandOverInstantToTheNewHolder) {
  World w;
  const HandOver h = hand_over(w);
  w.ok(journal("slappart0", h.t_b, h.t_b, "3"));
  w.ok(journal("slappart0", h.t_a, h.t_a, "4"));
  const auto usage = movements(w, kUsageJournalAttribute);
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[0].destination.value(), "bob");
  EXPECT_EQ(usage[1].destination.value(), "alice");
  EXPECT_EQ(w.refused(journal("slappart0", h.t_freed + 1, h.t_freed + 1, "7")), ubm::Rejection::UNKNOWN_INSTANCE);
  w.expect_replay_equal();
}

// The freeing that serves a pending request hands the partition over within one decision: the
// old holder's tenancy ends where the new one's begins, and a period over it is split there.
TEST(UsageTenancy, AHandOverInOneDecisionSplitsAtThatInstant) {
  World w;
  w.party("owner");
  w.party("alice");
  w.party("bob");
  w.computer("COMP-1", 10);
  w.format("COMP-1", 1);
  w.supply("COMP-1");
  const Outcome a = w.request("a");
  const int64_t t_a = w.clock.now().value();
  const Outcome b = w.request("b", {}, "bob");
  EXPECT_FALSE(b.pending.empty()) << "one partition: bob waits";
  w.clock.advance(std::chrono::hours(1));
  w.request("a", {}, "alice", false, RequestedState::destroyed);
  w.ok(ReportState{"COMP-1", a.instance, ReportedState::destroyed});  // frees it and serves bob at once
  const int64_t t = w.clock.now().value();
  ASSERT_EQ(w.market().computers().location(b.instance)->props.computer, "COMP-1");
  w.clock.advance(std::chrono::hours(1));
  w.ok(journal("slappart0", t, t, "1"));
  w.ok(journal("slappart0", t_a, t + (t - t_a), "10"));  // as long after the hand-over as before it
  const auto usage = movements(w, kUsageJournalAttribute);
  ASSERT_EQ(usage.size(), 3u);
  EXPECT_EQ(usage[0].destination.value(), "bob") << "the hand-over instant is the new holder's";
  EXPECT_EQ(usage[1].destination.value(), "alice");
  EXPECT_EQ(usage[1].quantity.amount.to_string(), "5");
  EXPECT_EQ(usage[1].stop.value(), t);
  EXPECT_EQ(usage[2].destination.value(), "bob");
  EXPECT_EQ(usage[2].quantity.amount.to_string(), "5");
  EXPECT_EQ(usage[2].start.value(), t);
  w.expect_replay_equal();
}

// Usage is reported after it is measured. A period that ends a little past the master's clock (a
// node's clock running ahead) is taken as ending now: what it reports was used by whoever has held
// the partition until now. Further ahead it is refused for now, with a code a node retries (409),
// so nothing it measured is dropped, and nothing is billed to a day still to come.
TEST(UsageTenancy, APeriodEndingPastTheMastersClockIsTakenAsEndingNowOrRefusedForNow) {
  World w;
  const HandOver h = hand_over(w);
  const int64_t now = w.clock.now().value() + 1'000'000'000;  // the journal's decision (run advances 1 s)
  const int64_t ahead = market::kUsageClockAllowanceNs / 2;
  w.ok(journal("slappart0", h.t_a, now + ahead, "1000"));
  const auto usage = movements(w, kUsageJournalAttribute);
  ASSERT_EQ(usage.size(), 2u);
  const int64_t held_a = h.t_freed - h.t_a, held_b = now - h.t_b;  // none of bob's time ahead
  EXPECT_EQ(usage[0].destination.value(), "alice");
  EXPECT_EQ(attribute(usage[0], "split"), std::to_string(held_a) + "/" + std::to_string(held_a + held_b));
  EXPECT_EQ(usage[1].destination.value(), "bob");
  EXPECT_EQ(usage[1].stop.value(), now);
  // Wholly ahead, within the allowance: its holder now.
  w.ok(journal("slappart0", now + ahead / 2, now + ahead, "1"));
  const auto later = movements(w, kUsageJournalAttribute);
  ASSERT_EQ(later.size(), 3u);
  EXPECT_EQ(later[2].destination.value(), "bob");
  // Past the allowance: refused for now, whatever it names, and nothing written.
  const int64_t far = w.clock.now().value() + 24 * kHour;
  EXPECT_EQ(w.refused(journal("slappart0", h.t_b, far, "1")), ubm::Rejection::INVALID_STATE);
  EXPECT_EQ(w.refused(journal(h.b, h.t_b, far, "1")), ubm::Rejection::INVALID_STATE);
  EXPECT_EQ(w.refused(journal("COMP-1", h.t_b, far, "1")), ubm::Rejection::INVALID_STATE);
  w.expect_replay_equal();
}

TEST(UsageTenancy, ADestroyedInstanceNamedByItsGuidStillOwnsItsUsageUntilItWasFreed) {
  World w;
  const HandOver h = hand_over(w);
  // Its last hour, reported after its destruction: before, refused as unknown on this computer.
  w.ok(journal(h.a, h.t_freed - kHour, h.t_freed, "9"));
  const auto usage = movements(w, kUsageJournalAttribute);
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].destination.value(), "alice");
  EXPECT_EQ(usage[0].items[0].value(), h.a);
  // A period after it was freed is no longer its own.
  EXPECT_EQ(w.refused(journal(h.a, h.t_freed + 1, h.t_b, "9")), ubm::Rejection::UNKNOWN_INSTANCE);
  w.expect_replay_equal();
  // Nor is another computer's report of it.
  w.computer("COMP-2", 10);
  w.format("COMP-2", 1);
  auto other = journal(h.a, h.t_freed - kHour, h.t_freed, "9");
  other.computer = "COMP-2";
  EXPECT_EQ(w.refused(other), ubm::Rejection::UNKNOWN_INSTANCE);
}

// The computer view restores its tenancies from its checkpoint, byte for byte; a truncated image,
// or one without the format mark, is refused (Ledger::open then rebuilds the view from the log).
TEST(UsageTenancy, TenanciesRestoreFromTheComputerViewsCheckpoint) {
  World w;
  const HandOver h = hand_over(w);
  const std::string image = w.market().computers().snapshot();
  market::ComputerView restored;
  ASSERT_TRUE(restored.restore(image, w.ledger().head()).ok());
  EXPECT_EQ(restored.snapshot(), image);
  const auto* c = restored.find("COMP-1");
  ASSERT_NE(c, nullptr);
  std::vector<market::Share> held;
  market::holders(restored, *c, *c->partition("slappart0"), h.t_a - kHour, h.t_b + kHour, held);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].instance, h.a);
  EXPECT_EQ(held[0].start, h.t_a);
  EXPECT_EQ(held[0].stop, h.t_freed);
  EXPECT_EQ(held[1].instance, h.b);
  EXPECT_EQ(held[1].start, h.t_b);
  EXPECT_TRUE(market::held_before(restored, *c, h.a, h.t_a, h.t_a + 1));
  EXPECT_FALSE(market::held_before(restored, *c, h.b, h.t_b, h.t_b + 1)) << "bob's instance still holds it";
  // A truncated image, or one without the format mark, is refused.
  EXPECT_FALSE(market::ComputerView().restore(image.substr(0, image.size() - 1), w.ledger().head()).ok());
  EXPECT_FALSE(market::ComputerView().restore(image.substr(8), w.ledger().head()).ok());
}

TEST(UsageSplit, PartsAddUpExactlyAndFollowTheWeights) {
  auto sum = [](const std::vector<ubm::Decimal>& parts) {
    return std::accumulate(parts.begin(), parts.end(), int64_t{0}, [](int64_t s, ubm::Decimal d) { return s + d.mantissa(); });
  };
  const int64_t w3[] = {1, 1, 1};
  auto thirds = market::split_by_weight(dec("1.00"), w3);
  ASSERT_EQ(thirds.size(), 3u);
  EXPECT_EQ(thirds[0].to_string(), "0.34") << "the leftover hundredth goes to the first of equal remainders";
  EXPECT_EQ(thirds[1].to_string(), "0.33");
  EXPECT_EQ(thirds[2].to_string(), "0.33");
  const int64_t w2[] = {1, 4};
  auto neg = market::split_by_weight(dec("-10"), w2);
  EXPECT_EQ(neg[0].to_string(), "-2");
  EXPECT_EQ(neg[1].to_string(), "-8");
  // Extremes: the largest mantissas and weights of a century in nanoseconds do not overflow.
  const int64_t big[] = {3'000'000'000'000'000'000, 1, 7};
  for (int64_t m : {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), int64_t{1}, int64_t{0}}) {
    auto parts = market::split_by_weight(ubm::Decimal::make(m, 18).value(), big);
    EXPECT_EQ(sum(parts), m);
    for (const auto& p : parts) EXPECT_EQ(p.scale(), 18);
  }
}

}  // namespace
}  // namespace slap::billing::testing
