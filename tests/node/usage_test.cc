#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>
#include <cstdlib>
#include <pugixml.hpp>

#include "node/config.h"
#include "node/instance.h"
#include "node/profile.h"
#include "node/supervisor.h"
#include "node/sys.h"
#include "node/usage.h"
#include "tests/node/test_support.h"

namespace slap::node {
namespace {

using namespace std::chrono_literals;

// A child that burns CPU and holds memory, with a grandchild; killed at the end of the test.
struct Burner {
  pid_t pid = -1;
  Burner() {
    pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      if (::fork() == 0) {
        for (;;) ::pause();
      }
      volatile char* mem = static_cast<volatile char*>(std::malloc(8 << 20));
      for (size_t i = 0; i < (8u << 20); i += 512) mem[i] = 1;  // 8 MiB touched
      volatile uint64_t x = mem[100];
      for (;;) x = x * 3 + 1;
    }
    ::setpgid(pid, pid);
  }
  ~Burner() {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

TEST(Usage, MeasuresARealChildProcess) {
  Burner b;
  ASSERT_TRUE(testing::wait_for(
      [&] {
        auto s = sample_process(b.pid);
        return s.ok() && s->cpu_ticks >= 5;
      },
      20s));
  auto s = sample_process(b.pid);
  ASSERT_TRUE(s.ok());
  EXPECT_GE(s->rss_bytes, 8u << 20);
  EXPECT_GT(s->start_ticks, 0u);
  std::vector<pid_t> tree;
  ASSERT_TRUE(testing::wait_for([&] { tree = process_tree({b.pid}); return tree.size() == 2; }, 10s));
  EXPECT_EQ(tree[0], b.pid);
  EXPECT_FALSE(sample_process(999999999).ok());

  // Deltas: the first sample counts everything, the next only what was burned since.
  // Kept in the partition's state directory (slapnode's, mode 0700), created when first persisted.
  testing::TempDir tmp;
  NodeConfig cfg;
  cfg.instance_root = tmp / "srv";
  std::filesystem::create_directories(cfg.instance_root);
  const std::string state = cfg.partition_state_path(0);
  auto first = cpu_since_last(state, {*s}, 1000, true);
  EXPECT_TRUE(std::filesystem::is_regular_file(state + "/usage.json"));
  EXPECT_EQ(first.previous_time, 0);
  EXPECT_NEAR(first.cpu_seconds, static_cast<double>(s->cpu_ticks) / clock_ticks_per_second(), 1e-9);
  auto later = *s;
  later.cpu_ticks += 50;
  auto second = cpu_since_last(state, {later}, 1060, true);
  EXPECT_EQ(second.previous_time, 1000);
  EXPECT_NEAR(second.cpu_seconds, 50.0 / clock_ticks_per_second(), 1e-9);
}

// With a CPU group, a partition's CPU is the group's counter since the baseline's reading of it,
// plus the ticks of processes outside the group; a process inside is not counted twice.
TEST(Usage, AGroupsCounterIsBilledFromTheBaselinesReading) {
  testing::TempDir tmp;
  NodeConfig cfg;
  cfg.instance_root = tmp / "srv";
  std::filesystem::create_directories(cfg.instance_root);
  const std::string state = cfg.partition_state_path(0);
  const double tick = 1.0 / static_cast<double>(clock_ticks_per_second());
  const ProcessSample inside{100, 7, 400, 1 << 20, true}, outside{200, 9, 30, 2 << 20, false};
  GroupReading g{42, 5'000'000};
  start_cpu_baseline(state, "SOFTINST-1", 1000, &g);
  g.usage_us += 2'500'000;  // 2.5 s in the group since the instance started
  auto d = cpu_since_last(state, {inside, outside}, 1060, true, "SOFTINST-1", &g);
  EXPECT_EQ(d.previous_time, 1000);
  EXPECT_NEAR(d.cpu_seconds, 2.5 + 30 * tick, 1e-9) << "the process inside is the group's; the one outside counts from its start";
  EXPECT_EQ(d.rss_bytes, 3u << 20);
  // Next period: the group's counter since the last reading, the outside process since its sample.
  g.usage_us += 1'000'000;
  auto later = outside;
  later.cpu_ticks += 10;
  d = cpu_since_last(state, {inside, later}, 1120, true, "SOFTINST-1", &g);
  EXPECT_NEAR(d.cpu_seconds, 1.0 + 10 * tick, 1e-9);
  // What the node carried into the group since (processes moved in between two measurements).
  g.carry_us += 200'000;
  d = cpu_since_last(state, {}, 1150, true, "SOFTINST-1", &g);
  EXPECT_NEAR(d.cpu_seconds, 0.2, 1e-9);
  // A group made again (another id: made anew, or a reboot) since the baseline: its whole kernel
  // counter is new; the carry, the node's own, only since the baseline.
  const GroupReading again{43, 300'000, g.carry_us + 50'000};
  d = cpu_since_last(state, {}, 1180, true, "SOFTINST-1", &again);
  EXPECT_NEAR(d.cpu_seconds, 0.35, 1e-9);
  // The group gone: processes go on from their own last samples, not from their start.
  auto gone_inside = inside;
  gone_inside.cpu_ticks += 20;
  (void)cpu_since_last(state, {gone_inside}, 1240, true, "SOFTINST-1", &again);  // sampled while inside
  gone_inside.in_group = false;
  gone_inside.cpu_ticks += 5;
  d = cpu_since_last(state, {gone_inside}, 1300, true, "SOFTINST-1", nullptr);
  EXPECT_NEAR(d.cpu_seconds, 5 * tick, 1e-9);
  // A baseline that read no group (an older slapnode, or none then) bills none of a group's
  // counter (it may hold what a predecessor used): the processes in it are billed on their own.
  const std::string other = cfg.partition_state_path(1);
  start_cpu_baseline(other, "SOFTINST-2", 1000);
  d = cpu_since_last(other, {inside}, 1060, true, "SOFTINST-2", &g);
  EXPECT_EQ(d.previous_time, 1000);
  EXPECT_NEAR(d.cpu_seconds, 400 * tick, 1e-9) << "the process in the group billed on its own, once more";
  // From then on, the group's counter.
  g.usage_us += 700'000;
  auto inside_later = inside;
  inside_later.cpu_ticks += 70;
  d = cpu_since_last(other, {inside_later}, 1120, true, "SOFTINST-2", &g);
  EXPECT_NEAR(d.cpu_seconds, 0.7, 1e-9);
}

// The kernel's own count: a child that burned CPU and exited is still in its group's counter,
// where sampling /proc finds nothing left of it. Needs root and a writable cgroup hierarchy.
TEST(Usage, AGroupCountsTheCpuOfAProcessThatExited) {
  testing::TempDir tmp;
  auto groups = CpuGroups::open(tmp / "srv");
  if (!groups) GTEST_SKIP() << "no writable cgroup hierarchy here (or not root): CPU is sampled per process";
  ASSERT_TRUE(groups->ensure("slappart0").ok());
  const auto before = groups->read("slappart0");
  ASSERT_TRUE(before.has_value());
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    char c;
    (void)::read(go[0], &c, 1);  // moved into the group first
    const auto start = std::chrono::steady_clock::now();
    volatile uint64_t x = 1;
    while (std::chrono::steady_clock::now() - start < 400ms) x = x * 3 + 1;  // ~0.4 s of CPU
    ::_exit(0);
  }
  const auto moved = groups->adopt("slappart0", {child});
  ASSERT_TRUE(moved.ok());
  ASSERT_EQ(*moved, 1u);
  EXPECT_EQ(groups->members("slappart0"), std::set<pid_t>{child});
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  int status = 0;
  rusage ru{};
  ASSERT_EQ(::wait4(child, &status, 0, &ru), child);  // the child's own CPU, as the kernel counted it
  const uint64_t child_us = static_cast<uint64_t>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000 +
                            static_cast<uint64_t>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  ::close(go[0]);
  ::close(go[1]);
  EXPECT_FALSE(sample_process(child).ok()) << "gone: nothing left to sample";
  const auto after = groups->read("slappart0");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->id, before->id);
  // All of the child's CPU (it ran only inside the group), whatever the machine's load; the two
  // clocks differ by their resolution (ticks in rusage), not by a share.
  ASSERT_GT(child_us, 20'000u);
  EXPECT_GE(after->usage_us - before->usage_us + 20'000, child_us) << "the exited child's CPU is in its group's counter";
  EXPECT_TRUE(groups->members("slappart0").empty());
  EXPECT_TRUE(groups->remove_all().ok());
  EXPECT_FALSE(std::filesystem::exists(groups->directory()));
}

// A process moved into its group between two measurements (after an instance pass) brings what it
// used since its last sample into the group's count: the kernel's counter never saw it.
TEST(Usage, AProcessMovedInCarriesWhatItUsedSinceItsLastSample) {
  testing::TempDir tmp;
  auto groups = CpuGroups::open(tmp / "srv");
  if (!groups) GTEST_SKIP() << "no writable cgroup hierarchy here (or not root): CPU is sampled per process";
  NodeConfig cfg;
  cfg.instance_root = tmp / "srv";
  std::filesystem::create_directories(cfg.instance_root);
  const std::string state = cfg.partition_state_path(0);
  const pid_t child = ::fork();
  if (child == 0) {
    const auto start = std::chrono::steady_clock::now();
    volatile uint64_t x = 1;
    while (std::chrono::steady_clock::now() - start < 600ms) x = x * 3 + 1;
    for (;;) ::pause();
  }
  auto ticks = [&] { auto s = sample_process(child); return s.ok() ? s->cpu_ticks : 0; };
  ASSERT_TRUE(testing::wait_for([&] { return ticks() >= 10; }, 20s));
  auto first = sample_process(child);
  ASSERT_TRUE(first.ok());
  (void)cpu_since_last(state, {*first}, 1000, true, "SOFTINST-1");  // billed up to here
  // Spun out (its ticks no longer move), then moved in.
  uint64_t settled = 0;
  ASSERT_TRUE(testing::wait_for([&] {
    const uint64_t a = ticks();
    std::this_thread::sleep_for(50ms);
    settled = ticks();
    return settled == a;
  }, 20s));
  ASSERT_GT(settled, first->cpu_ticks);
  ASSERT_TRUE(adopt_with_carry(*groups, "slappart0", state, {child}).ok());
  EXPECT_EQ(groups->members("slappart0"), std::set<pid_t>{child});
  const auto kernel = groups->read("slappart0");
  const auto counted = read_group(*groups, "slappart0", state);
  ASSERT_TRUE(kernel.has_value() && counted.has_value());
  const double tick_us = 1e6 / static_cast<double>(clock_ticks_per_second());
  EXPECT_EQ(counted->usage_us, kernel->usage_us);
  EXPECT_NEAR(static_cast<double>(counted->carry_us), static_cast<double>(settled - first->cpu_ticks) * tick_us, tick_us)
      << "only what it used since its sample in the baseline, not since its start";
  // Moved already: asked again (the next instance pass), nothing more is carried.
  ASSERT_TRUE(adopt_with_carry(*groups, "slappart0", state, {child}).ok());
  EXPECT_EQ(read_group(*groups, "slappart0", state)->carry_us, counted->carry_us);
  // A zombie (exited, not reaped) is neither moved nor carried: the group may have its CPU.
  const pid_t dead = ::fork();
  if (dead == 0) {
    const auto start = std::chrono::steady_clock::now();
    volatile uint64_t x = 1;
    while (std::chrono::steady_clock::now() - start < 100ms) x = x * 3 + 1;
    ::_exit(0);
  }
  ASSERT_TRUE(testing::wait_for([&] { auto s = sample_process(dead); return s.ok() && s->zombie; }, 10s));
  ASSERT_TRUE(adopt_with_carry(*groups, "slappart0", state, {dead}).ok());
  EXPECT_EQ(read_group(*groups, "slappart0", state)->carry_us, counted->carry_us);
  ::waitpid(dead, nullptr, 0);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_TRUE(testing::wait_for([&] { return groups->remove_all().ok(); }, 10s));
}

// slapnode-launch (what supervisord runs every program through where slapnode keeps CPU groups):
// the program it becomes runs inside the partition's group, as the partition's user with that
// user's groups only.
// slapnode-launch run with `args`, its output (stdout and stderr) captured.
Result<CommandResult> launch(std::vector<std::string> args) {
  Command c;
  c.argv = std::move(args);
  c.argv.insert(c.argv.begin(), SLAPNODE_LAUNCH);
  c.capture = true;
  c.timeout = 20s;
  return run_command(c);
}

// The node's groups with slappart0 made, and the user the programs become (nobody).
class LauncherInGroup : public ::testing::Test {
 protected:
  testing::TempDir tmp;
  std::unique_ptr<CpuGroups> groups;
  std::optional<Identity> nobody;
  void SetUp() override {
    groups = CpuGroups::open(tmp / "srv");
    if (!groups) GTEST_SKIP() << "no writable cgroup hierarchy here (or not root)";
    nobody = lookup_user("nobody");
    ASSERT_TRUE(nobody.has_value());
    ASSERT_TRUE(groups->ensure("slappart0").ok());
  }
  void TearDown() override {
    if (groups) {
      EXPECT_TRUE(testing::wait_for([&] { return groups->remove_all().ok(); }, 10s));
    }
  }
};

TEST_F(LauncherInGroup, JoinsTheGroupThenBecomesTheUserThenRunsTheProgram) {
  auto r = launch({"--group", groups->path("slappart0"), "--user", "nobody", "--", "/bin/sh", "-c", "id -u; id -G; cat /proc/self/cgroup"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->output;
  std::istringstream lines(r->output);
  std::string uid, gids, line;
  std::getline(lines, uid);
  std::getline(lines, gids);
  EXPECT_EQ(uid, std::to_string(nobody->uid));
  EXPECT_EQ(gids, std::to_string(nobody->gid)) << "root's groups must not follow it";
  const std::string inside = groups->path("slappart0").substr(groups->path("slappart0").find("/slapnode-"));
  bool in_group = false;
  while (std::getline(lines, line)) in_group = in_group || line.ends_with(inside);
  EXPECT_TRUE(in_group) << r->output;
}

// The real supervisord running a program through the launcher, as a partition with a user of its
// own has it: the program runs as that user (not root, whom supervisord runs the launcher as),
// inside the group, and so does the process supervisord starts again after it died.
TEST_F(LauncherInGroup, UnderSupervisordEachStartRunsAsThePartitionsUserInsideItsGroup) {
  Supervisor sup(tmp / "run");
  ASSERT_TRUE(sup.ensure_running().ok());
  ProgramSpec p;
  p.name = "sleeper";
  p.command = shell_quote(SLAPNODE_LAUNCH) + " --group " + shell_quote(groups->path("slappart0")) + " --user nobody -- /bin/sleep 1000";
  p.directory = "/";
  p.startsecs = 0;
  ASSERT_TRUE(sup.apply_group("slappart0", {p}).ok());
  ASSERT_TRUE(sup.start_group("slappart0").ok());
  auto running = [&](int other) {
    int pid = 0;
    EXPECT_TRUE(testing::wait_for([&] {
      auto s = sup.status();
      if (!s.ok() || !s->count("slappart0:slappart0-sleeper")) return false;
      const auto& st = s->at("slappart0:slappart0-sleeper");
      pid = st.pid;
      if (st.state != "RUNNING" || pid <= 0 || pid == other) return false;
      auto comm = read_file("/proc/" + std::to_string(pid) + "/comm", 64);  // the launcher has become sleep
      return comm.ok() && *comm == "sleep\n";
    }, 20s));
    return pid;
  };
  auto expect_as_nobody_inside = [&](int pid) {
    auto status = read_file("/proc/" + std::to_string(pid) + "/status", 1 << 16);
    ASSERT_TRUE(status.ok());
    const std::string id = std::to_string(nobody->uid), gid = std::to_string(nobody->gid);
    EXPECT_NE(status->find("\nUid:\t" + id + "\t" + id + "\t" + id + "\t" + id + "\n"), std::string::npos) << *status;
    EXPECT_NE(status->find("\nGid:\t" + gid + "\t" + gid + "\t" + gid + "\t" + gid + "\n"), std::string::npos) << *status;
    EXPECT_NE(status->find("\nGroups:\t" + gid + " \n"), std::string::npos) << *status;
    EXPECT_EQ(groups->members("slappart0"), std::set<pid_t>{pid});
  };
  const int first = running(0);
  ASSERT_GT(first, 0);
  expect_as_nobody_inside(first);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  const int second = running(first);
  ASSERT_GT(second, 0);
  expect_as_nobody_inside(second);
  EXPECT_TRUE(sup.shutdown().ok());
}

// If the user cannot be taken on, nothing runs (never the program as root).
TEST(Launcher, RunsNothingWhenTheUserCannotBeTaken) {
  if (!running_as_root()) GTEST_SKIP() << "dropping to a user needs root";
  testing::TempDir tmp;
  auto r = launch({"--group", tmp / "no-such-group", "--user", "no-such-user-slapnode", "--", "/bin/echo", "ran"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 126);
  EXPECT_EQ(r->output.find("ran\n"), std::string::npos) << r->output;
  EXPECT_NE(r->output.find("no user 'no-such-user-slapnode'"), std::string::npos) << r->output;
}

// A group it cannot join (gone after a reboot) does not keep the program from running: slapnode
// moves it at its next pass. Bad arguments run nothing.
TEST(Launcher, RunsTheProgramWhenItCannotJoinTheGroupAndNothingOnBadArguments) {
  testing::TempDir tmp;
  auto r = launch({"--group", tmp / "no-such-group", "--", "/bin/echo", "ran"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_NE(r->output.find("cannot join"), std::string::npos) << r->output;
  EXPECT_NE(r->output.find("ran\n"), std::string::npos) << r->output;
  for (std::vector<std::string> bad : {std::vector<std::string>{"--", "/bin/echo", "ran"},
                                       {"--group", "relative", "--", "/bin/echo", "ran"},
                                       {"--group", tmp.path(), "--user", "", "--", "/bin/echo", "ran"},
                                       {"--group", tmp.path(), "--"},
                                       {"--group", tmp.path(), "--what", "x", "--", "/bin/echo", "ran"}}) {
    r = launch(bad);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 2) << r->output;
    EXPECT_EQ(r->output.find("ran\n"), std::string::npos) << r->output;
  }
}

// What supervisord checked before starting a program itself, slapnode checks before it starts the
// launcher in its place: a command it cannot find or run fails the instance, as it did.
TEST(Launcher, ACommandThatCannotRunIsRefusedBeforeTheLauncherStarts) {
  testing::TempDir tmp;
  std::filesystem::create_directories(tmp / "bin");
  ASSERT_TRUE(write_file_atomic(tmp / "bin/run me", "#!/bin/sh\n", 0755).ok());
  ASSERT_TRUE(write_file_atomic(tmp / "bin/data", "", 0644).ok());
  EXPECT_TRUE(runnable_command("sleep 10", tmp.path()).ok()) << "found in PATH";
  EXPECT_TRUE(runnable_command("  /bin/sh -c 'exit 1'", tmp.path()).ok());
  EXPECT_TRUE(runnable_command("'bin/run me' --flag", tmp.path()).ok()) << "relative to the program's directory, quoted";
  EXPECT_TRUE(runnable_command("\"bin/run me\"", tmp.path()).ok());
  EXPECT_TRUE(runnable_command("bin/run\\ me", tmp.path()).ok());
  EXPECT_TRUE(runnable_command("b'in'/\"run me\"", tmp.path()).ok()) << "quotes joined in one word";
  EXPECT_FALSE(runnable_command("/nonexistent/bin", tmp.path()).ok());
  EXPECT_FALSE(runnable_command("no-such-command-slapnode --x", tmp.path()).ok());
  EXPECT_FALSE(runnable_command("bin/data", tmp.path()).ok()) << "not executable";
  EXPECT_FALSE(runnable_command("bin", tmp.path()).ok()) << "a directory";
  EXPECT_FALSE(runnable_command("bin/run me", tmp.path()).ok()) << "the first word is bin/run";
  EXPECT_FALSE(runnable_command("'bin/run me", tmp.path()).ok()) << "an unclosed quote";
  EXPECT_FALSE(runnable_command("   ", tmp.path()).ok());
}

// supervisord runs the launcher as root: one that anyone but root could replace is not used.
TEST(Launcher, OnlyALauncherNobodyButRootCanChangeIsUsed) {
  if (!running_as_root()) GTEST_SKIP() << "the launcher is used as root only";
  testing::TempDir tmp;
  ::chmod(tmp.path().c_str(), 0755);
  const std::string copy = tmp / "slapnode-launch";
  std::filesystem::copy_file(SLAPNODE_LAUNCH, copy);
  ::chmod(copy.c_str(), 0755);
  EXPECT_EQ(usable_launcher(copy), copy);
  EXPECT_EQ(usable_launcher(tmp / "missing"), "");
  ::chmod(copy.c_str(), 0775);
  EXPECT_EQ(usable_launcher(copy), "") << "group-writable";
  ::chmod(copy.c_str(), 0755);
  ::chmod(tmp.path().c_str(), 0777);
  EXPECT_EQ(usable_launcher(copy), "") << "in a directory anyone can replace it in";
  ::chmod(tmp.path().c_str(), 0755);
  ::chmod(copy.c_str(), 0644);
  EXPECT_EQ(usable_launcher(copy), "") << "not executable";
  ::chmod(copy.c_str(), 0755);
  ASSERT_EQ(::chown(copy.c_str(), 65534, 65534), 0);
  EXPECT_EQ(usable_launcher(copy), "") << "owned by another user";
  ASSERT_EQ(::chown(copy.c_str(), 0, 0), 0);
  EXPECT_EQ(usable_launcher(copy), copy);
  // Further up: a directory anyone may rename entries of, above a root-only one.
  const std::string open = tmp / "open", deep = tmp / "open/bin";
  std::filesystem::create_directories(deep);
  ::chmod(open.c_str(), 0777);
  ::chmod(deep.c_str(), 0755);
  std::filesystem::copy_file(copy, deep + "/slapnode-launch");
  EXPECT_EQ(usable_launcher(deep + "/slapnode-launch"), "") << "its grandparent is writable by anyone";
  // Through a link: what is checked is where it leads.
  std::filesystem::create_symlink(deep + "/slapnode-launch", tmp / "link");
  EXPECT_EQ(usable_launcher(tmp / "link"), "");
  ::chmod(open.c_str(), 0755);
  EXPECT_EQ(usable_launcher(tmp / "link"), deep + "/slapnode-launch") << "the real path, which supervisord runs";
}

// Checks an element's children against an xsd sequence: names in order, with min/max counts.
struct Slot {
  const char* name;
  int min;
  int max;  // -1: unbounded
};
void expect_sequence(const pugi::xml_node& node, const std::vector<Slot>& seq) {
  std::vector<std::string> names;
  for (auto c : node.children()) {
    if (c.type() == pugi::node_element) names.emplace_back(c.name());
  }
  size_t i = 0;
  for (const auto& slot : seq) {
    int n = 0;
    while (i < names.size() && names[i] == slot.name) {
      ++i;
      ++n;
    }
    EXPECT_GE(n, slot.min) << node.name() << " lacks " << slot.name;
    if (slot.max >= 0) {
      EXPECT_LE(n, slot.max) << node.name() << " has too many " << slot.name;
    }
  }
  EXPECT_EQ(i, names.size()) << node.name() << " has an unexpected <" << (i < names.size() ? names[i] : "") << ">";
}

// A partition's disk is counted whatever its shape: a chain of directories deeper than the
// descriptors left to slapnode (here 64) hid everything below it, because the walk held one per
// level and stopped at its first error.
TEST(DiskUsage, ADeepChainOfDirectoriesHidesNothing) {
  testing::TempDir tmp;
  std::string deep = tmp.path();
  for (int i = 0; i < 100; ++i) deep += "/d";
  ASSERT_TRUE(std::filesystem::create_directories(deep));
  const std::string mib(1 << 20, 'x');
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(write_file_atomic(deep + "/f" + std::to_string(i), mib).ok());
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const uint64_t bytes = disk_usage_bytes(tmp.path());
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_GE(bytes, 5u << 20);
}

TEST(TioXml, JournalFollowsComputerConsumptionXsd) {
  PartitionUsage a;
  a.partition_id = "slappart0";
  a.instance_guid = "SOFTINST-1";
  a.title = "db <main> & co";
  a.start = 1732500000;
  a.stop = 1732503600;
  a.movements.push_back({"usage/cpu_s", "CPU seconds", "SOFTINST-1", format_quantity(12.5), {}});
  a.movements.push_back({"usage/ram_byte_s", "RAM", "SOFTINST-1", format_quantity(1e12), {"cat-a", "cat-b"}});
  PartitionUsage empty;
  empty.partition_id = "slappart1";
  std::string xml = build_tioxml("COMP-1", {a, empty});
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml.c_str())) << xml;
  auto journal = doc.child("journal");
  ASSERT_TRUE(journal);
  expect_sequence(journal, {{"transaction", 1, -1}});
  auto tx = journal.child("transaction");
  EXPECT_STREQ(tx.attribute("type").value(), "Sale Packing List");
  expect_sequence(tx, {{"title", 0, 1}, {"start_date", 1, 1}, {"stop_date", 1, 1}, {"reference", 1, 1},
                       {"currency", 1, 1}, {"payment_mode", 1, 1}, {"category", 0, -1}, {"arrow", 1, -1},
                       {"movement", 1, -1}});
  EXPECT_STREQ(tx.child_value("title"), "Resource consumptions of db <main> & co");
  EXPECT_STREQ(tx.child_value("start_date"), "2024-11-25 02:00:00");
  EXPECT_STREQ(tx.child_value("stop_date"), "2024-11-25 03:00:00");
  EXPECT_STREQ(tx.child_value("reference"), "slappart0");
  for (auto arrow : tx.children("arrow")) {
    EXPECT_TRUE(arrow.attribute("type"));
    expect_sequence(arrow, {{"source", 0, 1}, {"destination", 0, 1}});
  }
  int movements = 0;
  for (auto mv : tx.children("movement")) {
    ++movements;
    expect_sequence(mv, {{"resource", 1, 1}, {"title", 0, 1}, {"reference", 0, 1}, {"quantity", 1, 1},
                         {"price", 1, 1}, {"VAT", 1, 1}, {"category", 0, -1}});
    EXPECT_NO_THROW((void)std::stod(mv.child_value("quantity")));
  }
  EXPECT_EQ(movements, 2);
  EXPECT_STREQ(tx.child("movement").next_sibling("movement").child_value("quantity"), "1000000000000");
  // Only one transaction: the partition without movements is left out.
  EXPECT_FALSE(tx.next_sibling("transaction"));
}

TEST(TioXml, ReferenceJournalHasTheShapeWeCheck) {
  auto text = read_file(std::string(SLAP_REFERENCE_DIR) + "/tioxml-example-2019-10-07.xml");
  if (!text.ok()) GTEST_SKIP() << "reference journal not found beside the repository";
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(text->c_str()));
  auto tx = doc.child("journal").child("transaction");
  expect_sequence(tx, {{"title", 0, 1}, {"start_date", 1, 1}, {"stop_date", 1, 1}, {"reference", 1, 1},
                       {"currency", 1, 1}, {"payment_mode", 1, 1}, {"category", 0, -1}, {"arrow", 1, -1},
                       {"movement", 1, -1}});
}

TEST(Consumption, InstanceFilesAreParsedOrRefused) {
  auto ok = parse_partition_consumption(
      "<?xml version='1.0'?><consumption><movement><resource>custom/requests</resource><title>Requests</title>"
      "<reference>x</reference><quantity>42.5</quantity><price>0.0</price><VAT/><category>web</category></movement>"
      "</consumption>");
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0].resource, "custom/requests");
  EXPECT_EQ((*ok)[0].quantity, "42.5");
  EXPECT_EQ((*ok)[0].categories, std::vector<std::string>{"web"});
  EXPECT_FALSE(parse_partition_consumption("<journal/>").ok());
  EXPECT_FALSE(parse_partition_consumption("not xml").ok());
  EXPECT_FALSE(parse_partition_consumption("<consumption><movement><resource>r</resource><quantity>lots</quantity>"
                                           "<price>0</price><VAT/></movement></consumption>")
                   .ok());
  EXPECT_FALSE(parse_partition_consumption("<consumption></consumption>").ok());
  // Quantities the master takes only: no sign, exponent or nan; and nothing in the node's own
  // usage/ resources, which an instance could otherwise add to or (negatively) take from.
  auto one = [](const std::string& resource, const std::string& quantity) {
    return parse_partition_consumption("<consumption><movement><resource>" + resource + "</resource><quantity>" + quantity +
                                       "</quantity><price>0</price><VAT/></movement></consumption>");
  };
  EXPECT_TRUE(one("custom/requests", "0.25").ok());
  for (const char* q : {"-5", "nan", "1e3", "+1", ".5", "5.", "1.2.3", ""}) EXPECT_FALSE(one("custom/requests", q).ok()) << q;
  EXPECT_FALSE(one("usage/cpu_s", "1").ok());
  // Nor what the master records itself: an instance's hosting/running hours were billed on top.
  for (const char* r : {"hosting/running", "billing/price", "capacity/partition", "software/supply"}) EXPECT_FALSE(one(r, "1").ok()) << r;
  EXPECT_TRUE(one("custom/hosting", "1").ok());
}

TEST(Quantity, IsExactDecimalText) {
  EXPECT_EQ(format_quantity(0), "0");
  EXPECT_EQ(format_quantity(1.25), "1.25");
  EXPECT_EQ(format_quantity(100), "100");
  EXPECT_EQ(format_quantity(0.3333333), "0.333");
}

}  // namespace
}  // namespace slap::node
