#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "node/supervisor.h"
#include "tests/node/test_support.h"

namespace slap::node {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

bool alive(int pid) { return pid > 0 && ::kill(pid, 0) == 0; }

TEST(Supervisor, StartsStopsAndSurvivesItsController) {
  testing::TempDir tmp;
  std::string run = tmp / "run";
  int pid = 0;
  {
    Supervisor sup(run);
    ASSERT_TRUE(sup.ensure_running().ok());
    ProgramSpec p;
    p.name = "sleeper";
    p.command = "/bin/sleep 300";
    p.directory = tmp.path();
    p.startsecs = 0;
    p.environment = {{"HOME", tmp.path()}};
    ASSERT_TRUE(sup.apply_group("slappart0", {p}).ok());
    ASSERT_TRUE(sup.start_group("slappart0").ok());
    ASSERT_TRUE(testing::wait_for(
        [&] {
          auto s = sup.status();
          if (!s.ok() || !s->count("slappart0:slappart0-sleeper")) return false;
          pid = s->at("slappart0:slappart0-sleeper").pid;
          return s->at("slappart0:slappart0-sleeper").state == "RUNNING";
        },
        15s));
    EXPECT_TRUE(alive(pid));
  }
  // A new controller (slapnode restarted) finds the same supervisord and process.
  Supervisor again(run);
  ASSERT_TRUE(again.answers());
  ASSERT_TRUE(again.ensure_running().ok());
  auto s = again.status();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->at("slappart0:slappart0-sleeper").pid, pid);

  ASSERT_TRUE(again.stop_group("slappart0").ok());
  EXPECT_TRUE(testing::wait_for([&] { return !alive(pid); }, 15s));
  auto stopped = again.status();
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->at("slappart0:slappart0-sleeper").state, "STOPPED");
  ASSERT_TRUE(again.stop_group("slappart0").ok());  // stopping twice is fine

  ASSERT_TRUE(again.remove_group("slappart0").ok());
  auto removed = again.status();
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->count("slappart0:slappart0-sleeper"), 0u);
  ASSERT_TRUE(again.shutdown().ok());
  EXPECT_FALSE(again.answers());
}

// supervisord's configuration parser takes ';' or '#' after a space or a tab for the start of a
// comment and drops the rest of the line. A command (or an environment value) keeps them whole.
TEST(Supervisor, CommandsAndEnvironmentKeepTheirSemicolonsAndHashes) {
  testing::TempDir tmp;
  Supervisor sup(tmp / "run");
  ASSERT_TRUE(sup.ensure_running().ok());
  ProgramSpec cmd;
  cmd.name = "cmd";
  cmd.command = "/bin/sh -c \"true\t; printf '%s' 'b #c ;d %(here)s 100%' > cmd.txt ; exec /bin/sleep 300\"";
  cmd.directory = tmp.path();
  cmd.startsecs = 0;
  ProgramSpec env = cmd;
  env.name = "env";
  env.command = "/bin/sh -c 'printf \"%s\" \"$X\" > env.txt; exec /bin/sleep 300'";
  env.environment = {{"X", "a ;b #c\t;d"}};
  ASSERT_TRUE(sup.apply_group("slappart0", {cmd, env}).ok());
  ASSERT_TRUE(sup.start_group("slappart0").ok());
  auto content = [&](const std::string& name, const std::string& want) {
    return testing::wait_for([&] { auto t = read_file(tmp / name); return t.ok() && *t == want; }, 15s);
  };
  EXPECT_TRUE(content("cmd.txt", "b #c ;d %(here)s 100%"));
  EXPECT_TRUE(content("env.txt", "a ;b #c\t;d"));
  // A Unicode space before ';' (Python's parser takes it for whitespace too) cannot be written so.
  ProgramSpec nbsp = cmd;
  nbsp.command = "/bin/echo a\xc2\xa0;b";
  EXPECT_FALSE(sup.apply_group("slappart1", {nbsp}).ok());
  ASSERT_TRUE(sup.shutdown().ok());
}

