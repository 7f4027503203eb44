#include <gtest/gtest.h>
#include <sys/stat.h>

#include "node/fetch.h"
#include "node/software.h"
#include "node/sys.h"
#include "tests/node/test_support.h"

namespace slap::node {
namespace {

using testing::TempDir;

struct Release {
  TempDir tmp;
  std::string url;
  Fetcher fetcher{HttpOptions{}};
  std::unique_ptr<SoftwareBuilder> builder;

  Release() {
    testing::sh(testing::examples_dir() + "/hello/make-release.sh " + tmp / "release" + " >/dev/null");
    url = "file://" + tmp / "release/software.cfg";
    builder = std::make_unique<SoftwareBuilder>(SoftwareOptions{tmp / "soft", std::nullopt, std::chrono::seconds(120)},
                                                [this](const std::string& u) { return fetcher.fetch(u); });
  }
};

TEST(Software, BuildsThePatchedExampleOnce) {
  Release r;
  auto first = r.builder->install(r.url);
  ASSERT_TRUE(first.ok()) << first.error().to_string() << "\n" << file_tail(r.builder->log_path(r.url), 3000);
  EXPECT_TRUE(*first);
  std::string dir = software_dir(r.tmp / "soft", r.url);
  EXPECT_EQ(dir, r.tmp / "soft/" + sha256_hex(r.url));
  std::string bin = dir + "/parts/hello/bin/hello";
  auto out = run_command(Command{.argv = {bin, "/dev/stdout", "--once"}, .capture = true});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->output, "hello, here is my patch\n");  // the patch was applied

  struct stat before {};
  ASSERT_EQ(::stat(bin.c_str(), &before), 0);
  auto second = r.builder->install(r.url);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);  // marked installed: not rebuilt
  struct stat after {};
  ASSERT_EQ(::stat(bin.c_str(), &after), 0);
  EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
  EXPECT_EQ(before.st_ino, after.st_ino);

  // The stored profile is what instances read: the merged view with the build directory.
  auto prof = installed_profile(r.tmp / "soft", r.url);
  ASSERT_TRUE(prof.ok());
  EXPECT_EQ(*prof->get("buildout", "directory"), dir);
  EXPECT_EQ(r.builder->known_releases().count(r.url), 1u);

  ASSERT_TRUE(r.builder->remove(r.url).ok());
  EXPECT_FALSE(software_installed(r.tmp / "soft", r.url));
}

TEST(Software, FailedBuildIsRetriedOnTheNextPass) {
  TempDir tmp;
  std::string flag = tmp / "allow";
  ASSERT_TRUE(write_file_atomic(tmp / "software.cfg",
                                "[buildout]\nparts = gate out\n[gate]\nrecipe = command\ncommand = test -f " + flag +
                                    " && echo gate open\n[out]\nrecipe = template\noutput = ${buildout:directory}/etc/x.conf\n"
                                    "inline = built in ${buildout:directory}\nmode = 0640\n")
                  .ok());
  std::string url = "file://" + tmp / "software.cfg";
  Fetcher f{HttpOptions{}};
  SoftwareBuilder b(SoftwareOptions{tmp / "soft", std::nullopt, std::chrono::seconds(60)},
                    [&](const std::string& u) { return f.fetch(u); });
  auto first = b.install(url);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, Errc::kBuild);
  EXPECT_FALSE(software_installed(tmp / "soft", url));
  EXPECT_NE(file_tail(b.log_path(url), 4000).find("build failed"), std::string::npos);

  ASSERT_TRUE(write_file_atomic(flag, "").ok());
  auto second = b.install(url);
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  EXPECT_TRUE(*second);
  auto conf = read_file(software_dir(tmp / "soft", url) + "/etc/x.conf");
  ASSERT_TRUE(conf.ok());
  EXPECT_EQ(*conf, "built in " + software_dir(tmp / "soft", url) + "\n");
}

TEST(Software, OutputsOutsideTheSoftwareDirectoryAreRefused) {
  TempDir tmp;
  ASSERT_TRUE(write_file_atomic(tmp / "software.cfg",
                                "[buildout]\nparts = evil\n[evil]\nrecipe = template\noutput = ${buildout:directory}/../../escape\ninline = x\n")
                  .ok());
  Fetcher f{HttpOptions{}};
  SoftwareBuilder b(SoftwareOptions{tmp / "soft", std::nullopt, std::chrono::seconds(60)},
                    [&](const std::string& u) { return f.fetch(u); });
  auto r = b.install("file://" + tmp / "software.cfg");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalid);
  EXPECT_FALSE(std::filesystem::exists(tmp / "escape"));
}

TEST(Software, ExtendedReleaseChangesADefault) {
  auto base = parse_flat_profile("", "x");  // keep the linker honest about profile.cc
  ASSERT_TRUE(base.ok());
  Fetcher f{HttpOptions{}};
  auto p = load_profile("file://" + testing::examples_dir() + "/memcached-large/software.cfg",
                        [&](const std::string& u) { return f.fetch(u); });
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  EXPECT_EQ(*p->get("default-parameters", "memory-mb"), "64");
  EXPECT_EQ(*p->get("default-parameters", "port"), "11211");
  EXPECT_NE(p->get("instance", "program.memcached"), nullptr);
  EXPECT_NE(p->get("instance", "connection.memory-mb"), nullptr);
}

}  // namespace
}  // namespace slap::node
