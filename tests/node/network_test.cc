// Partition networking: the IPv6 plan, what an unprivileged format declares, netlink reads, and —
// as root, in a network namespace of the test's own — taps, IPv4 + IPv6 on the interface, an
// idempotent re-format and the tap's byte counters as the report pass bills them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "node/config.h"
#include "node/format.h"
#include "node/net.h"
#include "node/net_usage.h"
#include "node/netlink.h"
#include "tests/node/root_env.h"
#include "tests/node/test_support.h"

namespace slap::node {
namespace {

using namespace std::chrono_literals;

NodeConfig net_config(const testing::TempDir& tmp, int partitions) {
  NodeConfig cfg;
  cfg.instance_root = tmp / "srv";
  cfg.software_root = tmp / "opt";
  cfg.run_dir = tmp / "run";
  cfg.partition_count = partitions;
  cfg.ipv4_range = "127.1.0.0/24";
  cfg.privilege = Privilege::kNo;
  return cfg;
}

std::string sh_out(const std::vector<std::string>& argv) {
  auto r = run_command(Command{.argv = argv, .capture = true, .timeout = 10s});
  return r && r->exit_code == 0 ? r->output : "";
}

TEST(Ipv6Plan, PartitionAddressesComeFromThePrefixDeterministically) {
  auto p = parse_ipv6_prefix("2001:db8:5a::1/64");
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  EXPECT_EQ(p->address(0), "2001:db8:5a::");
  EXPECT_EQ(p->partition_address(0), "2001:db8:5a::5170:1");
  EXPECT_EQ(p->partition_address(9999), "2001:db8:5a::5170:2710");
  EXPECT_EQ(p->netmask(), "ffff:ffff:ffff:ffff::");
  // Host bits of the given address do not matter: the same prefix gives the same plan.
  EXPECT_EQ(parse_ipv6_prefix("2001:db8:5a::abcd/64")->partition_address(3), "2001:db8:5a::5170:4");
  EXPECT_EQ(parse_ipv6_prefix("fd00:1:2:3:4:5::/96")->partition_address(0), "fd00:1:2:3:4:5:5170:1");
  EXPECT_FALSE(parse_ipv6_prefix("2001:db8::1/112").ok());  // the low 32 bits would not be ours
  EXPECT_FALSE(parse_ipv6_prefix("2001:db8::1").ok());
  EXPECT_FALSE(parse_ipv6_prefix("10.0.0.1/8").ok());
  EXPECT_FALSE(parse_ipv6_prefix("2001:db8::1/6x").ok());
}

TEST(Config, TapAndIpv6Keys) {
  NodeConfig cfg;
  EXPECT_FALSE(cfg.tap);
  EXPECT_TRUE(cfg.ipv6);
  ASSERT_TRUE(apply_config_text(cfg, "tap = yes\nipv6 = no\n", "t").ok());
  EXPECT_TRUE(cfg.tap);
  EXPECT_FALSE(cfg.ipv6);
  EXPECT_FALSE(apply_config_text(cfg, "tap = maybe\n", "t").ok());
}

// Not root (or told not to be): no tap, no IPv6, only the IPv4 plan on the configured interface.
TEST(UnprivilegedFormat, DeclaresLoopbackIpv4OnlyAndCreatesNoTap) {
  testing::TempDir tmp;
  NodeConfig cfg = net_config(tmp, 3);
  cfg.tap = true;   // asked for, but needs root: refused with a warning, nothing attempted
  cfg.ipv6 = true;
  auto r = format_partitions(cfg);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->created_taps, 0);
  EXPECT_EQ(r->added_addresses, 0);
  for (const auto& p : partition_layout(cfg)) {
    EXPECT_TRUE(p.tap.empty()) << p.id;
    EXPECT_TRUE(p.ipv6.empty()) << p.id;
  }
  auto decl = format_declaration(cfg);
  ASSERT_EQ(decl.size(), 3u);
  for (const auto& d : decl) {
    ASSERT_EQ(d.ips.size(), 1u) << d.partition_id;
    EXPECT_EQ(d.ips[0].interface_name, "lo");
    EXPECT_EQ(d.ips[0].address.rfind("127.1.0.", 0), 0u);
  }
}

TEST(Netlink, ReadsTheLoopbackInterface) {
  auto lo = get_link("lo");
  ASSERT_TRUE(lo.ok()) << lo.error().to_string();
  ASSERT_TRUE(lo->has_value());
  EXPECT_GT((*lo)->index, 0);
  EXPECT_EQ((*lo)->kind, "");
  auto none = get_link("slapnonexist0");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_FALSE(get_link("a-name-longer-than-ifnamsiz").ok());
  if ((*lo)->up) {
    auto addrs = list_addresses((*lo)->index);
    ASSERT_TRUE(addrs.ok()) << addrs.error().to_string();
    bool v4 = false;
    for (const auto& a : *addrs) v4 = v4 || (a.family == AF_INET && a.address == "127.0.0.1" && a.prefix == 8);
    EXPECT_TRUE(v4);
  }
  EXPECT_FALSE(tap_bytes("").has_value());
  EXPECT_FALSE(tap_bytes("slapnonexist0").has_value());
}

// An address of the plan that the host has already, and that slapnode did not add, is never given
// to a partition (it would share the host's, or another service's): the format is refused, naming
// it, before anything is added. Before, it was taken as present and the partition got it.
TEST(PrivilegedFormat, AnAddressTheHostHasAlreadyIsRefusedBeforeAnythingIsAdded) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: users and addresses need root (the unprivileged tests cover the rest)";
  for (const char* tool : {"/usr/sbin/useradd", "/usr/sbin/userdel"}) {
    if (::access(tool, X_OK) != 0) GTEST_SKIP() << tool << " is missing";
  }
  testing::UsersGuard users({"slapuser0", "slapuser1"});
  testing::NetnsGuard netns("slaphost-" + std::to_string(::getpid()));
  if (!netns.ok()) GTEST_SKIP() << "cannot use a network namespace here: " << netns.why();
  auto ip = [](std::vector<std::string> args) {
    args.insert(args.begin(), "ip");
    auto r = run_command(Command{.argv = args, .capture = true, .timeout = 10s});
    return r.ok() && r->exit_code == 0;
  };
  ASSERT_TRUE(ip({"addr", "add", "10.78.0.2/24", "dev", "lo"}));  // the host's own, in the plan's range
  testing::TempDir tmp;
  NodeConfig cfg = net_config(tmp, 2);
  cfg.ipv4_range = "10.78.0.0/24";
  cfg.privilege = Privilege::kYes;
  cfg.ipv6 = false;
  auto refused = format_partitions(cfg);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().detail.find("10.78.0.2 (slappart1) is already an address of this host, on lo"), std::string::npos)
      << refused.error().to_string();
  EXPECT_EQ(sh_out({"ip", "-o", "addr", "show", "dev", "lo"}).find("10.78.0.1/"), std::string::npos) << "nothing is added";
  // Without it: formatted, and again (its own addresses, recorded, are not the host's).
  ASSERT_TRUE(ip({"addr", "del", "10.78.0.2/24", "dev", "lo"}));
  auto first = format_partitions(cfg);
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  EXPECT_EQ(first->added_addresses, 2);
  auto again = format_partitions(cfg);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(again->added_addresses, 0);
  // Partitions formatted by an older slapnode (no record of what it added): its addresses on the
  // configured interface are taken as its own, once.
  std::filesystem::remove(cfg.state_root() + "/addresses.json");
  auto upgraded = format_partitions(cfg);
  ASSERT_TRUE(upgraded.ok()) << upgraded.error().to_string();
  EXPECT_TRUE(std::filesystem::exists(cfg.state_root() + "/addresses.json"));
  // Only the partitions it formatted: one added since (its directory not made yet) whose address
  // the host has is refused, record or not.
  ASSERT_TRUE(ip({"addr", "add", "10.78.0.3/24", "dev", "lo"}));
  cfg.partition_count = 3;
  std::filesystem::remove(cfg.state_root() + "/addresses.json");
  auto grown = format_partitions(cfg);
  ASSERT_FALSE(grown.ok());
  EXPECT_NE(grown.error().detail.find("10.78.0.3 (slappart2)"), std::string::npos) << grown.error().to_string();
  auto grown_again = format_partitions(cfg);  // a refused format recorded nothing: refused again, the same way
  ASSERT_FALSE(grown_again.ok());
  EXPECT_EQ(grown_again.error().detail, grown.error().detail);
  EXPECT_FALSE(std::filesystem::exists(cfg.state_root() + "/addresses.json"));
  EXPECT_FALSE(std::filesystem::exists(cfg.partition_path(2)));
}

