// Property: on random seeded workloads (usage journals, hosting starts and stops, prices set ahead),
// every billing total equals the sum of its Movements, rated by an independent reference model:
// quantities summed exactly, each (client, supplier, resource, computer, instance, day) line rated
// once at the price effective on its day. Seed printed; SLAP_BILLING_SEED=N reproduces.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "billing_fixture.h"

namespace slap::billing::testing {
namespace {

constexpr int64_t kHourNs = 3'600'000'000'000;

struct RefPrice {
  bool per_computer;
  std::string scope, resource;
  ubm::Decimal price;
  int32_t day;
};

using LineKey = std::tuple<int32_t, std::string, std::string, std::string, std::string, std::string, std::string>;
// (day, client, supplier, resource, unit, computer, instance)

// round(q x p / (10^(18+scale) x divisor)), half away from zero: one big division (values are small here).
int64_t ref_amount(Q18 q, const ubm::Decimal& p, int64_t divisor) {
  __int128 num = q * p.mantissa();
  __int128 den = divisor;
  for (int i = 0; i < 18 + p.scale(); ++i) den *= 10;
  const bool neg = num < 0;
  if (neg) num = -num;
  const __int128 r = (2 * num + den) / (2 * den);
  return static_cast<int64_t>(neg ? -r : r);
}

void run(uint64_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](uint64_t n) { return rng() % n; };
  World w;
  w.party("owner");
  w.party("owner2");
  for (int c = 0; c < 4; ++c) w.party("c" + std::to_string(c));
  const std::map<std::string, std::string> owner_of = {{"COMP-0", "owner"}, {"COMP-1", "owner"}, {"COMP-2", "owner2"}};
  for (const auto& [comp, owner] : owner_of) {
    w.computer(comp, 0, {}, owner);
    w.format(comp, 4);
    w.supply(comp, market::testing::kRelease, owner);
  }
  struct Inst {
    std::string guid, computer, partition;
    bool running = false;
  };
  std::vector<Inst> insts;
  // The owners request too: their instances may land on their own computers (self-hosting).
  const std::vector<std::string> requesters = {"c0", "c1", "c2", "c3", "owner", "owner2"};
  for (int i = 0; i < 12; ++i) {
    Outcome o = w.request("t" + std::to_string(i), {}, requesters[static_cast<size_t>(i) % requesters.size()]);
    if (!o.partition.empty()) insts.push_back({o.instance, o.computer, o.partition});
  }
  ASSERT_FALSE(insts.empty());
  const std::vector<std::pair<std::string, std::string>> resources = {
      {"usage/cpu_s", "cpu_s"}, {"custom/transaction", "transaction"}, {"usage/ram_byte_s", "byte_s"}};
  std::vector<RefPrice> prices;
  int tx = 0;
  auto random_decimal = [&](int max_scale) {
    return ubm::Decimal::make(static_cast<int64_t>(pick(10'000'000)), static_cast<uint8_t>(pick(max_scale + 1))).value();
  };
  for (int step = 0; step < 150; ++step) {
    w.clock.advance(std::chrono::nanoseconds(static_cast<int64_t>(pick(6 * kHourNs))));
    const uint64_t action = pick(10);
    Inst& in = insts[pick(insts.size())];
    if (action <= 4 || action >= 8) {
      const int64_t now = w.clock.now().value();
      const auto start = ubm::TimestampNs{now - static_cast<int64_t>(pick(2 * kHourNs))};
      std::vector<UsageLine> lines;
      for (uint64_t n = 1 + pick(3); n > 0; --n) {
        const auto& [res, unit] = resources[pick(resources.size())];
        lines.push_back(UsageLine{res, random_decimal(6), unit, "", ""});
      }
      w.ok(usage(in.computer, in.partition, "tx" + std::to_string(tx++), start, ubm::TimestampNs{now}, std::move(lines)));
    } else if (action <= 6) {
      w.ok(ReportState{in.computer, in.guid, in.running ? ReportedState::stopped : ReportedState::started});
      in.running = !in.running;
    } else {
      const std::string owner = pick(2) ? "owner" : "owner2";
      std::string computer;
      if (pick(2)) computer = owner == "owner" ? (pick(2) ? "COMP-0" : "COMP-1") : "COMP-2";
      const uint64_t r = pick(3);
      const std::string resource = r == 2 ? "hosting/running" : resources[r].first;
      const std::string unit = r == 2 ? "partition_h" : resources[r].second;
      const auto price = ubm::Decimal::make(static_cast<int64_t>(pick(100'000)), static_cast<uint8_t>(pick(4))).value();
      const int32_t day = today(w) + 1 + static_cast<int32_t>(pick(3));
      w.ok(SetPrice{owner, computer, resource, unit, price, "EUR", day, false});
      prices.push_back({!computer.empty(), computer.empty() ? owner : computer, resource, price, day});
    }
  }
  for (auto& in : insts) {
    if (in.running) w.ok(ReportState{in.computer, in.guid, ReportedState::stopped});
  }

  // The reference: the ledger's billing Movements, summed into lines by this test's own rules.
  std::map<LineKey, Q18> lines;
  std::map<std::string, Q18> by_resource;  // the plain sum of every Movement's quantity
  int32_t first = INT32_MAX, last = INT32_MIN;
  auto put = [&](int32_t day, const ubm::Movement& m, const std::string& unit, const std::string& computer,
                 const std::string& instance, Q18 q) {
    lines[{day, m.destination.value(), m.source.value(), m.resource, unit, computer, instance}] += q;
    first = std::min(first, day);
    last = std::max(last, day);
  };
  for (const auto& m : movements(w, "usage_journal")) {
    const Q18 q = to_q18(m.quantity.amount);
    by_resource[m.resource] += q;
    put(day_of(m.start.value()), m, m.quantity.unit, m.items.back().value(), m.items.size() >= 2 ? m.items[0].value() : "", q);
  }
  for (const auto& m : movements(w, kHostingKey, kHostingInterval)) {
    by_resource[m.resource] += to_q18(m.quantity.amount);
    for (int64_t t = m.start.value(); t < m.stop.value();) {
      const int32_t d = day_of(t);
      const int64_t end = std::min(m.stop.value(), day_start_ns(d + 1));
      put(d, m, "s", m.items[2].value(), m.items[0].value(), static_cast<Q18>(end - t) * 1'000'000'000);
      t = end;
    }
  }
  ASSERT_FALSE(lines.empty());
  auto price_of = [&](const LineKey& k) -> std::optional<std::pair<ubm::Decimal, int64_t>> {
    const auto& [day, client, supplier, resource, unit, computer, instance] = k;
    for (bool per_computer : {true, false}) {
      const RefPrice* best = nullptr;
      for (const auto& p : prices) {
        if (p.per_computer != per_computer || p.scope != (per_computer ? computer : supplier) || p.resource != resource || p.day > day) continue;
        if (best == nullptr || p.day >= best->day) best = &p;
      }
      if (best != nullptr) return std::make_pair(best->price, unit == "s" ? int64_t{3600} : int64_t{1});
    }
    return std::nullopt;
  };

  // Each grouping: the projection's rows equal the reference's, amount and exact quantity.
  const std::vector<std::vector<Dim>> groupings = {
      {}, {Dim::client}, {Dim::client, Dim::resource}, {Dim::supplier, Dim::computer, Dim::instance, Dim::day},
      {Dim::resource, Dim::month}, {Dim::client, Dim::supplier, Dim::resource, Dim::computer, Dim::instance, Dim::day}};
  for (const auto& g : groupings) {
    std::map<std::array<std::string, kDims>, std::pair<Q18, int64_t>> want;
    std::map<std::array<std::string, kDims>, std::set<std::string>> units;
    for (const auto& [k, q] : lines) {
      const auto& [day, client, supplier, resource, unit, computer, instance] = k;
      std::array<std::string, kDims> key;
      for (Dim d : g) {
        const std::string v[] = {client, supplier, resource, computer, instance, format_date(day), format_month(month_of_day(day))};
        key[static_cast<size_t>(d)] = v[static_cast<size_t>(d)];
      }
      auto p = price_of(k);
      want[key].first += q;
      want[key].second += p ? ref_amount(q, p->first, p->second) : 0;
      units[key].insert(unit);
    }
    Query q;
    q.from_day = first;
    q.to_day = last;
    for (Dim d : g) q.group |= 1u << static_cast<unsigned>(d);
    const Answer a = w.market().billing().query(q);
    std::map<std::array<std::string, kDims>, std::pair<Q18, int64_t>> got;
    for (const auto& r : a.rows) {
      auto& slot = got[r.key];
      slot.first += r.quantity;
      slot.second += r.amount;
    }
    ASSERT_EQ(got.size(), want.size()) << "grouping of " << g.size();
    for (const auto& [key, v] : want) {
      ASSERT_TRUE(got.count(key));
      EXPECT_EQ(got[key].second, v.second) << "amount of " << key[0] << " " << key[2] << " " << key[5];
      EXPECT_TRUE(got[key].first == v.first) << "quantity of " << key[0] << " " << key[2] << " " << key[5];
    }
  }
  // The plain sum of the Movements' quantities, per resource.
  Query q;
  q.from_day = first;
  q.to_day = last;
  q.group = 1u << static_cast<unsigned>(Dim::resource);
  for (const auto& r : w.market().billing().query(q).rows) {
    EXPECT_TRUE(r.quantity == by_resource[r.key[static_cast<size_t>(Dim::resource)]]) << r.key[2];
  }
  w.expect_replay_equal();
}

TEST(BillingProperty, TotalsEqualTheSumOfTheirMovementsRatedOncePerLine) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("SLAP_BILLING_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::printf("billing property seed %llu (SLAP_BILLING_SEED=%llu reproduces)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  for (uint64_t round = 0; round < 8; ++round) run(seed + round);
}

}  // namespace
}  // namespace slap::billing::testing
