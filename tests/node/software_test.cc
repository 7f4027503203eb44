#include <gtest/gtest.h>
#include <sys/stat.h>

#include "node/fetch.h"
#include "node/software.h"
#include "node/sys.h"
#include "tests/node/test_support.h"

namespace slap::node {
namespace {

using testing::TempDir;

bool inside_dir(const std::string& dir, const std::string& path) {
  return path.rfind(dir + "/", 0) == 0;
}

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

TEST(Software, BuildsThePatchedExampleAsTheBuildUser) {
  if (!running_as_root()) GTEST_SKIP() << "needs root to build under another uid";
  Release r;
  ::chmod(r.tmp.path().c_str(), 0755);
  const Identity as{64997, 64997};
  SoftwareBuilder b(SoftwareOptions{r.tmp / "soft", as, std::chrono::seconds(120)},
                    [&](const std::string& u) { return r.fetcher.fetch(u); });
  auto built = b.install(r.url);
  ASSERT_TRUE(built.ok()) << built.error().to_string() << "\n" << file_tail(b.log_path(r.url), 3000);
  std::string dir = software_dir(r.tmp / "soft", r.url);
  auto out = run_command(Command{.argv = {dir + "/parts/hello/bin/hello", "/dev/stdout", "--once"}, .capture = true});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->output, "hello, here is my patch\n");
  // Nothing in the tree is root's: the node made none of it.
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    struct stat st {};
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, as.uid) << e.path();
  }
  ASSERT_TRUE(b.remove(r.url).ok());
  EXPECT_FALSE(std::filesystem::exists(dir));
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

