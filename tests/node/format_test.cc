#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "node/config.h"
#include "node/format.h"
#include "node/net.h"
#include "tests/node/test_support.h"

namespace slap::node {
namespace {

NodeConfig test_config(const testing::TempDir& tmp, int partitions) {
  NodeConfig cfg;
  cfg.instance_root = tmp / "srv";
  cfg.software_root = tmp / "opt";
  cfg.run_dir = tmp / "run";
  cfg.partition_count = partitions;
  cfg.ipv4_range = "127.1.0.0/24";
  cfg.privilege = Privilege::kNo;
  return cfg;
}

TEST(Format, CreatesPartitionsOnceAndIsIdempotent) {
  testing::TempDir tmp;
  NodeConfig cfg = test_config(tmp, 5);
  auto first = format_partitions(cfg);
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  EXPECT_EQ(first->created_dirs, 5);
  EXPECT_EQ(first->created_users, 0);  // unprivileged: nothing privileged attempted
  for (int i = 0; i < 5; ++i) {
    struct stat st {};
    ASSERT_EQ(::stat(cfg.partition_path(i).c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0750u);
  }
  // Data an instance wrote survives a second format.
  ASSERT_TRUE(write_file_atomic(cfg.partition_path(2) + "/data", "keep").ok());
  auto second = format_partitions(cfg);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->created_dirs, 0);
  EXPECT_TRUE(std::filesystem::exists(cfg.partition_path(2) + "/data"));
  // Growing the count adds only the new ones.
  cfg.partition_count = 7;
  auto third = format_partitions(cfg);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->created_dirs, 2);
}

TEST(Format, LayoutAndDeclarationUseTheAddressPlan) {
  testing::TempDir tmp;
  NodeConfig cfg = test_config(tmp, 3);
  auto layout = partition_layout(cfg);
  ASSERT_EQ(layout.size(), 3u);
  EXPECT_EQ(layout[0].id, "slappart0");
  EXPECT_EQ(layout[0].ipv4, "127.1.0.1");
  EXPECT_EQ(layout[2].ipv4, "127.1.0.3");
  EXPECT_TRUE(layout[0].user.empty());
  auto decl = format_declaration(cfg);
  ASSERT_EQ(decl.size(), 3u);
  EXPECT_EQ(decl[1].partition_id, "slappart1");
  EXPECT_EQ(decl[1].ips[0].address, "127.1.0.2");
  EXPECT_EQ(decl[1].ips[0].netmask, "255.255.255.0");
  EXPECT_EQ(decl[1].ips[0].network, "127.1.0.0");
}

TEST(Format, RefusesPlansThatDoNotFit) {
  testing::TempDir tmp;
  NodeConfig cfg = test_config(tmp, 300);
  EXPECT_FALSE(format_partitions(cfg).ok());
  cfg.partition_count = 3;
  cfg.ipv4_range = "127.1.0.0";
  EXPECT_FALSE(format_partitions(cfg).ok());
  cfg.ipv4_range = "127.1.0.0/24";
  cfg.instance_root = "relative/path";
  EXPECT_FALSE(format_partitions(cfg).ok());
}

TEST(Config, FileKeysAndErrors) {
  NodeConfig cfg;
  ASSERT_TRUE(apply_config_text(cfg,
                                "[slapnode]\nmaster_url = https://m:1\ncomputer_guid = COMP-9\npartition_count = 12\n"
                                "privileged = no\nreport_interval = 60\n",
                                "t")
                  .ok());
  EXPECT_EQ(cfg.master_url, "https://m:1");
  EXPECT_EQ(cfg.partition_count, 12);
  EXPECT_EQ(cfg.privilege, Privilege::kNo);
  EXPECT_FALSE(cfg.privileged());
  EXPECT_FALSE(apply_config_text(cfg, "typo_key = 1\n", "t").ok());
  EXPECT_FALSE(apply_config_text(cfg, "partition_count = many\n", "t").ok());
  EXPECT_FALSE(apply_config_text(cfg, "[other]\nx = 1\n", "t").ok());
}

// Builds run as software_user to keep root's power out of them, and the software and instance
// trees are wiped by different passes: a configuration undoing either is refused.
TEST(Config, RefusesARootOrPartitionBuildUserAndNestedTrees) {
  NodeConfig cfg;
  cfg.instance_root = "/srv/slapgrid";
  cfg.software_root = "/opt/slapgrid";
  cfg.run_dir = "/run/slapnode";
  cfg.privilege = Privilege::kYes;
  ASSERT_TRUE(validate_config(cfg, false).ok()) << validate_config(cfg, false).error().to_string();
  for (const char* user : {"root", "slapuser0", "slapuser12", "", "Bad Name", "../x", "$"}) {
    NodeConfig c = cfg;
    c.software_user = user;
    EXPECT_FALSE(validate_config(c, false).ok()) << "'" << user << "'";
    c.privilege = Privilege::kNo;  // unprivileged, nobody is built as: not checked
    EXPECT_TRUE(validate_config(c, false).ok()) << "'" << user << "' unprivileged";
  }
  for (const char* user : {"slapsoft", "_build", "slapuser", "builder-2", "Build.er", "svc$"}) {
    NodeConfig c = cfg;
    c.software_user = user;
    EXPECT_TRUE(validate_config(c, false).ok()) << "'" << user << "'";
  }
  for (const char* run : {"/opt/slapgrid", "/srv/slapgrid/"}) {
    NodeConfig c = cfg;
    c.run_dir = run;
    EXPECT_FALSE(validate_config(c, false).ok()) << run << ": a lock twice in one directory";
  }
  for (auto [software, instance] : {std::pair{"/srv/slapgrid", "/srv/slapgrid"}, {"/srv/slapgrid/soft", "/srv/slapgrid"},
                                    {"/srv/a", "/srv/a/parts/"}, {"/srv/a/", "/srv/a"}}) {
    NodeConfig c = cfg;
    c.software_root = software;
    c.instance_root = instance;
    EXPECT_FALSE(validate_config(c, false).ok()) << software << " and " << instance;
  }
  NodeConfig talks = cfg;
  talks.master_url = "https://master.example:8443";
  talks.computer_guid = "COMP-1";
  talks.ca = "/etc/slapledger/ca.crt";
  EXPECT_TRUE(validate_config(talks, true).ok());
  NodeConfig no_ca = talks;
  no_ca.ca.clear();
  EXPECT_FALSE(validate_config(no_ca, true).ok()) << "the system trust store would vouch for anyone but the master";
  NodeConfig plain = talks;
  plain.master_url = "http://master.example:8080";
  EXPECT_FALSE(validate_config(plain, true).ok());
  NodeConfig siblings = cfg;
  siblings.software_root = "/srv/slapgrid-soft";
  siblings.instance_root = "/srv/slapgrid";
  EXPECT_TRUE(validate_config(siblings, false).ok()) << "a common prefix is not nesting";
}

TEST(Net, ParsesRanges) {
  auto r = parse_ipv4_range("10.0.1.7/24");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->network(), "10.0.1.0");
  EXPECT_EQ(r->address(5), "10.0.1.5");
  EXPECT_EQ(r->size(), 256u);
  EXPECT_FALSE(parse_ipv4_range("10.0.1.0/33").ok());
  EXPECT_FALSE(parse_ipv4_range("300.0.1.0/24").ok());
}

}  // namespace
}  // namespace slap::node