TEST(PrivilegedFormat, InANetworkNamespaceTapsAndIpv4AndIpv6AreCreatedOnceAndBytesAreCounted) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: taps, users and addresses need root (the unprivileged tests cover the rest)";
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/net/tun is missing: no tap support here";
  for (const char* tool : {"/usr/sbin/useradd", "/usr/sbin/userdel"}) {
    if (::access(tool, X_OK) != 0) GTEST_SKIP() << tool << " is missing";
  }
  const int n = 2;
  testing::UsersGuard users({"slapuser0", "slapuser1"});
  testing::NetnsGuard netns("slapnet-" + std::to_string(::getpid()));
  if (!netns.ok()) GTEST_SKIP() << "cannot use a network namespace here: " << netns.why();
  // The namespace's lo gets a global IPv6 prefix, as a host's uplink would have.
  auto v6 = run_command(Command{.argv = {"ip", "-6", "addr", "add", "2001:db8:5a::1/64", "dev", "lo"}, .capture = true, .timeout = 10s});
  ASSERT_TRUE(v6.ok() && v6->exit_code == 0) << (v6 ? v6->output : v6.error().detail);

  testing::TempDir tmp;
  NodeConfig cfg = net_config(tmp, n);
  cfg.ipv4_range = "10.77.0.0/24";
  cfg.privilege = Privilege::kYes;
  cfg.tap = true;
  auto first = format_partitions(cfg);
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  EXPECT_EQ(first->created_taps, n);
  EXPECT_EQ(first->added_addresses, 2 * n);

  // Checked with iproute2, independently of slapnode's netlink code.
  const std::string addrs = sh_out({"ip", "-o", "addr", "show", "dev", "lo"});
  const std::string links = sh_out({"ip", "-d", "-o", "link", "show"});
  for (int k = 0; k < n; ++k) {
    const std::string tap = "slaptap" + std::to_string(k);
    EXPECT_NE(addrs.find("inet 10.77.0." + std::to_string(k + 1) + "/24"), std::string::npos) << addrs;
    EXPECT_NE(addrs.find("inet6 2001:db8:5a::5170:" + std::to_string(k + 1) + "/64"), std::string::npos) << addrs;
    const auto at = links.find(": " + tap + ": ");
    ASSERT_NE(at, std::string::npos) << links;
    const std::string line = links.substr(at, links.find('\n', at) - at);
    EXPECT_NE(line.find("tun type tap"), std::string::npos) << line;
    EXPECT_NE(line.find(",UP"), std::string::npos) << line;
    auto id = lookup_user("slapuser" + std::to_string(k));
    ASSERT_TRUE(id);
    auto li = get_link(tap);
    ASSERT_TRUE(li.ok() && li->has_value());
    EXPECT_EQ((*li)->kind, "tun");
    ASSERT_TRUE((*li)->tun_owner.has_value());
    EXPECT_EQ(*(*li)->tun_owner, id->uid);
  }

  // The declaration carries both addresses, on the partition's tap.
  auto decl = format_declaration(cfg);
  ASSERT_EQ(decl.size(), static_cast<size_t>(n));
  ASSERT_EQ(decl[1].ips.size(), 2u);
  EXPECT_EQ(decl[1].ips[0].address, "10.77.0.2");
  EXPECT_EQ(decl[1].ips[1].address, "2001:db8:5a::5170:2");
  EXPECT_EQ(decl[1].ips[1].netmask, "ffff:ffff:ffff:ffff::");
  EXPECT_EQ(decl[1].ips[1].network, "2001:db8:5a::");
  EXPECT_EQ(decl[1].ips[0].interface_name, "slaptap1");
  EXPECT_EQ(decl[1].ips[1].interface_name, "slaptap1");

  // Idempotent: a second format changes nothing (same interfaces, same addresses).
  const auto index0 = (*get_link("slaptap0"))->index;
  auto second = format_partitions(cfg);
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  EXPECT_EQ(second->created_taps, 0);
  EXPECT_EQ(second->added_addresses, 0);
  EXPECT_EQ(second->created_users, 0);
  EXPECT_EQ(second->created_dirs, 0);
  EXPECT_EQ((*get_link("slaptap0"))->index, index0);
  EXPECT_EQ(sh_out({"ip", "-o", "addr", "show", "dev", "lo"}), addrs);

  // Network bytes: the baseline set when an instance arrives, then what went through the tap.
  // Kept in the partition's state directory (slapnode's, out of slapuser0's reach), made on demand.
  const std::string state0 = cfg.partition_state_path(0);
  auto before = tap_bytes("slaptap0");
  ASSERT_TRUE(before.has_value());
  net_baseline(state0, "SOFTINST-1", *before);
  EXPECT_TRUE(std::filesystem::is_regular_file(state0 + "/net.json"));
  EXPECT_FALSE(std::filesystem::exists(cfg.partition_path(0) + "/.slapnode/net.json"));
  EXPECT_EQ(net_since_last(state0, "SOFTINST-1", *before, false), 0u);
  ASSERT_TRUE(testing::inject_tap_frames("slaptap0", 10, 100));
  auto after = tap_bytes("slaptap0");
  ASSERT_TRUE(after.has_value());
  EXPECT_GE(*after - *before, 1000u);  // the 10 frames (plus whatever IPv6 sent when the link came up)
  const uint64_t billed = net_since_last(state0, "SOFTINST-1", *after, true);
  EXPECT_EQ(billed, *after - *before);
  EXPECT_EQ(net_since_last(state0, "SOFTINST-1", *after, false), 0u);  // reported once
  // Another instance in the same partition starts from its own baseline, not the tap's history.
  EXPECT_EQ(net_since_last(state0, "SOFTINST-2", *after, false), 0u);

  // An interface with a tap's name that is not a tap (here a tun), or a tap of another user, is
  // refused with a clear error, never replaced.
  testing::UsersGuard more({"slapuser2"});
  cfg.partition_count = 3;
  auto tuntap = [](const std::vector<std::string>& args) {
    std::vector<std::string> argv{"ip", "tuntap"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(Command{.argv = argv, .capture = true, .timeout = 10s});
    return r && r->exit_code == 0;
  };
  ASSERT_TRUE(tuntap({"add", "dev", "slaptap2", "mode", "tun"}));
  auto not_tap = format_partitions(cfg);
  ASSERT_FALSE(not_tap.ok());
  EXPECT_NE(not_tap.error().detail.find("slaptap2 exists and is not a tap"), std::string::npos) << not_tap.error().to_string();
  ASSERT_TRUE(tuntap({"del", "dev", "slaptap2", "mode", "tun"}));
  ASSERT_TRUE(tuntap({"add", "dev", "slaptap2", "mode", "tap", "user", "0"}));
  auto foreign = format_partitions(cfg);
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.error().detail.find("tap slaptap2 is owned by uid 0"), std::string::npos) << foreign.error().to_string();
  ASSERT_TRUE(tuntap({"del", "dev", "slaptap2", "mode", "tap"}));
  auto fixed = format_partitions(cfg);
  ASSERT_TRUE(fixed.ok()) << fixed.error().to_string();
  EXPECT_EQ(fixed->created_taps, 1);
}

}  // namespace
}  // namespace slap::node
