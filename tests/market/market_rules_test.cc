// The market's rules, one behaviour per test, on an in-memory ledger.
#include <set>
#include <map>
#include <span>

#include "market/encoding.h"
#include "ubm/codec.h"
#include "market/sla.h"
#include "market_fixture.h"

namespace slap::market::testing {
namespace {

using ubm::Rejection;

class MarketRules : public ::testing::Test {
 protected:
  void SetUp() override {
    w.party("owner");
    w.party("alice");
    w.party("bob");
  }
  // One open computer with `n` partitions supplying kRelease.
  void host(const std::string& guid, int64_t price, StringMap cats = {}, int n = 2, std::string network = "net-1",
            std::string capability = "") {
    w.computer(guid, price, std::move(cats), "owner", std::move(network), std::move(capability));
    w.format(guid, n);
    w.supply(guid);
  }
  // n requests of kRelease asking max_price=5, waiting on COMP-1, which costs 10 and has one
  // partition but supplies nothing yet (their reason: no computer supplies the release).
  static constexpr const char* kDear = "no free partition at max_price=5 or less";
  std::vector<std::string> dear_requests(size_t n) {
    w.computer("COMP-1", 10);
    w.format("COMP-1", 1);
    std::vector<std::string> guids;
    for (size_t k = 0; k < n; ++k) guids.push_back(w.request("x" + std::to_string(k), {{"max_price", "5"}}).instance);
    return guids;
  }
  // How many of them read the reason a supply of kRelease on COMP-1 gives.
  size_t read_dear(const std::vector<std::string>& guids) {
    size_t c = 0;
    for (const auto& g : guids) c += w.market().instances().get(g)->pending_reason == kDear;
    return c;
  }
  World w;
};

// A certificate names an instance the market registers by its request's movement: one requested
// earlier in the same batch is registered (the registry folded it), one the market has not minted
// is not, even under the market's own guid pattern, and refusing it leaves the rest of the batch.
TEST_F(MarketRules, AnInstanceRequestedEarlierInTheBatchCanBeCertifiedAndAnUnmintedGuidCannot) {
  host("COMP-a", 10);
  const uint64_t n = w.market().instances().next_guid();
  const std::string minted = "SOFTINST-" + std::to_string(n), unminted = "SOFTINST-" + std::to_string(n + 5);
  auto certify = [](const std::string& subject, const char* serial) {
    return RecordIdentity{ubm::Identity{ubm::IdentityAction::issue, subject, serial, std::string(32, '\x5a'), ubm::TimestampNs{1},
                                        ubm::TimestampNs{2}, ""}};
  };
  const std::vector<Command> batch{certify(minted, "01"),
                                   RequestInstance{"alice", "i1", kRelease, "default", {}, {}, false, RequestedState::started},
                                   certify(minted, "02"), certify(unminted, "03")};
  const ubm::Seq head = w.ledger().head();
  auto results = w.market().execute_batch(batch);
  ASSERT_EQ(results.size(), 4u);
  ASSERT_FALSE(results[0].ok()) << "not requested yet";
  EXPECT_EQ(results[0].error().code, Rejection::UNRESOLVED_REFERENCE);
  ASSERT_TRUE(results[1].ok()) << results[1].error().to_string();
  EXPECT_EQ(results[1]->instance, minted);
  EXPECT_TRUE(results[2].ok()) << results[2].error().to_string();
  ASSERT_FALSE(results[3].ok());
  EXPECT_EQ(results[3].error().code, Rejection::UNRESOLVED_REFERENCE);
  EXPECT_EQ(w.ledger().head().value(), head.value() + 2) << "the allocation and the one certificate";
  w.expect_replay_equal();
}

TEST_F(MarketRules, CheapestComputerWinsThenLeastLoadedThenGuid) {
  host("COMP-b", 20);
  host("COMP-a", 10);
  host("COMP-c", 10);
  EXPECT_EQ(w.request("i1").computer, "COMP-a");  // cheapest; ties by guid
  EXPECT_EQ(w.request("i2").computer, "COMP-c");  // same price, COMP-a now busier
  EXPECT_EQ(w.request("i3").computer, "COMP-a");
  EXPECT_EQ(w.request("i4").computer, "COMP-c");
  EXPECT_EQ(w.request("i5").computer, "COMP-b");  // the cheap ones are full
  w.expect_replay_equal();
}

// A region's and a network's orders hold computers whatever they supply: the cheaper computers
// there that do not supply the release are passed over, and a region or network where nobody
// supplies it is named as the reason. Twice: with few releases (the elements' release bits are
// exact) and after 70 releases were supplied (bits are shared, the computer table decides).
class RegionAndNetworkOrders : public MarketRules, public ::testing::WithParamInterface<int> {};

TEST_P(RegionAndNetworkOrders, PassOverComputersOfOtherReleases) {
  if (GetParam() > 0) {
    w.computer("COMP-many", 1, {{"region", "jp"}}, "owner", "net-jp");
    for (int r = 0; r < GetParam(); ++r) w.supply("COMP-many", "https://example.org/many-" + std::to_string(r) + ".cfg");
  }
  const std::string other = "https://example.org/other.cfg";
  for (int i = 0; i < 4; ++i) {  // cheap, in fr and on net-fr, but another release
    const std::string guid = "COMP-other" + std::to_string(i);
    w.computer(guid, 1, {{"region", "fr"}}, "owner", "net-fr");
    w.format(guid, 2);
    w.supply(guid, other);
    // With 70 releases numbered first, kRelease is the 72nd and shares its bit with many-7: these
    // computers then look like suppliers by their bits, and only the table tells them apart.
    if (GetParam() > 0) w.supply(guid, "https://example.org/many-7.cfg");
  }
  // More suppliers elsewhere than computers in fr or on net-fr: the matcher walks the smaller
  // region's or network's order, not the release's.
  for (int i = 0; i < 8; ++i) host("COMP-de" + std::to_string(i), 2, {{"region", "de"}}, 2, "net-de");
  host("COMP-fr", 9, {{"region", "fr"}}, 2, "net-fr");
  EXPECT_EQ(w.request("by-region", {{"region", "fr"}}).computer, "COMP-fr");
  EXPECT_EQ(w.request("by-network", {{"network_guid", "net-fr"}}).computer, "COMP-fr");
  EXPECT_EQ(w.request("plain").computer, "COMP-de0");
  EXPECT_EQ(w.request("other", {{"region", "fr"}}, "alice", false, RequestedState::started, {}, other).computer, "COMP-other0");
  // COMP-fr is full now; fr and net-fr still have free partitions, none supplying the release.
  Outcome region = w.request("region-full", {{"region", "fr"}});
  EXPECT_TRUE(region.computer.empty());
  EXPECT_NE(region.pending.find("region=fr"), std::string::npos) << region.pending;
  Outcome network = w.request("network-full", {{"network_guid", "net-fr"}});
  EXPECT_TRUE(network.computer.empty());
  EXPECT_NE(network.pending.find("network_guid=net-fr"), std::string::npos) << network.pending;
  w.supply("COMP-other3");  // now it supplies both: the oldest pending request takes it
  EXPECT_EQ(w.market().instances().get(region.instance)->computer, "COMP-other3");
  EXPECT_EQ(w.market().instances().get(network.instance)->computer, "COMP-other3");
  w.expect_replay_equal();
}
INSTANTIATE_TEST_SUITE_P(MarketRules, RegionAndNetworkOrders, ::testing::Values(0, 70),
                         [](const auto& p) { return p.param == 0 ? std::string("FewReleases") : "SeventyReleases"; });

TEST_F(MarketRules, EachMatchedSlaKeyIsAcceptedAndRefused) {
  StringMap cats;
  for (auto k : kCategoryKeys) cats.emplace_back(std::string(k), "v-" + std::string(k));
  host("COMP-x", 5, cats, 40, "net-x");
  host("COMP-cap", 1, {}, 2, "net-1", "gpu");
  struct Case {
    std::string key, good, bad;
  };
  std::vector<Case> cases = {{"computer_guid", "COMP-x", "COMP-nope"}, {"network_guid", "net-x", "net-nope"},
                             {"max_price", "5", "4"}, {"capability", "gpu", "fpga"},
                             {"project_guid", "v-project", "other"}};
  for (auto k : kCategoryKeys) {
    if (k != "project") cases.push_back({std::string(k), "v-" + std::string(k), "other"});
  }
  int n = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    Outcome good = w.request("good-" + std::to_string(n), {{c.key, c.good}});
    EXPECT_FALSE(good.computer.empty()) << good.pending;
    EXPECT_EQ(good.computer, c.key == "capability" ? "COMP-cap" : "COMP-x");
    Outcome bad = w.request("bad-" + std::to_string(n), {{c.key, c.bad}});
    EXPECT_TRUE(bad.computer.empty());
    EXPECT_FALSE(bad.pending.empty());
    ++n;
  }
  // A computer with a capability serves only requests asking for it.
  Outcome plain = w.request("plain", {{"computer_guid", "COMP-cap"}});
  EXPECT_TRUE(plain.computer.empty());
  w.expect_replay_equal();
}

TEST_F(MarketRules, UnknownSlaKeyIsRefusedNamingTheKey) {
  host("COMP-1", 1);
  auto r = w.run(RequestInstance{"alice", "x", kRelease, "default", {}, {{"colour", "blue"}}, false, RequestedState::started});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Rejection::UNKNOWN_SLA_KEY);
  EXPECT_NE(r.error().detail.find("colour"), std::string::npos);
  EXPECT_EQ(w.refused(RequestInstance{"alice", "x", kRelease, "default", {}, {{"colour", "blue"}}, false, RequestedState::started}),
            Rejection::UNKNOWN_SLA_KEY);
}

TEST_F(MarketRules, PassedOnKeysAreNotMatched) {
  host("COMP-1", 1);
  Outcome o = w.request("x", {{"retention_delay", "7"}, {"fw_restricted_access", "on"}});
  EXPECT_EQ(o.computer, "COMP-1");
  EXPECT_EQ(*find_value(w.market().instances().get(o.instance)->request.sla, "retention_delay"), "7");
}

TEST_F(MarketRules, PendingRequestsAreServedInArrivalOrderWhenCapacityAppears) {
  w.computer("COMP-1", 1);
  w.supply("COMP-1");
  Outcome a = w.request("a");
  Outcome b = w.request("b", {{"region", "fr"}});
  Outcome c = w.request("c");
  EXPECT_FALSE(a.pending.empty());
  EXPECT_NE(b.pending.find("region=fr"), std::string::npos) << b.pending;
  EXPECT_FALSE(c.pending.empty());
  EXPECT_EQ(w.market().instances().pending(), (std::vector<std::string>{a.instance, b.instance, c.instance}));
  w.format("COMP-1", 1);  // one partition: the oldest request that fits takes it
  EXPECT_EQ(w.market().instances().get(a.instance)->partition, "slappart0");
  EXPECT_EQ(w.market().instances().pending(), (std::vector<std::string>{b.instance, c.instance}));
  w.format("COMP-1", 3);
  EXPECT_EQ(w.market().instances().get(c.instance)->partition, "slappart1");
  EXPECT_TRUE(w.market().instances().get(b.instance)->pending);
  w.computer("COMP-fr", 1, {{"region", "fr"}});
  w.format("COMP-fr", 1);
  EXPECT_TRUE(w.market().instances().get(b.instance)->pending);  // not supplied yet
  w.supply("COMP-fr");
  EXPECT_EQ(w.market().instances().get(b.instance)->computer, "COMP-fr");
  EXPECT_EQ(w.market().instances().pending_count(), 0u);
  w.expect_replay_equal();
}

// The Pending facts the ledger holds for one instance, oldest first: their reasons.
std::vector<std::string> pending_reasons(World& w, const std::string& guid) {
  std::vector<std::string> out;
  auto s = w.ledger().scan(ubm::Seq{1}, ubm::Seq{0}, [&](const ledger::EntryView& v) {
    auto body = ubm::decode(v.entry);
    if (!body || !std::holds_alternative<ubm::Movement>(*body)) return true;
    auto f = decode(std::get<ubm::Movement>(*body));
    if (f && *f && std::holds_alternative<fact::Pending>((*f)->body)) {
      const auto& p = std::get<fact::Pending>((*f)->body);
      if (p.instance == guid) out.push_back(p.reason);
    }
    return true;
  });
  EXPECT_TRUE(s.ok());
  return out;
}