// A supervisord started by an older slapnode, without the variables such commands are written
// through, learns them at the next apply_group (its configuration is rewritten and reloaded).
TEST(Supervisor, ASupervisordStartedWithoutTheVariablesLearnsThem) {
  testing::TempDir tmp;
  const std::string run = tmp / "run";
  Supervisor sup(run);
  ASSERT_TRUE(sup.write_config().ok());
  auto conf = read_file(run + "/supervisord.conf");
  ASSERT_TRUE(conf.ok());
  std::string old = *conf;
  const size_t env = old.find("environment=");
  ASSERT_NE(env, std::string::npos);
  old.erase(env, old.find('\n', env) + 1 - env);
  ASSERT_TRUE(write_file_atomic(run + "/supervisord.conf", old).ok());
  auto started = run_command(Command{.argv = {"supervisord", "-c", run + "/supervisord.conf"}, .timeout = 30s});
  ASSERT_TRUE(started.ok() && started->exit_code == 0);
  ASSERT_TRUE(testing::wait_for([&] { return sup.answers(); }, 20s));
  ProgramSpec p;
  p.name = "semi";
  p.command = "/bin/sh -c \"true ; printf '%s' 'x ;y' > out.txt ; exec /bin/sleep 300\"";
  p.directory = tmp.path();
  p.startsecs = 0;
  ASSERT_TRUE(sup.apply_group("slappart0", {p}).ok());
  ASSERT_TRUE(sup.start_group("slappart0").ok());
  EXPECT_TRUE(testing::wait_for([&] { auto t = read_file(tmp / "out.txt"); return t.ok() && *t == "x ;y"; }, 15s));
  ASSERT_TRUE(sup.shutdown().ok());
}

TEST(Supervisor, RefusesBadProgramDefinitions) {
  testing::TempDir tmp;
  Supervisor sup(tmp / "run");
  ProgramSpec bad_name{.name = "bad name", .command = "x"};
  EXPECT_FALSE(sup.apply_group("slappart0", {bad_name}).ok());
  ProgramSpec injected{.name = "ok", .command = "line\n[program:injected]"};
  EXPECT_FALSE(sup.apply_group("slappart0", {injected}).ok());
  EXPECT_FALSE(sup.apply_group("../x", {}).ok());
}

// A child started by slapnode (a build step, supervisord and through it every instance process)
// holds none of slapnode's descriptors: not its TLS connection to the master, not its files.
TEST(Commands, ChildrenInheritNoDescriptorsButTheStandardOnes) {
  const int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC, as Asio opens its sockets
  ASSERT_GE(leaked, 0);
  ASSERT_EQ(::dup2(leaked, 100), 100);  // a number the shell below leaves alone
  auto r = run_command(Command{.argv = {"sh", "-c", "ls /proc/$$/fd"}, .capture = true, .timeout = 10s});
  ::close(100);
  ::close(leaked);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->output, "0\n1\n2\n") << "the child's descriptors";
}

// One slapnode at a time on a computer (two report passes would measure from the same baselines
// and bill the same time twice): the lock is a real flock, held for the process's life, and a
// second taker is told who holds it.
TEST(Commands, OneSlapnodeAtATime) {
  testing::TempDir tmp;
  const std::string lock = tmp / "slapnode.lock";
  ASSERT_TRUE(lock_exclusive(lock).ok());
  auto other = run_command(Command{.argv = {"flock", "-n", lock, "true"}, .capture = true, .timeout = 10s});
  ASSERT_TRUE(other.ok()) << other.error().to_string();
  EXPECT_NE(other->exit_code, 0);  // another process cannot take it
  auto again = lock_exclusive(lock);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().detail.find("pid " + std::to_string(::getpid())), std::string::npos) << again.error().detail;
}

// The daemon waits for a manual command holding the lock (failing at once would burn a service
// manager's restart budget): it takes the lock once the holder is gone, and gives up when told to.
TEST(Commands, TheDaemonWaitsForTheLock) {
  testing::TempDir tmp;
  const std::string lock = tmp / "slapnode.lock";
  const std::string released = tmp / "released";
  // Another process holds the lock until the file `released` appears.
  std::thread holder([&] {
    (void)run_command(Command{.argv = {"flock", lock, "sh", "-c", "touch " + tmp / "held" + "; while [ ! -e " + released + " ]; do sleep 0.05; done"},
                              .timeout = 30s});
  });
  ASSERT_TRUE(testing::wait_for([&] { return fs::exists(tmp / "held"); }, 10s));
  int asked = 0;
  auto refused = lock_exclusive(lock, [&] { return ++asked < 3; });  // told to stop after two polls
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(asked, 3);
  int polls = 0;
  auto taken = lock_exclusive(lock, [&] {
    if (++polls == 2) std::ofstream(released).put('x');  // the holder finishes while we wait
    return true;
  });
  holder.join();
  EXPECT_TRUE(taken.ok()) << taken.error().to_string();
  EXPECT_GE(polls, 2);
}

}  // namespace
}  // namespace slap::node
