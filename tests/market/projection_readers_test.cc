// The in-place readers the API renders from (InstanceRegistry::read, ComputerView::read_partition
// and Partition::for_each_address) give what the copying accessors give, without the copies.
#include <gtest/gtest.h>

#include <unordered_map>

#include "market_fixture.h"

namespace slap::market::testing {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs addresses_of(const Market& m, const std::string& computer, const std::string& ref, bool* found = nullptr) {
  Pairs out;
  const bool ok = m.computers().read_partition(computer, ref, [&](const ComputerView::Partition& p) {
    p.for_each_address([&](std::string_view iface, std::string_view a) { out.emplace_back(iface, a); });
  });
  if (found != nullptr) *found = ok;
  return out;
}

class ProjectionReaders : public ::testing::Test {
 protected:
  void SetUp() override {
    w.party("owner");
    w.party("alice");
    w.party("bob");
    w.computer("COMP-1", 1);
    w.ok(DeclareCapacity{"COMP-1",
                         {PartitionSpec{"slappart0", {"10.0.0.1", "10.0.0.2"}, {"2001:db8::1"}, "tap0"},
                          PartitionSpec{"slappart1", {}, {"2001:db8::2", "2001:db8::3"}, ""},
                          PartitionSpec{"slappart2", {}, {}, ""}}});
    w.supply("COMP-1");
  }
  World w;
};

TEST_F(ProjectionReaders, EachAddressComesWithItsInterfaceIpv4First) {
  EXPECT_EQ(addresses_of(w.market(), "COMP-1", "slappart0"),
            (Pairs{{"tap0", "10.0.0.1"}, {"tap0", "10.0.0.2"}, {"tap0", "2001:db8::1"}}));
  // No tap: the partition's reference names the interface.
  EXPECT_EQ(addresses_of(w.market(), "COMP-1", "slappart1"), (Pairs{{"slappart1", "2001:db8::2"}, {"slappart1", "2001:db8::3"}}));
  // The same as the expanded declaration says.
  const auto computer = w.market().computers().get("COMP-1");
  ASSERT_TRUE(computer);
  const auto* partition = computer->partition("slappart1");
  ASSERT_NE(partition, nullptr);
  EXPECT_EQ(partition->spec().ipv6, (std::vector<std::string>{"2001:db8::2", "2001:db8::3"}));
}

TEST_F(ProjectionReaders, APartitionWithoutAddressesListsNoneAndUnknownOnesAreNotFound) {
  bool found = false;
  EXPECT_TRUE(addresses_of(w.market(), "COMP-1", "slappart2", &found).empty());
  EXPECT_TRUE(found);
  addresses_of(w.market(), "COMP-1", "slappart9", &found);
  EXPECT_FALSE(found);
  addresses_of(w.market(), "COMP-9", "slappart0", &found);
  EXPECT_FALSE(found);
}

TEST_F(ProjectionReaders, AnInstanceViewNamesItsRootTitleAndWhereItRuns) {
  const Outcome root = w.request("root");
  const Outcome child = w.request("child", {}, root.instance);
  const Outcome grandchild = w.request("grandchild", {}, child.instance);
  std::string title, computer, partition;
  auto look = [&](const std::string& guid) {
    return w.market().instances().read(guid, [&](const InstanceRegistry::View& v) {
      title = v.root_title;
      computer = v.computer;
      partition = v.partition;
    });
  };
  ASSERT_TRUE(look(grandchild.instance));
  EXPECT_EQ(title, "root");
  EXPECT_EQ(computer, "COMP-1");
  EXPECT_EQ(partition, w.market().instances().get(grandchild.instance)->partition);
  ASSERT_TRUE(look(root.instance));
  EXPECT_EQ(title, "root");  // a root is its own root
  EXPECT_FALSE(look("SOFTINST-999"));
}

TEST_F(ProjectionReaders, ASharedInstanceRunsWhereItsHostRuns) {
  const Outcome host = w.request("frontend", {}, "alice", false, RequestedState::started, {}, kRelease, "frontend");
  const Outcome shared = w.request("site", {}, "bob", true, RequestedState::started, {}, kRelease, "frontend");
  ASSERT_EQ(shared.host, host.instance);
  std::string computer, partition;
  ASSERT_TRUE(w.market().instances().read(shared.instance, [&](const InstanceRegistry::View& v) {
    EXPECT_TRUE(v.instance.computer.empty());  // it holds no partition itself
    computer = v.computer;
    partition = v.partition;
  }));
  EXPECT_EQ(computer, "COMP-1");
  EXPECT_EQ(partition, w.market().instances().get(host.instance)->partition);
}

// Partitions are found through a 32-bit hash of their ref: two refs whose hashes collide are both
// found, each as itself, before and after a restore from the checkpoint bytes.
TEST_F(ProjectionReaders, PartitionsWhoseRefHashesCollideAreEachFound) {
  std::unordered_map<uint32_t, std::string> seen;
  std::string a, b;
  for (int i = 0; a.empty(); ++i) {  // ~2^16 refs by the birthday bound
    std::string ref = "part-" + std::to_string(i);
    const auto h = static_cast<uint32_t>(std::hash<std::string_view>{}(ref));
    if (auto [it, fresh] = seen.emplace(h, ref); !fresh) a = it->second, b = ref;
  }
  DeclareCapacity d{"COMP-1", {}};
  for (int i = 0; i < 50; ++i) d.partitions.push_back(PartitionSpec{"filler" + std::to_string(i), {"10.1.0." + std::to_string(i)}, {}, ""});
  d.partitions.push_back(PartitionSpec{a, {"10.2.0.1"}, {}, ""});
  d.partitions.push_back(PartitionSpec{b, {"10.2.0.2"}, {}, ""});
  w.ok(d);
  auto check = [&](const Market& m) {
    EXPECT_EQ(addresses_of(m, "COMP-1", a), (Pairs{{a, "10.2.0.1"}})) << a << " / " << b;
    EXPECT_EQ(addresses_of(m, "COMP-1", b), (Pairs{{b, "10.2.0.2"}})) << a << " / " << b;
    EXPECT_EQ(addresses_of(m, "COMP-1", "filler7"), (Pairs{{"filler7", "10.1.0.7"}}));
    EXPECT_EQ(addresses_of(m, "COMP-1", "slappart0"), (Pairs{{"tap0", "10.0.0.1"}, {"tap0", "10.0.0.2"}, {"tap0", "2001:db8::1"}}));
  };
  check(w.market());
  // Re-declaring one of them updates it in place (no second partition of that ref).
  w.ok(DeclareCapacity{"COMP-1", {PartitionSpec{b, {"10.2.0.3"}, {}, ""}}});
  EXPECT_EQ(addresses_of(w.market(), "COMP-1", b), (Pairs{{b, "10.2.0.3"}}));
  EXPECT_EQ(w.market().computers().get("COMP-1")->partitions.size(), 3u + 50u + 2u);
  // A market restored from the checkpoint bytes indexes them again.
  ASSERT_TRUE(w.market().checkpoint());
  Market restored(MarketOptions{.clock = &w.clock});
  auto reopened = ledger::Ledger::open({.storage = std::shared_ptr<ledger::Storage>(&w.storage(), [](ledger::Storage*) {}), .clock = &w.clock,
                                        .projections = restored.projections()});
  ASSERT_TRUE(reopened) << reopened.error().to_string();
  EXPECT_EQ(addresses_of(restored, "COMP-1", a), (Pairs{{a, "10.2.0.1"}}));
  EXPECT_EQ(addresses_of(restored, "COMP-1", b), (Pairs{{b, "10.2.0.3"}}));
  w.expect_replay_equal();
}

}  // namespace
}  // namespace slap::market::testing