// A waiting request says why it waits now, not why it waited first: each pass over the queue
// records a reason that changed (and only one that changed).
TEST_F(MarketRules, APendingReasonIsTheMarketsPresentOne) {
  w.computer("COMP-1", 10);
  w.format("COMP-1", 1);
  Outcome x = w.request("x", {{"max_price", "5"}});
  EXPECT_EQ(x.pending, "no computer supplies the release");
  w.supply("COMP-1");  // supplied now, but dearer than the request allows
  const std::string dear = "no free partition at max_price=5 or less";
  EXPECT_EQ(w.market().instances().get(x.instance)->pending_reason, dear);
  const ubm::Seq head = w.ledger().head();
  EXPECT_EQ(w.request("x", {{"max_price", "5"}}).pending, dear) << "the same request again reads it";
  EXPECT_EQ(w.ledger().head(), head) << "and writes nothing";
  w.format("COMP-1", 2);  // more capacity, the same reason: no new Pending fact
  EXPECT_EQ(pending_reasons(w, x.instance), (std::vector<std::string>{"no computer supplies the release", dear}));
  w.computer("COMP-1", 4);  // the owner lowers the price: served
  EXPECT_EQ(w.market().instances().get(x.instance)->computer, "COMP-1");
  EXPECT_FALSE(w.market().instances().get(x.instance)->pending);
  w.expect_replay_equal();
}

// One batch rewrites a bounded number of reasons, the oldest requests' first, however many of its
// commands pass over the queue; the next batches go on.
TEST_F(MarketRules, PendingReasonsAreRewrittenABoundedNumberAtATime) {
  const size_t n = kMaxReasonUpdatesPerBatch + 10;
  const std::vector<std::string> guids = dear_requests(n);
  auto rewritten = [&] { return read_dear(guids); };
  const ubm::Seq before = w.ledger().head();
  w.supply("COMP-1");
  EXPECT_EQ(rewritten(), kMaxReasonUpdatesPerBatch);
  EXPECT_LE(w.ledger().head().value() - before.value(), kMaxReasonUpdatesPerBatch + 2) << "the supply, its release, the reasons";
  EXPECT_EQ(w.market().instances().get(guids.front())->pending_reason, kDear) << "oldest first";
  EXPECT_NE(w.market().instances().get(guids.back())->pending_reason, kDear);
  w.format("COMP-1", 2);  // the next capacity event: the rest
  EXPECT_EQ(rewritten(), n);
  // Several commands of one batch, each passing over the queue: still the bound, in all.
  std::vector<Command> batch;
  for (int k = 0; k < 4; ++k) batch.push_back(RegisterComputer{"COMP-1", "owner", "net-1", Scope::open, 10, "EUR", k % 2 ? "" : "gpu", {}});
  const ubm::Seq head = w.ledger().head();
  for (const auto& r : w.market().execute_batch(batch)) ASSERT_TRUE(r.ok()) << r.error().to_string();
  size_t reasons_written = 0;
  for (const auto& g : guids) reasons_written += pending_reasons(w, g).size() > 2;
  EXPECT_EQ(reasons_written, kMaxReasonUpdatesPerBatch) << "one batch of four capability flips";
  EXPECT_LE(w.ledger().head().value() - head.value(), kMaxReasonUpdatesPerBatch + 4);
  w.expect_replay_equal();
}

// A supply or a declaration of capacity asks again only the requests of the releases its computer
// supplies (no other request's reason reads that computer). Reasons a batch's bound left behind
// are another matter: the next such pass asks every request, whatever the computer supplies.
TEST_F(MarketRules, ReasonsLeftBehindByABatchsBoundAreRewrittenByTheNextCapacityOfAnyRelease) {
  const size_t n = kMaxReasonUpdatesPerBatch + 10;
  const std::vector<std::string> guids = dear_requests(n);
  const std::string other = w.request("other", {{"max_price", "5"}}, "alice", false, RequestedState::started, {}, kRelease2).instance;
  auto rewritten = [&] { return read_dear(guids); };
  w.computer("COMP-2", 1);  // asks every request again (no reason changes): none is left behind
  w.supply("COMP-1");
  ASSERT_EQ(rewritten(), kMaxReasonUpdatesPerBatch);
  // Capacity on a computer that supplies nothing they run: the ten left behind are written.
  w.format("COMP-2", 1);
  EXPECT_EQ(rewritten(), n);
  // A supply of the other release serves the request that runs it.
  w.supply("COMP-2", kRelease2);
  EXPECT_EQ(w.market().instances().get(other)->computer, "COMP-2");
  EXPECT_EQ(rewritten(), n);
  w.expect_replay_equal();
}

// A release URL is any text, and the capacity index names releases beside capabilities and
// categories: a supply of a release nobody supplied before may change why a request of another
// release waits, so it asks every request again.
TEST_F(MarketRules, ASupplyOfANewlyNamedReleaseAsksEveryRequestAgain) {
  w.computer("COMP-1", 1);
  w.format("COMP-1", 1);
  w.supply("COMP-1");
  const std::string a = w.request("a", {{"capability", "gpu"}}).instance;
  EXPECT_EQ(w.market().instances().get(a)->pending_reason, "no computer has capability=gpu");
  w.computer("COMP-2", 1);  // asks every request again (no reason changes)
  w.supply("COMP-1", "gpu");
  EXPECT_EQ(w.market().instances().get(a)->pending_reason, "no open computer with capability=gpu supplying the release has a free partition");
  w.expect_replay_equal();
}

// A partition freed is offered to the groups of waiting requests its computer suits, each group's
// conditions compiled once and kept: a condition no computer could meet when compiled (a region
// nobody had) is compiled again once a computer brings it.
TEST_F(MarketRules, AFreedPartitionServesARequestWhoseRegionNoComputerHadWhenItFirstWaited) {
  w.computer("COMP-1", 1, {{"region", "fr"}});
  w.format("COMP-1", 1);
  w.supply("COMP-1");
  const Outcome x = w.request("x");
  ASSERT_EQ(x.computer, "COMP-1");
  const Outcome y = w.request("y", {{"computer_guid", "COMP-2"}});  // waits for a computer to come
  const Outcome a = w.request("a", {{"region", "de"}});
  EXPECT_EQ(w.market().instances().get(a.instance)->pending_reason, "no computer has region=de");
  // A free on COMP-1: a's group is checked against it (and its conditions kept), not served.
  w.request("x", {}, "alice", false, RequestedState::destroyed);
  w.ok(ReportState{"COMP-1", x.instance, ReportedState::destroyed});
  EXPECT_TRUE(w.market().instances().get(a.instance)->pending);
  // COMP-2 comes, in region de; y, older, takes its one partition.
  w.computer("COMP-2", 1, {{"region", "de"}});
  w.format("COMP-2", 1);
  w.supply("COMP-2");
  ASSERT_EQ(w.market().instances().get(y.instance)->computer, "COMP-2");
  EXPECT_TRUE(w.market().instances().get(a.instance)->pending);
  // y goes: its partition is a's.
  w.request("y", {{"computer_guid", "COMP-2"}}, "alice", false, RequestedState::destroyed);
  w.ok(ReportState{"COMP-2", y.instance, ReportedState::destroyed});
  EXPECT_EQ(w.market().instances().get(a.instance)->computer, "COMP-2");
  w.expect_replay_equal();
}

// A pass offering one computer looks the groups of the releases it supplies up by release when
// they are few among those waiting: its releases' requests are served in arrival order, the
// others keep waiting, as when every group was listed.
TEST_F(MarketRules, CapacityAmongManyGroupsOfOtherReleasesServesItsOwnReleasesInOrder) {
  std::vector<std::string> others;
  for (int k = 0; k < 4; ++k) {
    others.push_back(w.request("other" + std::to_string(k), {{"max_price", std::to_string(10 + k)}}, "alice", false,
                               RequestedState::started, {}, kRelease2).instance);
  }
  const Outcome a = w.request("a");
  const Outcome b = w.request("b", {{"max_price", "9"}});
  w.computer("COMP-1", 1);
  w.format("COMP-1", 2);
  w.supply("COMP-1");  // 2 groups of its release among 6
  EXPECT_EQ(w.market().instances().get(a.instance)->computer, "COMP-1");
  EXPECT_EQ(w.market().instances().get(b.instance)->computer, "COMP-1");
  const Outcome c = w.request("c");
  ASSERT_TRUE(w.market().instances().get(c.instance)->pending);
  // A free: 1 group of its release among 5.
  w.request("a", {}, "alice", false, RequestedState::destroyed);
  w.ok(ReportState{"COMP-1", a.instance, ReportedState::destroyed});
  EXPECT_EQ(w.market().instances().get(c.instance)->computer, "COMP-1");
  for (const auto& o : others) EXPECT_EQ(w.market().instances().get(o)->pending_reason, "no computer supplies the release");
  w.expect_replay_equal();
}

// A release its node removed (it was requested destroyed) leaves the computer's list; only such a
// release, and only once.
TEST_F(MarketRules, AReleaseItsNodeRemovedLeavesTheComputersList) {
  host("COMP-1", 1);
  w.supply("COMP-1", kRelease2);
  w.ok(Supply{"owner", "COMP-1", kRelease2, false});
  const uint64_t v = w.market().computers().version("COMP-1");
  EXPECT_EQ(w.refused(SoftwareRemoved{"COMP-1", kRelease}), Rejection::INVALID_STATE) << "still wanted";
  EXPECT_EQ(w.refused(SoftwareRemoved{"COMP-9", kRelease2}), Rejection::UNKNOWN_COMPUTER);
  EXPECT_TRUE(w.ok(SoftwareRemoved{"COMP-1", kRelease2}).written);
  auto c = w.market().computers().get("COMP-1");
  EXPECT_EQ(find_value(c->supplies, kRelease2), nullptr);
  EXPECT_NE(find_value(c->supplies, kRelease), nullptr);
  EXPECT_GT(c->version, v);
  EXPECT_FALSE(w.ok(SoftwareRemoved{"COMP-1", kRelease2}).written) << "removed already";
  w.supply("COMP-1", kRelease2);  // supplied again: listed again
  EXPECT_EQ(*find_value(w.market().computers().get("COMP-1")->supplies, kRelease2), "available");
  w.expect_replay_equal();
}

// A request naming a computer hears which of its conditions that computer fails, the computer's
// own capability included (a computer with one serves only requests naming it).
TEST_F(MarketRules, AReasonNamesTheConditionANamedComputerFails) {
  host("COMP-cap", 1, {}, 2, "net-1", "gpu");
  host("COMP-x", 5, {{"region", "fr"}}, 2, "net-x");
  struct Case {
    StringMap sla;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {{{"computer_guid", "COMP-cap"}}, "computer_guid=COMP-cap serves only requests with capability=gpu"},
      {{{"computer_guid", "COMP-x"}, {"capability", "gpu"}}, "computer_guid=COMP-x has no capability=gpu"},
      {{{"computer_guid", "COMP-x"}, {"max_price", "4"}}, "computer_guid=COMP-x costs more than max_price=4"},
      {{{"computer_guid", "COMP-x"}, {"network_guid", "net-1"}}, "computer_guid=COMP-x is not on network_guid=net-1"},
      {{{"computer_guid", "COMP-cap"}, {"capability", "gpu"}, {"region", "fr"}}, "computer_guid=COMP-cap has no region=fr"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const Outcome o = w.request("named-" + std::to_string(n++), c.sla);
    EXPECT_TRUE(o.computer.empty());
    EXPECT_EQ(o.pending, c.reason);
  }
  w.expect_replay_equal();
}

TEST_F(MarketRules, WhenEveryComputerHasACapabilityARequestNamingNoneIsToldSo) {
  EXPECT_EQ(w.request("early").pending, "no computer is registered");
  host("COMP-cap", 1, {}, 2, "net-1", "gpu");
  const Outcome plain = w.request("plain");
  EXPECT_TRUE(plain.computer.empty());
  EXPECT_EQ(plain.pending, "every computer has a capability and serves only requests naming it (capability=...)");
  EXPECT_EQ(w.market().instances().get(w.request("early").instance)->pending_reason, plain.pending)
      << "the capacity that came since changed the earlier request's reason too";
  EXPECT_EQ(w.request("gpu", {{"capability", "gpu"}}).computer, "COMP-cap");
  w.expect_replay_equal();
}

TEST_F(MarketRules, SameRequestTwiceIsTheSameInstanceAndWritesNothing) {
  host("COMP-1", 1);
  Outcome first = w.request("db", {}, "alice", false, RequestedState::started, {{"size", "10"}});
  const ubm::Seq head = w.ledger().head();
  const auto ts = w.market().instances().get(first.instance)->timestamp;
  Outcome again = w.request("db", {}, "alice", false, RequestedState::started, {{"size", "10"}});
  EXPECT_FALSE(again.written);
  EXPECT_EQ(again.instance, first.instance);
  EXPECT_EQ(again.partition, first.partition);
  EXPECT_EQ(w.ledger().head(), head);
  EXPECT_EQ(w.market().instances().get(first.instance)->timestamp, ts);
  // Another requester with the same title is another instance.
  EXPECT_NE(w.request("db", {}, "bob").instance, first.instance);
}

TEST_F(MarketRules, ChangedRequestBumpsTimestampAndComputerVersion) {
  host("COMP-1", 1);
  Outcome o = w.request("db", {}, "alice", false, RequestedState::started, {{"size", "10"}});
  const auto ts = w.market().instances().get(o.instance)->timestamp;
  const uint64_t version = w.market().computers().version("COMP-1");
  Outcome changed = w.request("db", {}, "alice", false, RequestedState::stopped, {{"size", "20"}});
  EXPECT_TRUE(changed.written);
  auto i = w.market().instances().get(o.instance);
  EXPECT_GT(i->timestamp, ts);
  EXPECT_EQ(i->request.state, RequestedState::stopped);
  EXPECT_EQ(*find_value(i->request.parameters, "size"), "20");
  EXPECT_GT(w.market().computers().version("COMP-1"), version);
  auto view = w.market().computer_snapshot("COMP-1");
  ASSERT_TRUE(view);
  ASSERT_TRUE(view->partitions[0].instance);
  EXPECT_EQ(view->partitions[0].instance->request.state, RequestedState::stopped);
  w.expect_replay_equal();
}

TEST_F(MarketRules, DestroyFreesThePartitionOnlyAfterTheNodeConfirms) {
  host("COMP-1", 1, {}, 1);
  Outcome o = w.request("db");
  Outcome waiting = w.request("other");
  EXPECT_FALSE(waiting.pending.empty());
  w.request("db", {}, "alice", false, RequestedState::destroyed);
  EXPECT_EQ(w.market().instances().get(o.instance)->computer, "COMP-1");  // still held
  EXPECT_TRUE(w.market().instances().get(waiting.instance)->pending);
  EXPECT_EQ(w.refused(ReportState{"COMP-2", o.instance, ReportedState::destroyed}), Rejection::UNKNOWN_COMPUTER);
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::destroyed});
  EXPECT_TRUE(w.market().instances().get(o.instance)->computer.empty());
  EXPECT_EQ(w.market().instances().get(waiting.instance)->partition, "slappart0");
  w.expect_replay_equal();
}