// A merged profile an instance pass could not read back (over 1 MiB: extends, substitutions) is
// a failed build, not a release marked installed that every instance pass then fails on.
TEST(Software, AMergedProfileTooLargeToReadBackIsAFailedBuild) {
  TempDir tmp;
  // Three files of 400 KB each: each is readable, their merge is not.
  std::string base;
  for (int f = 0; f < 3; ++f) {
    std::string text = "[buildout]\n";
    if (f > 0) text += "extends = part" + std::to_string(f - 1) + ".cfg\n";
    text += "[big" + std::to_string(f) + "]\n";
    for (int k = 0; text.size() < 400'000; ++k) text += "k" + std::to_string(k) + " = " + std::string(90, 'x') + "\n";
    ASSERT_TRUE(write_file_atomic(tmp / ("part" + std::to_string(f) + ".cfg"), text).ok());
  }
  ASSERT_TRUE(write_file_atomic(tmp / "software.cfg", "[buildout]\nextends = part2.cfg\nparts =\n").ok());
  const std::string url = "file://" + tmp / "software.cfg";
  Fetcher f{HttpOptions{}};
  SoftwareBuilder b(SoftwareOptions{tmp / "soft", std::nullopt, std::chrono::seconds(60)}, [&](const std::string& u) { return f.fetch(u); });
  auto r = b.install(url);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().detail.find("merged profile"), std::string::npos) << r.error().to_string();
  EXPECT_FALSE(software_installed(tmp / "soft", url));
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

// A build step runs as the build user, who owns the release directory: it may replace anything in
// it with a symlink. Nothing the node writes afterwards (log lines, downloads, the marker, the
// stored profile, a later part's output) may land where such a link points.
TEST(Software, SymlinksPlantedByABuildStepAreNeverFollowedByTheNode) {
  TempDir tmp;
  ::chmod(tmp.path().c_str(), 0755);  // the build user (privileged run) walks through it
  const std::string victim = tmp / "victim";
  ASSERT_TRUE(std::filesystem::create_directory(victim));
  ::chmod(victim.c_str(), 0755);  // like /etc: root's, not the build user's
  ASSERT_TRUE(write_file_atomic(tmp / "data.txt", "payload").ok());
  const std::string sum = sha256_hex("payload");
  // As root, builds run as a bare uid (the kernel needs no account); otherwise as this user.
  std::optional<Identity> as;
  if (running_as_root()) as = Identity{64997, 64997};
  Fetcher f{HttpOptions{}};
  SoftwareBuilder b(SoftwareOptions{tmp / "soft", as, std::chrono::seconds(60)},
                    [&](const std::string& u) { return f.fetch(u); });
  auto victim_is_empty = [&] { return std::filesystem::is_empty(victim); };
  const std::string plant = "[plant]\nrecipe = command\ncommand = rm -rf .slapnode .build && ln -s " + victim +
                            " .slapnode && ln -s " + victim + " .build\n";

  // The old records' place is a link to the victim: the records are elsewhere, the build succeeds.
  ASSERT_TRUE(write_file_atomic(tmp / "a.cfg", "[buildout]\nparts = plant get out say\n" + plant +
                                                   "[get]\nrecipe = download\nurl = data.txt\nsha256 = " + sum +
                                                   "\nlocation = ${buildout:directory}/files\n"
                                                   "[out]\nrecipe = template\noutput = ${buildout:directory}/files/x.conf\n"
                                                   "inline = x\n[say]\nrecipe = command\ncommand = echo said-in-the-log\n")
                  .ok());
  const std::string a = "file://" + tmp / "a.cfg";
  auto ra = b.install(a);
  ASSERT_TRUE(ra.ok()) << ra.error().to_string() << "\n" << file_tail(b.log_path(a), 3000);
  EXPECT_TRUE(victim_is_empty());
  const std::string dir = software_dir(tmp / "soft", a);
  EXPECT_FALSE(inside_dir(dir, b.log_path(a)));
  EXPECT_NE(file_tail(b.log_path(a), 4000).find("said-in-the-log"), std::string::npos);
  EXPECT_TRUE(software_installed(tmp / "soft", a));
  EXPECT_TRUE(installed_profile(tmp / "soft", a).ok());
  EXPECT_EQ(*read_file(dir + "/files/data.txt"), "payload");
  EXPECT_EQ(*read_file(dir + "/files/x.conf"), "x\n");
  struct stat st {};
  ASSERT_EQ(::stat(b.log_path(a).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  if (as) {  // the tree is the build user's, down to what the node put in it
    ASSERT_EQ(::lstat((dir + "/files/data.txt").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, as->uid);
    ASSERT_EQ(::lstat((dir + "/files/x.conf").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, as->uid);
  }
  ASSERT_TRUE(b.remove(a).ok());
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_FALSE(software_installed(tmp / "soft", a));
  EXPECT_EQ(b.known_releases().count(a), 0u);
  EXPECT_TRUE(victim_is_empty());

  if (!as) GTEST_SKIP() << "not root: the build user is this user, there is no privilege to abuse";
  // A later part's location, a cmmi build tree and a template's directory behind links to the
  // victim: written as the build user, who may not write there, so the build fails and the victim
  // stays empty.
  const char* later[] = {
      "[later]\nrecipe = download\nurl = data.txt\nsha256 = %s\nlocation = ${buildout:directory}/parts/later\n",
      "[later]\nrecipe = template\noutput = ${buildout:directory}/parts/x.conf\ninline = x\n",
      "[later]\nrecipe = extract\nurl = data.txt\nsha256 = %s\nlocation = ${buildout:directory}/parts/later\n",
      "[later]\nrecipe = cmmi\nurl = data.txt\nsha256 = %s\n",
  };
  int n = 0;
  for (const char* fmt : later) {
    std::string part = fmt;
    if (auto at = part.find("%s"); at != std::string::npos) part.replace(at, 2, sum);
    const std::string cfg = tmp / ("later" + std::to_string(n++) + ".cfg");
    ASSERT_TRUE(write_file_atomic(cfg, "[buildout]\nparts = plant links later\n" + plant +
                                           "[links]\nrecipe = command\ncommand = rm -rf parts && ln -s " + victim +
                                           " parts\n" + part)
                    .ok());
    auto r = b.install("file://" + cfg);
    EXPECT_FALSE(r.ok()) << part;
    EXPECT_TRUE(victim_is_empty()) << part;
    EXPECT_FALSE(software_installed(tmp / "soft", "file://" + cfg));
  }
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