TEST_F(MarketRules, DestroyReportForARunningInstanceIsRefused) {
  host("COMP-1", 1);
  Outcome o = w.request("db");
  EXPECT_EQ(w.refused(ReportState{"COMP-1", o.instance, ReportedState::destroyed}), Rejection::INVALID_STATE);
  w.ok(ReportState{"COMP-1", o.instance, ReportedState::started});
  EXPECT_EQ(w.market().instances().get(o.instance)->reported, ReportedState::started);
}

// Destroying an instance destroys the instances it requested, down its whole tree: an allocated
// one keeps its partition until its node confirms, a pending one goes at once; the destroyed
// instance requests nothing more (a new child would be an orphan again). Before, the children
// kept their partitions forever and nobody could address them any more.
TEST_F(MarketRules, DestroyingAnInstanceDestroysTheInstancesItRequested) {
  host("COMP-1", 1, {}, 3);
  Outcome root = w.request("root");
  Outcome child = w.request("child", {}, root.instance);
  Outcome grandchild = w.request("grandchild", {}, child.instance);
  Outcome waiting = w.request("waiting", {}, child.instance);  // no partition left: pending
  ASSERT_FALSE(child.partition.empty());
  ASSERT_FALSE(waiting.pending.empty());
  const auto child_ts = w.market().instances().get(child.instance)->timestamp;
  const uint64_t version = w.market().computers().version("COMP-1");

  w.request("root", {}, "alice", false, RequestedState::destroyed);
  for (const auto& o : {root, child, grandchild, waiting}) {
    EXPECT_EQ(w.market().instances().get(o.instance)->request.state, RequestedState::destroyed) << o.instance;
  }
  EXPECT_EQ(w.market().instances().get(child.instance)->computer, "COMP-1");  // until its node confirms
  EXPECT_GT(w.market().instances().get(child.instance)->timestamp, child_ts);
  EXPECT_GT(w.market().computers().version("COMP-1"), version);
  EXPECT_FALSE(w.market().instances().get(waiting.instance)->pending);
  EXPECT_TRUE(w.market().instances().pending().empty());
  EXPECT_EQ(w.refused(RequestInstance{root.instance, "late", kRelease, "default", {}, {}, false, RequestedState::started}),
            Rejection::INVALID_STATE);
  w.ok(ReportState{"COMP-1", grandchild.instance, ReportedState::destroyed});
  EXPECT_TRUE(w.market().instances().get(grandchild.instance)->computer.empty());
  w.expect_replay_equal();
}

// A destroy destroys the instance as it is: the release it names is neither checked nor recorded
// (a client naming the product's newer release must still destroy an older instance).
TEST_F(MarketRules, ADestroyNamingAnotherReleaseDestroysTheInstanceAsItIs) {
  host("COMP-1", 1);
  Outcome o = w.request("db");
  w.request("db", {}, "alice", false, RequestedState::destroyed, {{"size", "9"}}, kRelease2);  // not supplied by COMP-1
  auto i = w.market().instances().get(o.instance);
  EXPECT_EQ(i->request.state, RequestedState::destroyed);
  EXPECT_EQ(i->request.release, kRelease);
  EXPECT_TRUE(i->request.parameters.empty());
  const ubm::Seq head = w.ledger().head();
  w.request("db", {}, "alice", false, RequestedState::destroyed, {}, kRelease2);  // destroyed already: nothing to write
  EXPECT_EQ(w.ledger().head(), head);
  w.expect_replay_equal();
}

TEST_F(MarketRules, SharedInstancesAttachToAHostWithoutAPartition) {
  host("COMP-1", 1, {}, 2);
  Outcome slave0 = w.request("site0", {}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  EXPECT_FALSE(slave0.pending.empty());  // no host yet
  Outcome front = w.request("frontend", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  EXPECT_EQ(w.market().instances().get(slave0.instance)->host, front.instance);  // served on arrival of the host
  const auto host_ts = w.market().instances().get(front.instance)->timestamp;
  Outcome slave1 = w.request("site1", {}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  EXPECT_EQ(slave1.host, front.instance);
  EXPECT_TRUE(slave1.computer.empty());
  EXPECT_GT(w.market().instances().get(front.instance)->timestamp, host_ts);
  EXPECT_EQ(w.market().computers().get("COMP-1")->busy, 1u);
  Outcome named = w.request("site2", {{"instance_guid", front.instance}}, "bob", true, RequestedState::started, {}, kRelease, "other");
  EXPECT_EQ(named.host, front.instance);
  // Connection parameters for a shared instance come from the host's computer.
  w.ok(ReportConnection{"COMP-1", slave1.instance, {{"url", "https://site1"}}});
  auto view = w.market().computer_snapshot("COMP-1");
  ASSERT_TRUE(view->partitions[0].instance);
  ASSERT_EQ(view->partitions[0].shared.size(), 3u);
  EXPECT_EQ(*find_value(view->partitions[0].shared[1].connection, "url"), "https://site1");
  // Destroying a shared instance detaches it at once.
  w.request("site1", {}, "bob", true, RequestedState::destroyed, {}, kRelease, "frontend");
  EXPECT_TRUE(w.market().instances().get(slave1.instance)->host.empty());
  // Destroying the host re-queues its shared instances.
  w.request("frontend", {}, "alice", false, RequestedState::destroyed, {}, kRelease, "frontend");
  w.ok(ReportState{"COMP-1", front.instance, ReportedState::destroyed});
  EXPECT_TRUE(w.market().instances().get(slave0.instance)->pending);
  EXPECT_EQ(w.market().instances().get(slave0.instance)->pending_reason, "its host " + front.instance + " was destroyed")
      << "the pass over the queue in the same command leaves it the reason it was requeued for";
  w.expect_replay_equal();
}

// A pass that offers new hosts tries the shared instances of their release and type and those
// naming them, not every one waiting: a shared instance naming a host (of another software type,
// so it is not in the group of the host's release and type) attaches as soon as that host gets a
// partition.
TEST_F(MarketRules, ASharedInstanceNamingAWaitingHostAttachesOnceItIsPlaced) {
  host("COMP-1", 1, {}, 1);
  const auto& reg = w.market().instances();
  Outcome blocker = w.request("blocker");  // takes the only partition
  Outcome front = w.request("front", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  ASSERT_FALSE(front.pending.empty());
  Outcome site = w.request("site", {{"instance_guid", front.instance}}, "bob", true, RequestedState::started, {}, kRelease, "other");
  ASSERT_FALSE(site.pending.empty());
  Outcome other = w.request("other-site", {}, "bob", true, RequestedState::started, {}, kRelease, "other");
  ASSERT_FALSE(other.pending.empty());
  w.request("blocker", {}, "alice", false, RequestedState::destroyed);
  w.ok(ReportState{"COMP-1", blocker.instance, ReportedState::destroyed});
  EXPECT_EQ(reg.get(front.instance)->computer, "COMP-1");
  EXPECT_EQ(reg.get(site.instance)->host, front.instance);
  EXPECT_TRUE(reg.get(other.instance)->pending) << "no host of its type runs";
  w.expect_replay_equal();
}

// A pass over the queue after a free walks it in arrival order: the host it places takes the shared
// instances queued after it in the same walk, and the next pass the older ones, as the reference
// model does (the attach order is the order they queue in again when their host goes).
TEST_F(MarketRules, AHostPlacedAfterAFreeTakesTheSharedInstancesQueuedAfterItFirst) {
  host("COMP-1", 1, {}, 1);
  const auto& reg = w.market().instances();
  Outcome blocker = w.request("blocker");
  Outcome older = w.request("older", {}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  Outcome front = w.request("front", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  Outcome younger = w.request("younger", {}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  ASSERT_FALSE(older.pending.empty() || front.pending.empty() || younger.pending.empty());
  w.request("blocker", {}, "alice", false, RequestedState::destroyed);
  w.ok(ReportState{"COMP-1", blocker.instance, ReportedState::destroyed});
  EXPECT_EQ(reg.get(front.instance)->slaves, (std::vector<std::string>{younger.instance, older.instance}));
  w.expect_replay_equal();
}

// A supply offers its computer to every request waiting for its release, in arrival order, and
// each keeps the reason the market gives when its turn comes: the matcher is asked once per group of requests
// alike, and again after a placement (here the partition taken between two requests of a group).
TEST_F(MarketRules, AWaitingRequestsReasonIsTheMarketsAnswerWhenItsTurnCame) {
  w.computer("COMP-de", 1, {{"region", "de"}});
  w.format("COMP-de", 1);
  w.computer("COMP-fr", 1, {{"region", "fr"}});  // supplies nothing
  w.format("COMP-fr", 1);
  const auto& reg = w.market().instances();
  Outcome a1 = w.request("a1", {{"region", "fr"}});
  Outcome b1 = w.request("b1");
  Outcome a2 = w.request("a2", {{"region", "fr"}});
  for (const Outcome* o : {&a1, &b1, &a2}) ASSERT_EQ(o->pending, "no computer supplies the release");
  w.supply("COMP-de");
  EXPECT_EQ(reg.get(b1.instance)->computer, "COMP-de");
  EXPECT_EQ(reg.get(a1.instance)->pending_reason, "no free partition with region=fr");
  EXPECT_EQ(reg.get(a2.instance)->pending_reason, "no open computer supplying the release has a free partition")
      << "asked again after b1 took the partition";
  w.expect_replay_equal();
}

// A command that makes more hosts than the registry notes (kMaxHostChangesNoted) offers every
// shared instance waiting, in the same order as any other: a host placed after the notes ran out
// takes the shared instances queued after it in the same walk, then the older ones. (Each of the
// thousands is named by a shared instance it does not suit, which waits on: each is noted.)
TEST_F(MarketRules, ACommandMakingThousandsOfHostsStillServesTheSharedInstancesWaitingInOrder) {
  constexpr int kHosts = static_cast<int>(InstanceRegistry::kMaxHostChangesNoted) + 2;
  w.computer("COMP-big", 1);
  w.format("COMP-big", kHosts);  // not supplying the release yet: every request waits
  std::vector<Command> requests{RequestInstance{"bob", "older", kRelease, "frontend", {}, {}, true, RequestedState::started}};
  const uint64_t first = w.market().instances().next_guid() + 1;  // minted in request order
  for (int k = 0; k + 1 < kHosts; ++k) requests.push_back(RequestInstance{"alice", "i" + std::to_string(k), kRelease, "default", {}, {}, false, RequestedState::started});
  for (int k = 0; k + 1 < kHosts; ++k) {
    requests.push_back(RequestInstance{"bob", "picky" + std::to_string(k), kRelease, "default", {},
                                       {{"instance_guid", "SOFTINST-" + std::to_string(first + k)}, {"region", "jp"}}, true, RequestedState::started});
  }
  requests.push_back(RequestInstance{"alice", "front", kRelease, "frontend", {}, {}, false, RequestedState::started});
  requests.push_back(RequestInstance{"bob", "younger", kRelease, "frontend", {}, {}, true, RequestedState::started});
  for (auto& r : w.market().execute_batch(requests)) ASSERT_TRUE(r.ok() && !r->pending.empty());
  ASSERT_EQ(w.market().instances().get("alice", "i0")->request.instance, "SOFTINST-" + std::to_string(first));
  const auto& reg = w.market().instances();
  w.supply("COMP-big");  // every request gets a partition in this one command, the front last
  const auto front = reg.get("alice", "front");
  ASSERT_TRUE(front && front->computer == "COMP-big");
  EXPECT_EQ(front->slaves, (std::vector<std::string>{reg.get("bob", "younger")->request.instance, reg.get("bob", "older")->request.instance}));
  EXPECT_TRUE(reg.host_changes_overflowed());
  EXPECT_EQ(reg.pending_count(), static_cast<size_t>(kHosts - 1)) << "the picky ones";
  w.expect_replay_equal();
}

// Only what makes an instance a host, or of which kind, is a host change: new parameters are
// not, and offer nothing to the shared instances waiting.
TEST_F(MarketRules, AHostsNewParametersAreNoHostChange) {
  host("COMP-1", 1, {{"region", "fr"}}, 1);
  const auto& reg = w.market().instances();
  w.request("front", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  Outcome site = w.request("site", {{"region", "de"}}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  ASSERT_FALSE(site.pending.empty());
  w.request("front", {}, "alice", false, RequestedState::started, {{"size", "10"}}, kRelease, "frontend");
  EXPECT_TRUE(reg.host_changes().empty());
  w.request("front", {}, "alice", false, RequestedState::stopped, {{"size", "10"}}, kRelease, "frontend");
  EXPECT_EQ(reg.host_changes().size(), 1u) << "its state is: the group of its release and type, noted once";
}

// A batch rewrites at most kMaxReasonUpdatesPerBatch reasons; shared instances whose reason was
// left behind (their named host went after the batch's rewrites were spent) read the market's
// answer after a later batch's first pass, though no host of their group changes again; that pass
// walks their group from the first left behind.
TEST_F(MarketRules, ASharedInstancesReasonLeftBehindByABatchsBoundIsRewrittenByTheNextBatch) {
  host("COMP-1", 1, {{"region", "fr"}}, 1);
  const auto& reg = w.market().instances();
  Outcome front = w.request("front", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  const StringMap sla{{"instance_guid", front.instance}, {"region", "de"}};
  Outcome site1 = w.request("site1", sla, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  Outcome site2 = w.request("site2", sla, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  const std::string unmet = "instance_guid=" + front.instance + " does not satisfy instance_guid=" + front.instance + ", region=de";
  const std::string gone = "instance_guid=" + front.instance + " names no running host open to bob";
  ASSERT_EQ(site2.pending, unmet);
  const std::string other = "https://example.org/other.cfg";
  std::vector<Command> waiting;  // one rewrite short of the bound: site1 takes the last one
  for (size_t k = 0; k + 1 < kMaxReasonUpdatesPerBatch; ++k) {
    waiting.push_back(RequestInstance{"alice", "w" + std::to_string(k), other, "default", {}, {}, false, RequestedState::started});
  }
  for (auto& r : w.market().execute_batch(waiting)) ASSERT_TRUE(r.ok() && r->pending == "no computer supplies the release");
  w.computer("COMP-2", 1);  // no partition
  // One batch: the supply changes why each of them waits; the front goes.
  const std::vector<Command> batch{Supply{"owner", "COMP-2", other, true},
                                   RequestInstance{"alice", "front", kRelease, "frontend", {}, {}, false, RequestedState::destroyed}};
  for (auto& r : w.market().execute_batch(batch)) ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(reg.get(site1.instance)->pending_reason, gone);
  ASSERT_EQ(reg.get(site2.instance)->pending_reason, unmet) << "the batch's rewrites were spent";
  w.request("another", {}, "alice", false, RequestedState::started, {}, other);
  EXPECT_EQ(reg.get(site2.instance)->pending_reason, gone);
  w.expect_replay_equal();
}

// A host that goes changes the reason of the shared instances waiting that name it: they read the
// market's present answer, not the one from when it ran.
TEST_F(MarketRules, ASharedInstanceNamingAHostReadsWhyItWaitsOnceThatHostIsGone) {
  host("COMP-1", 1, {{"region", "fr"}}, 1);
  const auto& reg = w.market().instances();
  Outcome front = w.request("front", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  Outcome site = w.request("site", {{"instance_guid", front.instance}, {"region", "de"}}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  ASSERT_EQ(site.pending, "instance_guid=" + front.instance + " does not satisfy instance_guid=" + front.instance + ", region=de");
  w.request("front", {}, "alice", false, RequestedState::destroyed, {}, kRelease, "frontend");
  EXPECT_EQ(reg.get(site.instance)->pending_reason, "instance_guid=" + front.instance + " names no running host open to bob");
  w.ok(ReportState{"COMP-1", front.instance, ReportedState::destroyed});
  EXPECT_EQ(reg.get(site.instance)->pending_reason, "instance_guid=" + front.instance + " names no running host open to bob");
  w.expect_replay_equal();
}

// A shared instance lives in a host of its release and type: when either side changes, it moves
// to a host that matches or waits for one. What touches it (a rename, a bang) touches its host.
TEST_F(MarketRules, SharedInstancesFollowTheReleaseAndTypeOfTheirHost) {
  host("COMP-1", 1, {}, 3);
  const auto& reg = w.market().instances();
  Outcome front = w.request("front", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  Outcome cdn = w.request("cdn", {}, "alice", false, RequestedState::started, {}, kRelease, "cdn");
  Outcome site = w.request("site", {}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  EXPECT_EQ(site.host, front.instance);
  // The shared instance changes type: it leaves its host for one of the new type.
  w.request("site", {}, "bob", true, RequestedState::started, {}, kRelease, "cdn");
  EXPECT_EQ(reg.get(site.instance)->host, cdn.instance);
  EXPECT_TRUE(reg.get(front.instance)->slaves.empty());
  EXPECT_EQ(reg.get(cdn.instance)->slaves, std::vector<std::string>{site.instance});
  // Its host changes type: no host of its type is left, it waits.
  w.request("cdn", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  EXPECT_TRUE(reg.get(site.instance)->host.empty());
  EXPECT_TRUE(reg.get(site.instance)->pending);
  EXPECT_NE(reg.get(site.instance)->pending_reason.find("changed release or software type"), std::string::npos);
  EXPECT_TRUE(reg.get(cdn.instance)->slaves.empty());
  // A new host of its type serves it; renaming or banging it bumps that host's timestamp.
  Outcome cdn2 = w.request("cdn2", {}, "alice", false, RequestedState::started, {}, kRelease, "cdn");
  EXPECT_EQ(reg.get(site.instance)->host, cdn2.instance);
  auto ts = reg.get(cdn2.instance)->timestamp;
  w.ok(Rename{"bob", site.instance, "site-renamed"});
  EXPECT_GT(reg.get(cdn2.instance)->timestamp, ts);
  ts = reg.get(cdn2.instance)->timestamp;
  w.ok(Bang{"bob", site.instance});
  EXPECT_GT(reg.get(cdn2.instance)->timestamp, ts);
  w.expect_replay_equal();
}

// Shared instances sent back to the queue by their host (it changed type, or went) move to another
// host of their release and type in the same command: the pass that follows tries every shared
// instance the command queued, not only those the hosts it made may take.
TEST_F(MarketRules, SharedInstancesSentBackByTheirHostMoveToAnotherHostOfTheirTypeAtOnce) {
  host("COMP-1", 1, {}, 3);
  const auto& reg = w.market().instances();
  Outcome a = w.request("cdn-a", {}, "alice", false, RequestedState::started, {}, kRelease, "cdn");
  Outcome site = w.request("site", {}, "bob", true, RequestedState::started, {}, kRelease, "cdn");
  ASSERT_EQ(site.host, a.instance);
  Outcome b = w.request("cdn-b", {}, "alice", false, RequestedState::started, {}, kRelease, "cdn");
  Outcome c = w.request("cdn-c", {}, "alice", false, RequestedState::started, {}, kRelease, "cdn");
  w.request("cdn-a", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  EXPECT_EQ(reg.get(site.instance)->host, b.instance) << "its host changed type";
  w.request("cdn-b", {}, "alice", false, RequestedState::destroyed, {}, kRelease, "cdn");
  w.ok(ReportState{"COMP-1", b.instance, ReportedState::destroyed});
  EXPECT_EQ(reg.get(site.instance)->host, c.instance) << "its host went";
  w.expect_replay_equal();
}

// A shared instance whose conditions change moves when its host no longer meets them: another
// host named by instance_guid, or a condition its host's computer fails; it stays where it is when
// the host still meets them. Before, the new SLA was recorded and the instance stayed attached to
// a host that broke it.
TEST_F(MarketRules, ASharedInstanceMovesWhenItsHostNoLongerMeetsItsConditions) {
  host("COMP-1", 1, {{"region", "fr"}}, 2);
  host("COMP-2", 5, {{"region", "de"}}, 2);
  const auto& reg = w.market().instances();
  Outcome a = w.request("front-a", {{"computer_guid", "COMP-1"}}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  Outcome b = w.request("front-b", {{"computer_guid", "COMP-2"}}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  Outcome site = w.request("site", {{"instance_guid", a.instance}}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  ASSERT_EQ(site.host, a.instance);
  const auto a_ts = reg.get(a.instance)->timestamp;
  w.request("site", {{"instance_guid", b.instance}}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  EXPECT_EQ(reg.get(site.instance)->host, b.instance);
  EXPECT_TRUE(reg.get(a.instance)->slaves.empty());
  EXPECT_GT(reg.get(a.instance)->timestamp, a_ts);  // its node stops serving it
  EXPECT_EQ(reg.get(b.instance)->slaves, std::vector<std::string>{site.instance});
  // A condition its host still meets: it stays.
  const ubm::Seq head = w.ledger().head();
  w.request("site", {{"instance_guid", b.instance}, {"region", "de"}}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  EXPECT_EQ(reg.get(site.instance)->host, b.instance);
  EXPECT_EQ(w.ledger().head().value(), head.value() + 1);  // the request only
  // One it does not: it goes to a host that does.
  w.request("site", {{"region", "fr"}}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  EXPECT_EQ(reg.get(site.instance)->host, a.instance);
  // One no host meets: it waits.
  w.request("site", {{"region", "jp"}}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  EXPECT_TRUE(reg.get(site.instance)->host.empty());
  EXPECT_TRUE(reg.get(site.instance)->pending);
  w.expect_replay_equal();
}

// The queue is offered oldest first, so a shared instance can be passed over before the request
// that will host it is allocated in the same pass: it is served in that same command all the same.
TEST_F(MarketRules, AHostAllocatedFromTheQueueServesSharedInstancesQueuedBeforeIt) {
  w.computer("COMP-1", 1);
  w.supply("COMP-1");
  Outcome site = w.request("site", {}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  Outcome front = w.request("front", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  ASSERT_FALSE(site.pending.empty());
  ASSERT_FALSE(front.pending.empty());  // no partition yet
  w.format("COMP-1", 1);
  EXPECT_EQ(w.market().instances().get(front.instance)->computer, "COMP-1");
  EXPECT_EQ(w.market().instances().get(site.instance)->host, front.instance);
  EXPECT_TRUE(w.market().instances().pending().empty());
  w.expect_replay_equal();
}

TEST_F(MarketRules, RejectedCommandsWriteNothing) {
  host("COMP-1", 1);
  Outcome o = w.request("db");
  EXPECT_EQ(w.refused(RegisterComputer{"COMP-1", "bob", "net-1", Scope::open, 1, "EUR", "", {}}), Rejection::NOT_OWNER);
  EXPECT_EQ(w.refused(RegisterComputer{"COMP-9", "nobody", "net-1", Scope::open, 1, "EUR", "", {}}), Rejection::UNKNOWN_PARTY);
  EXPECT_EQ(w.refused(RegisterComputer{"COMP-9", "owner", "net-1", Scope::open, 1, "USD", "", {}}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(w.refused(RegisterComputer{"COMP-9", "owner", "net-1", Scope::open, 1, "EUR", "", {{"colour", "x"}}}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(w.refused(DeclareCapacity{"COMP-9", {}}), Rejection::UNKNOWN_COMPUTER);
  EXPECT_EQ(w.refused(DeclareCapacity{"COMP-1", {}}), Rejection::PARTITION_IN_USE);
  EXPECT_EQ(w.refused(Supply{"bob", "COMP-1", kRelease2, true}), Rejection::NOT_OWNER);
  EXPECT_EQ(w.refused(Supply{"owner", "COMP-1", kRelease, false}), Rejection::RELEASE_IN_USE);
  EXPECT_EQ(w.refused(RequestInstance{"nobody", "x", kRelease, "", {}, {}, false, RequestedState::started}), Rejection::UNKNOWN_PARTY);
  EXPECT_EQ(w.refused(RequestInstance{"alice", "", kRelease, "", {}, {}, false, RequestedState::started}), Rejection::INVALID_PARAMETER);
  EXPECT_EQ(w.refused(RequestInstance{"alice", "new", kRelease, "", {}, {}, false, RequestedState::destroyed}), Rejection::INVALID_STATE);
  EXPECT_EQ(w.refused(RequestInstance{"alice", "db", kRelease, "default", {}, {}, true, RequestedState::started}), Rejection::INVALID_STATE);
  EXPECT_EQ(w.refused(RequestInstance{"alice", "db", kRelease2, "default", {}, {}, false, RequestedState::started}), Rejection::NOT_SUPPLIED);
  EXPECT_EQ(w.refused(ReportState{"COMP-1", "SOFTINST-999", ReportedState::started}), Rejection::UNKNOWN_INSTANCE);
  EXPECT_EQ(w.refused(ReportConnection{"COMP-2", o.instance, {}}), Rejection::NOT_OWNER);
  EXPECT_EQ(w.refused(Bang{"bob", o.instance}), Rejection::NOT_OWNER);
  w.request("db2");
  EXPECT_EQ(w.refused(Rename{"alice", o.instance, "db2"}), Rejection::TITLE_TAKEN);
  EXPECT_EQ(w.refused(RegisterParty{"alice", ubm::NodeKind::person, "again"}), Rejection::DUPLICATE_ID);
}

// The ids the market mints or derives (instances, releases, subscriptions, partitions) cannot be
// taken first by a party, a network or a computer, nor a network take an item's id: the ledger
// would refuse, as a duplicate, every later batch minting it, and the market would mint it again.
TEST_F(MarketRules, IdsTheMarketMintsCannotBeTakenFirst) {
  host("COMP-1", 1, {}, 4);
  const std::string release_item = Market::release_id(kRelease2);  // not supplied yet: not registered
  for (const std::string& id : std::vector<std::string>{"SOFTINST-2", "SOFTINST-99", release_item, "SUB-SOFTINST-2", "COMP-1/slappart9", "slapos-market"}) {
    SCOPED_TRACE(id);
    const Rejection expected = id == "slapos-market" ? Rejection::DUPLICATE_ID : Rejection::INVALID_ID;
    EXPECT_EQ(w.refused(RegisterParty{id, ubm::NodeKind::person, "x"}), expected);
    EXPECT_EQ(w.refused(RegisterComputer{id, "owner", "net-1", Scope::open, 1, "EUR", "", {}}), expected);
    const Rejection as_network = id == "slapos-market" ? Rejection::KIND_MISMATCH : Rejection::INVALID_ID;
    EXPECT_EQ(w.refused(RegisterComputer{"COMP-2", "owner", id, Scope::open, 1, "EUR", "", {}}), as_network);
  }
  // A network named after a registered item, or after the computer registered with it.
  EXPECT_EQ(w.refused(RegisterComputer{"COMP-2", "owner", "COMP-1", Scope::open, 1, "EUR", "", {}}), Rejection::KIND_MISMATCH);
  EXPECT_EQ(w.refused(RegisterComputer{"COMP-2", "owner", "COMP-2", Scope::open, 1, "EUR", "", {}}), Rejection::KIND_MISMATCH);
  // The ids the market would have minted are still its own: requests go on being allocated.
  EXPECT_EQ(w.request("a").instance, "SOFTINST-1");
  EXPECT_EQ(w.request("b").instance, "SOFTINST-2");
  EXPECT_FALSE(w.request("b").computer.empty());
  w.expect_replay_equal();
}

TEST_F(MarketRules, RenameAndBangTouchTheTree) {
  host("COMP-1", 1, {}, 3);
  Outcome root = w.request("root");
  Outcome child = w.request("child", {}, root.instance);
  EXPECT_EQ(w.market().instances().get(root.instance)->children, std::vector<std::string>{child.instance});
  EXPECT_EQ(w.market().instances().get(child.instance)->request.client, "alice");
  const auto ts = w.market().instances().get(child.instance)->timestamp;
  w.ok(Bang{"alice", root.instance});
  EXPECT_GT(w.market().instances().get(child.instance)->timestamp, ts);
  w.ok(Rename{"alice", root.instance, "renamed"});
  EXPECT_EQ(w.market().instances().find("alice", "renamed")->request.instance, root.instance);
  EXPECT_EQ(w.market().instances().find("alice", "root"), nullptr);
  w.expect_replay_equal();
}

// Every instance of a tree shows its root's title (root_instance_title): renaming the root touches
// them all, on every computer, so their nodes render the new title; renaming a child touches it
// alone. Before, a child on another computer kept its timestamp and its computer its version:
// the node was answered "not modified" and kept the old title.
TEST_F(MarketRules, RenamingARootTouchesItsWholeTreeOnEveryComputer) {
  host("COMP-1", 1, {}, 2);
  host("COMP-2", 2, {}, 2);
  Outcome root = w.request("root", {{"computer_guid", "COMP-1"}});
  Outcome child = w.request("child", {{"computer_guid", "COMP-2"}}, root.instance);
  Outcome other = w.request("other", {{"computer_guid", "COMP-2"}});
  const auto& reg = w.market().instances();
  const auto child_ts = reg.get(child.instance)->timestamp, other_ts = reg.get(other.instance)->timestamp;
  const uint64_t v2 = w.market().computers().version("COMP-2");
  w.ok(Rename{"alice", root.instance, "renamed"});
  EXPECT_GT(reg.get(child.instance)->timestamp, child_ts);
  EXPECT_GT(w.market().computers().version("COMP-2"), v2);
  EXPECT_EQ(reg.get(other.instance)->timestamp, other_ts);
  const auto root_ts = reg.get(root.instance)->timestamp;
  w.ok(Rename{"alice", child.instance, "kid"});  // a child's title is its own: the root stays as it is
  EXPECT_EQ(reg.get(root.instance)->timestamp, root_ts);
  EXPECT_EQ(reg.get(child.instance)->request.title, "kid");
  w.expect_replay_equal();
}

TEST_F(MarketRules, ATitleNamesOneInstancePerRequester) {
  host("COMP-1", 1, {}, 4);
  Outcome a = w.request("db");
  Outcome b = w.request("db", {}, "bob");
  EXPECT_NE(a.instance, b.instance);
  EXPECT_EQ(w.request("db").instance, a.instance);  // idempotent, per requester
  EXPECT_EQ(w.market().instances().find("alice", "db")->request.instance, a.instance);
  EXPECT_EQ(w.market().instances().find("bob", "db")->request.instance, b.instance);
  EXPECT_EQ(w.market().instances().find("alice", "d"), nullptr);
  EXPECT_EQ(w.market().instances().find("alic", "edb"), nullptr);
  // Renaming frees the old title for a new instance and keeps the other requester's.
  w.ok(Rename{"alice", a.instance, "db-old"});
  Outcome again = w.request("db");
  EXPECT_NE(again.instance, a.instance);
  EXPECT_EQ(w.market().instances().find("alice", "db-old")->request.instance, a.instance);
  EXPECT_EQ(w.market().instances().find("bob", "db")->request.instance, b.instance);
  w.expect_replay_equal();
  EXPECT_EQ(w.market().instances().find("alice", "db")->request.instance, again.instance);
}

TEST_F(MarketRules, RedeclaringAddsUpdatesAndRetiresFreePartitions) {
  host("COMP-1", 1, {}, 3);
  Outcome o = w.request("db");  // slappart0
  const uint64_t v = w.market().computers().version("COMP-1");
  w.ok(DeclareCapacity{"COMP-1", {PartitionSpec{"slappart0", {"10.0.0.1"}, {}, "tap0"},
                                  PartitionSpec{"slappart1", {"10.0.0.99"}, {"fd00::1"}, "tap1"}}});
  auto c = w.market().computers().get("COMP-1");
  EXPECT_GT(c->version, v);
  EXPECT_FALSE(c->partition("slappart2")->present);
  EXPECT_EQ(c->partition("slappart1")->spec().ipv6, std::vector<std::string>{"fd00::1"});
  EXPECT_EQ(w.market().capacity().find("COMP-1")->present, 2u);
  EXPECT_FALSE(w.run(DeclareCapacity{"COMP-1", {PartitionSpec{"slappart0", {"10.0.0.1"}, {}, "tap0"},
                                                PartitionSpec{"slappart1", {"10.0.0.99"}, {"fd00::1"}, "tap1"}}})->written);
  // A routed address (a virtual machine's tap, with its gateway): kept whole, and a new gateway is
  // a new declaration of the partition; an incomplete or malformed one is refused, writing nothing.
  const RoutedAddress vm{"tap1", "10.1.0.2", "10.1.0.1", "255.255.255.0", "10.1.0.0"};
  w.ok(DeclareCapacity{"COMP-1", {PartitionSpec{"slappart0", {"10.0.0.1"}, {}, "tap0"}, PartitionSpec{"slappart1", {"10.0.0.99"}, {"fd00::1"}, "tap1", {vm}}}});
  EXPECT_EQ(w.market().computers().get("COMP-1")->partition("slappart1")->spec().routed, std::vector<RoutedAddress>{vm});
  EXPECT_EQ(w.market().computers().get("COMP-1")->partition("slappart1")->spec().ipv4, std::vector<std::string>{"10.0.0.99"});
  RoutedAddress moved = vm;
  moved.gateway = "10.1.0.254";
  EXPECT_TRUE(w.run(DeclareCapacity{"COMP-1", {PartitionSpec{"slappart0", {"10.0.0.1"}, {}, "tap0"}, PartitionSpec{"slappart1", {"10.0.0.99"}, {"fd00::1"}, "tap1", {moved}}}})->written);
  for (RoutedAddress bad : {RoutedAddress{"tap1", "10.1.0.2", "", "255.255.255.0", ""}, RoutedAddress{"tap 1", "10.1.0.2", "10.1.0.1", "255.255.255.0", ""},
                            RoutedAddress{"tap1", "10.1.0.2", "10.1.0.1", "255.255.255.0", "10.1.0.0|x"}}) {
    EXPECT_EQ(w.refused(DeclareCapacity{"COMP-1", {PartitionSpec{"slappart0", {"10.0.0.1"}, {}, "tap0"}, PartitionSpec{"slappart1", {}, {}, "", {bad}}}}),
              Rejection::INVALID_PARAMETER);
  }
  w.expect_replay_equal();
}

// An instance renders its partition's addresses: a declaration that changes them touches the
// instance running there (its node reprocesses it), and no other. Before, the computer's version
// moved but the instance's timestamp did not, so its node kept the old addresses.
TEST_F(MarketRules, NewAddressesOfABusyPartitionTouchItsInstance) {
  host("COMP-1", 1, {}, 2);
  Outcome o = w.request("db");
  ASSERT_EQ(o.partition, "slappart0");
  const auto ts = w.market().instances().get(o.instance)->timestamp;
  DeclareCapacity d{"COMP-1", {PartitionSpec{"slappart0", {"10.0.0.99"}, {"fd00::1"}, "tap0"},
                               PartitionSpec{"slappart1", {"10.0.0.2"}, {}, "tap1"}}};
  w.ok(d);
  EXPECT_GT(w.market().instances().get(o.instance)->timestamp, ts);
  const auto after = w.market().instances().get(o.instance)->timestamp;
  d.partitions[1].ipv4 = {"10.0.0.42"};  // the free partition only
  w.ok(d);
  EXPECT_EQ(w.market().instances().get(o.instance)->timestamp, after);
  w.expect_replay_equal();
}

TEST_F(MarketRules, ClosedComputersServeOnlyTheirOwnerByGuid) {
  w.computer("COMP-home", 0, {}, "alice", "net-home", "", Scope::close);
  w.format("COMP-home", 1);
  w.ok(Supply{"alice", "COMP-home", kRelease, true});
  EXPECT_FALSE(w.request("x", {}, "bob").pending.empty());
  EXPECT_FALSE(w.request("y", {{"computer_guid", "COMP-home"}}, "bob").pending.empty());
  EXPECT_EQ(w.request("z", {{"computer_guid", "COMP-home"}}, "alice").computer, "COMP-home");
}

// A shared instance uses its host's service and machine as an instance uses a partition: a closed
// computer's hosts serve its owner only, and only when the request names the computer or the host.
TEST_F(MarketRules, ClosedComputersHostSharedInstancesOnlyForTheirOwnerByName) {
  w.computer("COMP-home", 0, {}, "alice", "net-home", "", Scope::close);
  w.format("COMP-home", 1);
  w.ok(Supply{"alice", "COMP-home", kRelease, true});
  Outcome front = w.request("front", {{"computer_guid", "COMP-home"}}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  ASSERT_EQ(front.computer, "COMP-home");
  auto shared = [&](const std::string& title, StringMap sla, const std::string& who) {
    return w.request(title, std::move(sla), who, true, RequestedState::started, {}, kRelease, "frontend");
  };
  // Another client: not by the release, not by the computer, not by the host.
  Outcome any = shared("bob-any", {}, "bob");
  EXPECT_TRUE(any.host.empty());
  EXPECT_FALSE(any.pending.empty());
  EXPECT_TRUE(shared("bob-guid", {{"computer_guid", "COMP-home"}}, "bob").host.empty());
  Outcome named = shared("bob-host", {{"instance_guid", front.instance}}, "bob");
  EXPECT_TRUE(named.host.empty());
  // Told as an unknown host would be, and without the closed computer's guid: a request must not
  // tell bob which private computers (or their hosts) exist.
  const Outcome unknown_host = shared("bob-nohost", {{"instance_guid", "SOFTINST-424242"}}, "bob");
  auto masked = [](std::string reason, const std::string& id) {
    if (const size_t at = reason.find(id); at != std::string::npos) reason.replace(at, id.size(), "<id>");
    return reason;
  };
  EXPECT_FALSE(named.pending.empty());
  EXPECT_EQ(masked(named.pending, front.instance), masked(unknown_host.pending, "SOFTINST-424242"));
  EXPECT_EQ(named.pending.find("COMP-home"), std::string::npos) << named.pending;
  const Outcome closed = w.request("bob-at-home", {{"computer_guid", "COMP-home"}}, "bob");
  const Outcome nowhere = w.request("bob-nowhere", {{"computer_guid", "COMP-nowhere"}}, "bob");
  EXPECT_TRUE(closed.computer.empty());
  EXPECT_EQ(masked(closed.pending, "COMP-home"), masked(nowhere.pending, "COMP-nowhere"));
  // The owner: by naming the computer or the host, not by the release alone.
  EXPECT_TRUE(shared("alice-any", {}, "alice").host.empty());
  EXPECT_EQ(shared("alice-guid", {{"computer_guid", "COMP-home"}}, "alice").host, front.instance);
  EXPECT_EQ(shared("alice-host", {{"instance_guid", front.instance}}, "alice").host, front.instance);
  // Opened, it serves everyone: opening offers the queue.
  w.ok(RegisterComputer{"COMP-home", "alice", "net-home", Scope::open, 0, "EUR", "", {}});
  EXPECT_EQ(w.market().instances().get(any.instance)->host, front.instance);
  EXPECT_EQ(w.market().instances().get(named.instance)->host, front.instance);
  w.expect_replay_equal();
}

// Owner, alice and COMP-1 with 2 partitions supplying kRelease (on a storage that fails on demand).
void owner_alice_and_one_computer(World& f) {
  f.party("owner");
  f.party("alice");
  f.computer("COMP-1", 1);
  f.format("COMP-1", 2);
  f.supply("COMP-1");
}

// A guid minted by a batch whose write failed was never registered: once the market is rebuilt
// from the ledger, a certificate naming it is refused; minted again by a request that lands, it is
// certified.
TEST_F(MarketRules, AGuidMintedByAFailedWriteCannotBeCertifiedUntilMintedAgain) {
  auto fault = std::make_shared<ledger::FaultStorage>();
  const RequestInstance request{"alice", "db", kRelease, "default", {}, {}, false, RequestedState::started};
  std::string guid;
  auto certify = [&] {
    return RecordIdentity{ubm::Identity{ubm::IdentityAction::issue, guid, "0a", std::string(32, '\x5a'), ubm::TimestampNs{1},
                                        ubm::TimestampNs{2}, ""}};
  };
  {
    World f(fault);
    owner_alice_and_one_computer(f);
    guid = "SOFTINST-" + std::to_string(f.market().instances().next_guid());
    fault->fail_next_writes(1);
    auto failed = f.run(request);
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, Rejection::STORAGE_ERROR);
    EXPECT_EQ(f.refused(certify()), Rejection::UNRESOLVED_REFERENCE);
  }
  fault->clear_faults();
  World g(fault);  // the master restarted: the ledger takes writes again
  EXPECT_EQ(g.ok(request).instance, guid) << "the same guid, minted again";
  EXPECT_TRUE(g.ok(certify()).written);
  g.expect_replay_equal();
}

TEST_F(MarketRules, StorageFailureWritesNothingAndKeepsProjectionsConsistent) {
  auto fault = std::make_shared<ledger::FaultStorage>();
  World f(fault);
  owner_alice_and_one_computer(f);
  const auto before = f.snapshots();
  const ubm::Seq head = f.ledger().head();
  const uint64_t generation = f.market().generation();
  const uint64_t version = f.market().computers().version("COMP-1");
  fault->fail_next_writes(1);
  auto r = f.run(RequestInstance{"alice", "db", kRelease, "", {}, {}, false, RequestedState::started});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Rejection::STORAGE_ERROR);
  EXPECT_EQ(f.ledger().head(), head);
  EXPECT_EQ(f.snapshots(), before);
  // The undone decision took the computer's version back: the same number will come again with
  // other content, so what readers cached under it belongs to an older generation.
  EXPECT_EQ(f.market().computers().version("COMP-1"), version);
  EXPECT_GT(f.market().generation(), generation);
}

// A failed write takes back what its batch folded: an answer decided after the batch's first
// writing command read it, and goes out as the storage error too (a node repeating a command in
// one batch was told "recorded" for nothing recorded; a second registration "duplicate" of one
// that never landed). Answers decided before it read nothing of the batch and stand.
TEST_F(MarketRules, AFailedWriteFailsEveryAnswerThatReadItsBatch) {
  auto fault = std::make_shared<ledger::FaultStorage>();
  World f(fault);
  f.party("owner");
  f.computer("COMP-1", 1);
  const RegisterComputer same{"COMP-1", "owner", "net-1", Scope::open, 1, "EUR", "", {}};
  const RegisterComputer fresh{"COMP-2", "owner", "net-1", Scope::open, 1, "EUR", "", {}};
  const ubm::Seq head = f.ledger().head();
  const auto before = f.snapshots();
  fault->fail_next_writes(1);
  const std::vector<Command> batch{same, fresh, fresh, RegisterComputer{"COMP-2", "intruder", "net-1", Scope::open, 1, "EUR", "", {}}};
  auto results = f.market().execute_batch(batch);
  ASSERT_EQ(results.size(), 4u);
  ASSERT_TRUE(results[0].ok()) << "decided before the writing command: unchanged, and it is";
  EXPECT_FALSE(results[0]->written);
  for (size_t k = 1; k < results.size(); ++k) {
    ASSERT_FALSE(results[k].ok()) << k;
    EXPECT_EQ(results[k].error().code, Rejection::STORAGE_ERROR) << k << ": " << results[k].error().to_string();
  }
  EXPECT_EQ(f.ledger().head(), head);
  EXPECT_EQ(f.snapshots(), before);
  EXPECT_EQ(f.market().computers().find("COMP-2"), nullptr) << "what was answered holds: it is not registered";
  f.expect_replay_equal();
}

// After a failed write the market is rebuilt from the log; if the log cannot be read, its
// projections hold only part of it. Nothing is decided on them (every command is refused with the
// storage error, the generation stays odd, failed() says so) until a rebuild succeeds: before, the
// half-built market went on deciding and readers were told its views were durable.
TEST_F(MarketRules, AMarketThatCannotBeRebuiltDecidesNothingUntilItIs) {
  auto fault = std::make_shared<ledger::FaultStorage>();
  World f(fault);
  owner_alice_and_one_computer(f);
  const auto whole = f.snapshots();
  fault->fail_next_writes(1);
  fault->fail_scans_after(3);  // the rebuild reads 3 entries of the log, then an I/O error
  auto r = f.run(RequestInstance{"alice", "db", kRelease, "", {}, {}, false, RequestedState::started});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(f.market().failed());
  EXPECT_EQ(f.market().generation() % 2, 1u) << "half-built";
  EXPECT_NE(f.snapshots(), whole);
  const RegisterComputer unchanged{"COMP-1", "owner", "net-1", Scope::open, 1, "EUR", "", {}};
  auto refused = f.run(unchanged);  // not answered from a market that holds part of the log
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Rejection::STORAGE_ERROR);
  EXPECT_NE(refused.error().detail.find("could not be rebuilt"), std::string::npos) << refused.error().to_string();
  // The log reads again: the next command rebuilds first, then is decided on the whole market.
  fault->clear_faults();
  auto answered = f.run(unchanged);
  ASSERT_TRUE(answered.ok()) << answered.error().to_string();
  EXPECT_FALSE(answered->written);
  EXPECT_FALSE(f.market().failed());
  EXPECT_EQ(f.market().generation() % 2, 0u);
  EXPECT_EQ(f.snapshots(), whole);
}

// "owner"'s COMP-1, one partition supplying kRelease, and client "alice".
void partitions(World& f, int n) {
  f.party("owner");
  f.party("alice");
  f.computer("COMP-1", 1);
  f.format("COMP-1", n);
  f.supply("COMP-1");
}
void one_partition(World& f) { partitions(f, 1); }
void two_partitions(World& f) { partitions(f, 2); }

// An allocation is one ledger entry: the movement that allocates the new instance also registers
// it (schema `registers`), where it took an Item entry and a Movement. A pending request is its
// movement plus the pending one. Replay gives the same projections.
TEST(MarketEntries, AnAllocationIsOneEntryThatRegistersItsInstance) {
  World f;
  one_partition(f);
  ubm::Seq head = f.ledger().head();
  const Outcome placed = f.request("db");
  ASSERT_FALSE(placed.computer.empty());
  EXPECT_EQ(f.ledger().head().value(), head.value() + 1);
  EXPECT_EQ(f.ledger().directory().item_kind(placed.instance), ubm::ItemKind::instance);

  head = f.ledger().head();
  const Outcome waiting = f.request("web");  // the only partition is taken
  ASSERT_FALSE(waiting.pending.empty());
  EXPECT_EQ(f.ledger().head().value(), head.value() + 2);
  EXPECT_EQ(f.ledger().directory().item_kind(waiting.instance), ubm::ItemKind::instance);
  f.expect_replay_equal();
}

// What a freed instance gives back mirrors what it held, so each party's balance of each resource
// nets out: a partition, its place on a host (a shared instance), or a request that got neither.
TEST(MarketEntries, AFreeGivesBackWhatItHeld) {
  World f;
  one_partition(f);
  const Outcome host = f.request("front", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  const Outcome site = f.request("site", {}, "alice", true, RequestedState::started, {}, kRelease, "frontend");
  ASSERT_EQ(site.host, host.instance);
  const Outcome waiting = f.request("more");  // the only partition is taken
  ASSERT_FALSE(waiting.pending.empty());
  f.request("site", {}, "alice", true, RequestedState::destroyed, {}, kRelease, "frontend");
  f.request("more", {}, "alice", false, RequestedState::destroyed);
  f.request("front", {}, "alice", false, RequestedState::destroyed, {}, kRelease, "frontend");
  f.ok(ReportState{"COMP-1", host.instance, ReportedState::destroyed});
  std::map<std::string, std::tuple<std::string, std::string, size_t>> freed;  // guid -> resource, unit, items
  auto s = f.ledger().scan(ubm::Seq{1}, ubm::Seq{0}, [&](const ledger::EntryView& v) {
    auto body = ubm::decode(v.entry);
    if (!body || !std::holds_alternative<ubm::Movement>(*body)) return true;
    const auto& m = std::get<ubm::Movement>(*body);
    auto fact = decode(m);
    if (fact && *fact && std::holds_alternative<fact::Freed>((*fact)->body)) {
      freed[m.items[0].value()] = {m.resource, m.quantity.unit, m.items.size()};
      EXPECT_NE(m.stop.value(), 0);
    }
    return true;
  });
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(freed[host.instance], std::make_tuple(std::string("hosting/partition"), std::string("partition"), size_t{2}));
  EXPECT_EQ(freed[site.instance], std::make_tuple(std::string("hosting/shared"), std::string("instance"), size_t{2})) << "it leaves its host";
  EXPECT_EQ(freed[waiting.instance], std::make_tuple(std::string("hosting/request"), std::string("instance"), size_t{1}));
  f.expect_replay_equal();
}

// Declarations of `n` computers of `partitions` new partitions each: one entry per partition.
std::vector<Command> large_formats(World& f, int n, int partitions) {
  std::vector<Command> out;
  for (int c = 0; c < n; ++c) {
    const std::string guid = "COMP-" + std::to_string(100 + c);
    f.computer(guid, 1);
    DeclareCapacity d{guid, {}};
    for (int p = 0; p < partitions; ++p) d.partitions.push_back(PartitionSpec{"slappart" + std::to_string(p), {}, {}, ""});
    out.push_back(std::move(d));
  }
  return out;
}

// A batch stops taking commands once it holds kMaxBatchEntries entries; the rest are decided and
// written in the next one, in order, so that no batch passes what the ledger takes in one append.
TEST(MarketEntries, CommandsWhoseEntriesFillABatchAreWrittenInTwo) {
  World f;
  f.party("owner");
  const auto formats = large_formats(f, 7, 9'000);  // 9,001 entries each: six fill a batch, the seventh waits
  const uint64_t writes = f.ledger().stats().writes;
  for (const auto& r : f.market().execute_batch(formats)) ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(f.ledger().stats().writes - writes, 2u);
  for (int c = 0; c < 7; ++c) EXPECT_EQ(f.market().capacity().find("COMP-" + std::to_string(100 + c))->present, 9'000u);
  f.expect_replay_equal();
}

// A journal whose movements would not fit a batch is refused whole (a node posts it in parts);
// before, it failed every command of its batch and the market was rebuilt, each time it came back.
TEST(MarketEntries, AJournalOfMoreMovementsThanABatchHoldsIsRefusedWhole) {
  World f;
  one_partition(f);
  ReportUsage big{"COMP-1", {UsageTransaction{"day", ubm::TimestampNs{1}, ubm::TimestampNs{2}, {}}}};
  for (size_t k = 0; k <= kMaxBatchEntries; ++k) {
    big.transactions[0].lines.push_back(UsageLine{"usage/cpu_s", ubm::Decimal::integer(1), "cpu_s", "COMP-1", "line " + std::to_string(k)});
  }
  EXPECT_EQ(f.refused(big), Rejection::BATCH_TOO_LARGE);
  big.transactions[0].lines.resize(kMaxBatchEntries);
  EXPECT_TRUE(f.ok(big).written) << "one fewer fits";
}

// One command may make far more entries than a batch of commands holds: a host destroyed with
// 34,000 shared instances frees, requeues and re-attaches each to the other host, some 102,000
// entries. It is written whole, atomically, in one append. The ledger refused appends of more than
// 100,000 entries: such a destroy failed each time the node confirmed it, the market rebuilt from
// the whole log each time, and the host was never freed.
TEST(MarketEntries, AHostWhoseSharedInstancesCascadePastAHundredThousandEntriesIsFreedInOneWrite) {
  World f;
  two_partitions(f);
  const Outcome front = f.request("front", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  constexpr size_t kShared = 34'000;
  std::vector<Command> sites;
  for (size_t k = 0; k < kShared; ++k) {
    sites.push_back(RequestInstance{"alice", "site-" + std::to_string(k), kRelease, "frontend", {}, {}, true, RequestedState::started});
  }
  std::vector<std::string> guids;
  for (size_t at = 0; at < sites.size(); at += kMaxBatchCommands) {
    const size_t n = std::min(kMaxBatchCommands, sites.size() - at);
    for (auto& r : f.market().execute_batch(std::span<const Command>(sites).subspan(at, n))) {
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      ASSERT_EQ(r->host, front.instance);
      guids.push_back(r->instance);
    }
  }
  const Outcome back = f.request("back", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  ASSERT_FALSE(back.computer.empty());
  f.request("front", {}, "alice", false, RequestedState::destroyed, {}, kRelease, "frontend");

  const uint64_t writes = f.ledger().stats().writes, entries = f.ledger().stats().entries;
  ASSERT_TRUE(f.ok(ReportState{"COMP-1", front.instance, ReportedState::destroyed}).written);
  EXPECT_EQ(f.ledger().stats().writes - writes, 1u) << "one append";
  EXPECT_GT(f.ledger().stats().entries - entries, 100'000u);
  EXPECT_TRUE(f.market().instances().find(front.instance)->computer.empty()) << "the host is freed";
  for (const auto& g : guids) {
    const InstanceRegistry::Instance* i = f.market().instances().find(g);
    ASSERT_NE(i, nullptr);
    ASSERT_EQ(i->host, back.instance) << g;
    ASSERT_FALSE(i->pending) << g;
  }
  EXPECT_EQ(f.market().instances().find(back.instance)->slaves.size(), kShared);
  f.expect_replay_equal();
}

// A state a node reports for any instance of a tree is billed to the tree's subscription, named
// after its root, however deep the instance sits (the root is found by walking up its requesters,
// no longer by listing the whole tree for each report).
TEST(MarketEntries, AStateReportDeepInATreeNamesTheRootsSubscription) {
  World f;
  partitions(f, 3);
  const Outcome root = f.request("root");
  const Outcome child = f.request("child", {}, root.instance);
  const Outcome grandchild = f.request("grandchild", {}, child.instance);
  ASSERT_FALSE(grandchild.computer.empty());
  f.ok(ReportState{"COMP-1", grandchild.instance, ReportedState::started});
  f.ok(ReportState{"COMP-1", child.instance, ReportedState::started});
  std::map<std::string, std::string> subscription;  // instance -> the subscription item of its report
  auto s = f.ledger().scan(ubm::Seq{1}, ubm::Seq{0}, [&](const ledger::EntryView& v) {
    auto body = ubm::decode(v.entry);
    if (!body || !std::holds_alternative<ubm::Movement>(*body)) return true;
    const auto& m = std::get<ubm::Movement>(*body);
    if (m.resource == "hosting/running" && m.items.size() == 5) subscription[m.items[0].value()] = m.items[4].value();
    return true;
  });
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(subscription[grandchild.instance], "SUB-" + root.instance);
  EXPECT_EQ(subscription[child.instance], "SUB-" + root.instance);
  EXPECT_EQ(f.ledger().directory().item_kind("SUB-" + root.instance), ubm::ItemKind::subscription);
  EXPECT_FALSE(f.ledger().directory().item_kind("SUB-" + child.instance).has_value());
  f.expect_replay_equal();
}

// With no partition free anywhere, the shared instances waiting are still served (a pass for them
// walks their own queue): here a host that changed its type.
TEST(MarketEntries, AFullMarketStillServesWaitingSharedInstances) {
  World f;
  one_partition(f);
  const Outcome front = f.request("front", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  ASSERT_FALSE(front.computer.empty());
  const Outcome waiting = f.request("db");
  ASSERT_FALSE(waiting.pending.empty());
  const Outcome site = f.request("site", {}, "alice", true, RequestedState::started, {}, kRelease, "cdn");
  ASSERT_FALSE(site.pending.empty()) << "no host of type cdn yet";
  EXPECT_EQ(f.market().capacity().free_partitions(), 0u);
  f.request("front", {}, "alice", false, RequestedState::started, {}, kRelease, "cdn");  // the host turns cdn
  EXPECT_EQ(f.market().instances().find(site.instance)->host, front.instance);
  EXPECT_TRUE(f.market().instances().find(waiting.instance)->pending) << "still no partition for it";
  EXPECT_EQ(f.market().instances().pending(), std::vector<std::string>{waiting.instance});
  // A partition freed goes to the oldest request waiting for one.
  f.request("front", {}, "alice", false, RequestedState::destroyed, {}, kRelease, "cdn");
  f.ok(ReportState{"COMP-1", front.instance, ReportedState::destroyed});
  EXPECT_EQ(f.market().instances().find(waiting.instance)->computer, "COMP-1");
  EXPECT_EQ(f.market().capacity().free_partitions(), 0u);
  f.expect_replay_equal();
}

// A host destroyed in a full market: its partition goes to the oldest request waiting for one, and
// its shared instances move to the other host of their type in the same pass, which, with no
// partition free any more, goes on through the shared instances alone.
TEST(MarketEntries, AHostFreedInAFullMarketGoesToTheOldestRequestAndItsSharedInstancesMove) {
  World f;
  two_partitions(f);
  const Outcome a = f.request("a", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  const Outcome b = f.request("b", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  const Outcome site = f.request("site", {}, "alice", true, RequestedState::started, {}, kRelease, "frontend");
  ASSERT_EQ(site.host, a.instance) << "the oldest host";
  const Outcome first = f.request("db");
  const Outcome second = f.request("db2");
  ASSERT_FALSE(first.pending.empty());
  ASSERT_FALSE(second.pending.empty());
  EXPECT_EQ(f.market().capacity().free_partitions(), 0u);
  f.request("a", {}, "alice", false, RequestedState::destroyed, {}, kRelease, "frontend");
  f.ok(ReportState{"COMP-1", a.instance, ReportedState::destroyed});
  EXPECT_EQ(f.market().instances().find(first.instance)->computer, "COMP-1");
  EXPECT_TRUE(f.market().instances().find(second.instance)->pending);
  EXPECT_EQ(f.market().instances().find(site.instance)->host, b.instance);
  EXPECT_FALSE(f.market().instances().find(site.instance)->pending);
  EXPECT_EQ(f.market().capacity().free_partitions(), 0u);
  EXPECT_EQ(f.market().instances().pending(), std::vector<std::string>{second.instance});
  f.expect_replay_equal();
}

// A partition freed goes to the oldest waiting request it suits, passing over older ones it does not
// (their conditions, a closed computer they do not name): on a closed computer, to its owner's
// request naming it; on an open one, to a request whose region it is in.
TEST(MarketEntries, APartitionFreedGoesToTheOldestWaitingRequestItSuits) {
  World f;
  f.party("owner");
  f.party("alice");
  f.party("bob");
  f.computer("COMP-1", 1, {{"region", "fr"}});
  f.computer("COMP-2", 1, {}, "alice", "net-1", "", Scope::close);
  f.format("COMP-1", 1);
  f.format("COMP-2", 1);
  f.supply("COMP-1");
  f.supply("COMP-2", kRelease, "alice");
  const Outcome a = f.request("a", {{"computer_guid", "COMP-2"}}, "alice");
  ASSERT_EQ(a.computer, "COMP-2");
  const Outcome b = f.request("b", {{"region", "de"}}, "bob");
  const Outcome c = f.request("c", {{"computer_guid", "COMP-2"}}, "alice");
  const Outcome d = f.request("d", {}, "bob");
  ASSERT_EQ(d.computer, "COMP-1");
  const Outcome e = f.request("e", {}, "bob");
  for (const Outcome* o : {&b, &c, &e}) ASSERT_FALSE(o->pending.empty()) << o->instance;

  f.request("a", {{"computer_guid", "COMP-2"}}, "alice", false, RequestedState::destroyed);
  f.ok(ReportState{"COMP-2", a.instance, ReportedState::destroyed});
  EXPECT_EQ(f.market().instances().find(c.instance)->computer, "COMP-2") << "the owner's request naming it";
  EXPECT_TRUE(f.market().instances().find(e.instance)->pending) << "a closed computer it does not name";

  f.request("d", {}, "bob", false, RequestedState::destroyed);
  f.ok(ReportState{"COMP-1", d.instance, ReportedState::destroyed});
  EXPECT_EQ(f.market().instances().find(e.instance)->computer, "COMP-1");
  EXPECT_TRUE(f.market().instances().find(b.instance)->pending) << "COMP-1 is not in region de";
  EXPECT_EQ(f.market().instances().pending(), std::vector<std::string>{b.instance});
  f.expect_replay_equal();
}

// A partition freed is offered to the waiting requests that computer suits alone: the oldest whose
// conditions it meets takes it, past older ones it does not suit (a category, a price), and those
// keep the reason they had (nothing they wait for changed). The next free, where they fit, serves
// the oldest of them.
TEST(MarketEntries, AFreedPartitionIsOfferedOnlyToTheRequestsItsComputerSuits) {
  World f;
  f.party("owner");
  f.party("alice");
  f.computer("COMP-1", 5, {{"cpu_core", "4"}});
  f.computer("COMP-2", 1, {{"cpu_core", "8"}});
  for (const char* c : {"COMP-1", "COMP-2"}) {
    f.format(c, 1);
    f.supply(c);
  }
  const Outcome on1 = f.request("on1", {{"computer_guid", "COMP-1"}});
  const Outcome on2 = f.request("on2", {{"computer_guid", "COMP-2"}});
  const Outcome eight = f.request("eight", {{"cpu_core", "8"}});
  const Outcome cheap = f.request("cheap", {{"max_price", "3"}});
  const Outcome four = f.request("four", {{"cpu_core", "4"}});
  for (const Outcome* o : {&eight, &cheap, &four}) ASSERT_FALSE(o->pending.empty()) << o->instance;
  const std::string eight_reason = f.market().instances().find(eight.instance)->pending_reason;

  f.request("on1", {{"computer_guid", "COMP-1"}}, "alice", false, RequestedState::destroyed);
  f.ok(ReportState{"COMP-1", on1.instance, ReportedState::destroyed});
  EXPECT_EQ(f.market().instances().find(four.instance)->computer, "COMP-1");
  EXPECT_TRUE(f.market().instances().find(eight.instance)->pending);
  EXPECT_TRUE(f.market().instances().find(cheap.instance)->pending) << "COMP-1 costs 5";
  EXPECT_EQ(f.market().instances().find(eight.instance)->pending_reason, eight_reason) << "not tried: it keeps its reason";

  f.request("on2", {{"computer_guid", "COMP-2"}}, "alice", false, RequestedState::destroyed);
  f.ok(ReportState{"COMP-2", on2.instance, ReportedState::destroyed});
  EXPECT_EQ(f.market().instances().find(eight.instance)->computer, "COMP-2") << "the oldest it suits";
  EXPECT_EQ(f.market().instances().pending(), std::vector<std::string>{cheap.instance});
  f.expect_replay_equal();
}

// Requests waiting for a partition are offered a freed one by groups of the same release and
// conditions; a request whose conditions change while it waits moves to its new group and keeps
// its place in the queue: here it is older than the request already waiting with the conditions it
// now has, so it takes the partition freed on the computer both suit (left in its old group, it
// would be judged by the oldest request there, which that computer does not suit).
TEST(MarketEntries, ARequestWhoseConditionsChangeWhileWaitingIsOfferedWhatItsNewConditionsFit) {
  World f;
  f.party("owner");
  f.party("alice");
  f.computer("COMP-16", 5, {{"cpu_core", "16"}});
  f.format("COMP-16", 1);
  f.supply("COMP-16");
  const Outcome busy = f.request("busy");
  ASSERT_EQ(busy.computer, "COMP-16");
  const Outcome older = f.request("older", {{"cpu_core", "8"}});
  const Outcome moving = f.request("moving", {{"cpu_core", "8"}});
  const Outcome sixteen = f.request("sixteen", {{"cpu_core", "16"}});
  for (const Outcome* o : {&older, &moving, &sixteen}) ASSERT_FALSE(o->pending.empty()) << o->instance;
  EXPECT_EQ(f.market().instances().pending_group_count(), 2u);
  f.request("moving", {{"cpu_core", "16"}});  // still waiting: COMP-16 is busy
  EXPECT_TRUE(f.market().instances().find(moving.instance)->pending);
  EXPECT_TRUE(f.market().instances().queues_consistent());

  f.request("busy", {}, "alice", false, RequestedState::destroyed);
  f.ok(ReportState{"COMP-16", busy.instance, ReportedState::destroyed});
  EXPECT_EQ(f.market().instances().find(moving.instance)->computer, "COMP-16") << "older than sixteen, it now fits";
  EXPECT_EQ(f.market().instances().pending(), (std::vector<std::string>{older.instance, sixteen.instance}));
  EXPECT_EQ(f.market().instances().pending_group_count(), 2u);
  f.expect_replay_equal();
}

// The market refuses a request that changes between shared and not, but a ledger may hold one
// (older rules): folded while it waits, the request moves between the shared queue and the groups
// and keeps its place.
TEST(InstanceRegistryQueues, ARequestRecordedSharedWhileWaitingMovesBetweenTheQueues) {
  InstanceRegistry reg;
  auto requested = [](bool shared, StringMap sla) {
    fact::Requested r;
    r.instance = "SOFTINST-1";
    r.requester = r.client = "alice";
    r.title = "site";
    r.release = kRelease;
    r.software_type = "default";
    r.sla = std::move(sla);
    r.shared = shared;
    return Fact{ubm::TimestampNs{1}, std::move(r)};
  };
  reg.apply_fact(requested(false, {{"region", "fr"}}));
  reg.apply_fact(Fact{ubm::TimestampNs{2}, fact::Pending{"SOFTINST-1", "no computer"}});
  EXPECT_EQ(reg.pending_group_count(), 1u);
  EXPECT_EQ(reg.pending_shared_after(0).instance, nullptr);
  reg.apply_fact(requested(true, {{"region", "fr"}}));
  EXPECT_TRUE(reg.queues_consistent());
  EXPECT_EQ(reg.pending_group_count(), 0u);
  ASSERT_NE(reg.pending_shared_after(0).instance, nullptr);
  EXPECT_EQ(reg.pending_shared_after(0).arrival, 1u) << "its place kept";
  reg.apply_fact(requested(false, {{"region", "de"}}));
  EXPECT_TRUE(reg.queues_consistent());
  EXPECT_EQ(reg.pending_group_count(), 1u);
  EXPECT_EQ(reg.pending_shared_after(0).instance, nullptr);
  EXPECT_EQ(reg.pending_after(0).arrival, 1u);
}

TEST(MarketEncoding, EveryFactRoundTrips) {
  std::vector<fact::Body> bodies = {
      fact::ComputerSet{"C", "o", "n", Scope::close, 12, "EUR", "gpu", {{"region", "fr"}}},
      fact::Formatted{"C", {PartitionSpec{"p0", {"1.2.3.4", "1.2.3.5"}, {"fd::1"}, "tap0"}, PartitionSpec{"p1", {}, {}, ""}}, 1, {"p9"}},
      fact::Formatted{"C", {PartitionSpec{"p1", {"1.2.3.6"}, {}, ""}}, 0, {}, {"I", "J"}},
      fact::Formatted{"C", {PartitionSpec{"p2", {}, {}, "", {{"tap2", "10.0.2.2", "10.0.2.1", "255.255.255.0", "10.0.2.0"}, {"", "10.0.3.2", "10.0.3.1", "255.255.255.0", ""}}}}, 1, {}},
      fact::Supplied{"C", "http://x", false},
      fact::Supplied{"C", "http://x", false, true},
      fact::Requested{"I", "alice", "t", "alice", "http://x", "type", {{"a", "1"}}, {{"region", "fr"}}, true, RequestedState::stopped},
      fact::Allocated{"I", "C", "p0"},
      fact::Pending{"I", "because"},
      fact::Attached{"I", "H"},
      fact::Freed{"I", "C", "p0", true},
      fact::Reported{"I", ReportedState::destroyed},
      fact::Connection{"I", {{"url", "x"}}},
      fact::Banged{"I", {"I", "J"}},
      fact::Renamed{"I", "new"},
      fact::Renamed{"I", "new", {"I", "J"}},
  };
  for (const auto& b : bodies) {
    Fact f{ubm::TimestampNs{42}, b};
    auto m = encode(f, {"a", "b", {}, {}});
    auto back = decode(m);
    ASSERT_TRUE(back.ok());
    ASSERT_TRUE(back->has_value());
    EXPECT_EQ((*back)->at, f.at);
    EXPECT_EQ(encode(**back, {"a", "b", {}, {}}), m) << resource_of(b);
  }
}

// What the envelope already names (the instance as first item, the computer in the partition
// item, the client as destination or source) is left out of the attributes, as are the default
// shared and state; decoding gives the same fact back. Anything the envelope would not give back
// stays an attribute.
TEST(MarketEncoding, FieldsTheEnvelopeImpliesAreLeftOutAndComeBack) {
  auto keys = [](const ubm::Movement& m) {
    std::set<std::string> k;
    for (const auto& a : m.attributes) k.insert(a.key);
    return k;
  };
  struct Case {
    fact::Body body;
    Envelope env;
    std::set<std::string> absent, present;
  };
  const std::vector<Case> cases = {
      // An allocation as the market records it: the person is requester and client.
      {fact::Requested{"SOFTINST-1", "alice", "t", "alice", "http://x", "default", {{"a", "1"}}, {}, false,
                       RequestedState::started, "COMP-1", "slappart0"},
       {"NET-1", "alice", {"SOFTINST-1", "COMP-1/slappart0", "SR-1"}, {}},
       {"instance", "requester", "client", "computer", "shared", "state"},
       {"fact", "title", "url", "type", "param a", "partition"}},
      // A request left pending: the client is the source.
      {fact::Requested{"SOFTINST-1", "alice", "t", "alice", "http://x", "default", {}, {{"region", "fr"}}, false,
                       RequestedState::stopped},
       {"alice", "MARKET", {"SOFTINST-1", "SR-1"}, {}},
       {"instance", "requester", "client", "computer", "partition", "shared"},
       {"state", "sla region"}},
      // A child instance: the requester is its parent, the client the tree's person.
      {fact::Requested{"SOFTINST-2", "SOFTINST-1", "t", "alice", "http://x", "", {}, {}, true, RequestedState::started},
       {"alice", "MARKET", {"SOFTINST-2", "SR-1"}, {}},
       {"instance", "client", "state"},
       {"requester", "shared"}},
      // A client the envelope does not name, an instance that is not the first item.
      {fact::Requested{"SOFTINST-3", "bob", "t", "bob", "http://x", "", {}, {}, false, RequestedState::started},
       {"alice", "MARKET", {"SOFTINST-1"}, {}},
       {},
       {"instance", "requester", "client"}},
      // A partition item naming another computer, and a ref with a slash in it.
      {fact::Allocated{"SOFTINST-1", "COMP-1", "p0"}, {"NET-1", "alice", {"SOFTINST-1", "COMP-2/p0"}, {}}, {"instance"}, {"computer", "partition"}},
      {fact::Allocated{"SOFTINST-1", "COMP-1", "a/b"}, {"NET-1", "alice", {"SOFTINST-1", "COMP-1/a/b"}, {}}, {"instance", "computer"}, {"partition"}},
      {fact::Freed{"SOFTINST-1", "COMP-1", "p0", false}, {"alice", "NET-1", {"SOFTINST-1", "COMP-1/p0"}, {}}, {"instance", "computer", "requeue"}, {"partition"}},
      {fact::Freed{"SOFTINST-4", {}, {}, true}, {"alice", "MARKET", {"SOFTINST-4", "SOFTINST-1"}, {}}, {"instance", "computer", "partition"}, {"requeue"}},
      {fact::Pending{"SOFTINST-1", "no capacity"}, {"alice", "MARKET", {"SOFTINST-1"}, {}}, {"instance"}, {"reason"}},
      {fact::Reported{"SOFTINST-1", ReportedState::started}, {"NET-1", "alice", {"SOFTINST-1", "COMP-1/p0"}, {}}, {"instance"}, {"state"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(resource_of(c.body)) + " " + std::to_string(c.body.index()));
    const Fact f{ubm::TimestampNs{42}, c.body};
    const ubm::Movement m = encode(f, c.env);
    const auto k = keys(m);
    for (const auto& a : c.absent) EXPECT_EQ(k.count(a), 0u) << "written although implied: " << a;
    for (const auto& p : c.present) EXPECT_EQ(k.count(p), 1u) << "left out: " << p;
    auto back = decode(m);
    ASSERT_TRUE(back.ok()) << back.error().detail;
    ASSERT_TRUE(back->has_value());
    // Encoded with an envelope that implies nothing, every field is spelled out: equal movements,
    // equal facts.
    const Envelope plain{"a", "b", {}, {}};
    EXPECT_EQ(encode(**back, plain), encode(f, plain));
  }
}

// A ledger written before the envelope rule spells every field out; it still decodes to the same
// facts.
TEST(MarketEncoding, MovementsSpellingEveryFieldStillDecode) {
  const fact::Requested allocated{"SOFTINST-1", "alice", "t", "alice", "http://x", "default", {}, {}, false,
                                  RequestedState::started, "COMP-1", "slappart0"};
  const Envelope plain{"a", "b", {}, {}};
  ubm::Movement m = encode(Fact{ubm::TimestampNs{7}, allocated}, plain);
  // As the earlier encoding wrote it, on the envelope the market uses.
  m.attributes.push_back({"shared", "0"});
  m.attributes.push_back({"state", "started"});
  m.source = ubm::NodeId("NET-1");
  m.destination = ubm::NodeId("alice");
  m.items = {ubm::ItemId("SOFTINST-1"), ubm::ItemId("COMP-1/slappart0")};
  auto back = decode(m);
  ASSERT_TRUE(back.ok()) << back.error().detail;
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ(encode(**back, plain), encode(Fact{ubm::TimestampNs{7}, allocated}, plain));
}

}  // namespace
}  // namespace slap::market::testing
