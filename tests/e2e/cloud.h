#pragma once
// End-to-end harness: a real slapmaster, a real slapnode (one-shot passes or the daemon), the real
// supervisord and the example releases, all on loopback with ephemeral ports. Every process it
// starts is stopped by RAII guards, also when an assertion fails; temporary directories go too.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "node/cpu_groups.h"
#include "node/supervisor.h"
#include "node/sys.h"
#include "tests/node/root_env.h"
#include "tests/slapd/master_process.h"

namespace slap::e2e {

namespace fs = std::filesystem;
namespace bj = boost::json;
using namespace std::chrono_literals;

// A fresh directory under the system temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "slap-e2e-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (std::getenv("SLAP_E2E_KEEP") != nullptr) return;  // debugging: keep logs and state
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string slurp(const fs::path& p) { return test::read_file(p); }

inline void spit(const fs::path& p, const std::string& text, fs::perms perms = fs::perms(0644)) {
  std::ofstream(p) << text;
  fs::permissions(p, perms);
}

// Polls until `f` holds or the deadline passes (no fixed sleeps: 20 ms between looks).
template <typename F>
bool eventually(F f, std::chrono::milliseconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!f()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

inline bool can_connect(const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Connects, sends `version\r\n` and returns memcached's answer line ("" when it does not answer).
inline std::string memcached_version(const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::send(fd, "version\r\n", 9, MSG_NOSIGNAL) == 9) {
    char buf[256];
    while (out.find("\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

// A port nobody listens on at `ip` right now (the kernel picks it).
inline int free_port(const std::string& ip) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// Gone, or a zombie nobody reaps yet (daemons are re-parented to a pid 1 that may reap late).
inline bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || stat.size() < paren + 3 || stat[paren + 2] == 'Z';
}

// Processes (not this one) whose command line mentions `root`.
inline std::vector<pid_t> processes_under(const std::string& root) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    if (pid == ::getpid()) continue;
    std::string cmdline = slurp(e.path() / "cmdline");
    for (auto& c : cmdline) c = c == '\0' ? ' ' : c;
    if (cmdline.find(root) != std::string::npos) out.push_back(pid);
  }
  return out;
}

// Kills every process whose command line mentions `root` (the test's temporary directory): the
// last safety net so that nothing outlives a failed test. SIGTERM, a grace period that ends as soon
// as they are all gone, then SIGKILL for what is left.
inline void kill_processes_under(const std::string& root) {
  const std::vector<pid_t> pids = processes_under(root);
  for (pid_t pid : pids) ::kill(pid, SIGTERM);
  const bool all_gone = eventually([&] { return std::all_of(pids.begin(), pids.end(), process_gone); }, 2s);
  if (all_gone) return;
  for (pid_t pid : processes_under(root)) ::kill(pid, SIGKILL);
}

// A forked child (the slapnode daemon), SIGTERM then SIGKILL on destruction.
class Child {
 public:
  Child(std::vector<std::string> args, const std::string& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { stop(); }
  bool alive() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  // Returns the exit status (or -1 when already gone).
  int stop(int sig = SIGTERM, std::chrono::milliseconds grace = 15s) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    const bool ended = eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, grace);
    if (!ended) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
};

struct Instance {
  std::string title, release, guid, partition;
  int port = 0;  // memcached instances
};

// One master, one node; the node's files live under `root`.
class Cloud {
 public:
  struct Options {
    int partitions = 20;
    std::string ipv4_range;   // e.g. 127.231.17.0/24
    bool privileged = false;  // users, chown, addresses (root only)
    bool tap = false;         // a tap slaptapN per partition (root only)
  };

  Cloud(const fs::path& root, Options o) : root_(root), opt_(std::move(o)) {}
  Cloud(const Cloud&) = delete;
  Cloud& operator=(const Cloud&) = delete;
  ~Cloud() { teardown(); }

  const fs::path& root() const { return root_; }
  std::string srv() const { return (root_ / "srv").string(); }
  std::string opt() const { return (root_ / "opt").string(); }
  std::string run_dir() const { return (root_ / "run").string(); }
  std::string part(int n) const { return srv() + "/slappart" + std::to_string(n); }
  std::string address(int n) const {
    const std::string r = opt_.ipv4_range.substr(0, opt_.ipv4_range.find('/'));
    return r.substr(0, r.rfind('.')) + "." + std::to_string(n + 1);
  }
  const std::string& computer() const { return computer_guid_; }
  const std::string& person() const { return person_guid_; }
  test::MasterProcess& master() { return *master_; }
  test::TlsClient as_person() { return master_->client(person_cert_); }
  test::TlsClient as_admin() { return master_->client(master_->admin()); }

  // Master up; a person; the person's computer; the node's configuration; `slapnode format`.
  void start() {
    master_ = std::make_unique<test::MasterProcess>(root_ / "master");
    ASSERT_TRUE(master_->ready()) << slurp(root_ / "master.log");
    auto admin = as_admin();
    ASSERT_TRUE(admin.connected()) << admin.error();
    auto p = admin.post("/v1/persons", R"({"name":"Alice"})");
    ASSERT_EQ(p.status, 201u) << p.body;
    const auto pj = test::parse_object(p.body);
    person_guid_ = test::str(pj, "guid");
    person_cert_ = test::cert_of(pj);
    auto alice = as_person();
    auto c = alice.post("/v1/computers", R"({"title":"e2e","region":"eu-west","price_minor":12,"currency":"EUR"})");
    ASSERT_EQ(c.status, 201u) << c.body;
    const auto cj = test::parse_object(c.body);
    computer_guid_ = test::str(cj, "computer_guid");
    const fs::path etc = root_ / "etc";
    fs::create_directories(etc);
    spit(etc / "computer.crt", test::str(cj, "certificate"));
    spit(etc / "computer.key", test::str(cj, "key"), fs::perms(0600));
    spit(etc / "ca.crt", master_->ca());
    write_config(/*daemon=*/false);
    ASSERT_EQ(node("format"), 0) << node_log();
  }

  void write_config(bool daemon) {
    const fs::path etc = root_ / "etc";
    std::string cfg = "[slapnode]\nmaster_url = https://127.0.0.1:" + std::to_string(master_->port()) +
                      "\ncomputer_guid = " + computer_guid_ + "\ncert = " + (etc / "computer.crt").string() +
                      "\nkey = " + (etc / "computer.key").string() + "\nca = " + (etc / "ca.crt").string() +
                      "\ninstance_root = " + srv() + "\nsoftware_root = " + opt() + "\nrun_dir = " + run_dir() +
                      "\npartition_count = " + std::to_string(opt_.partitions) + "\nipv4_range = " + opt_.ipv4_range +
                      "\ninterface = lo\nprivileged = " + (opt_.privileged ? "yes" : "no") +
                      "\nretries = 2\nhttp_timeout = 20\nbuild_timeout = 120\ntap = " + (opt_.tap ? "yes" : "no") + "\n";
    if (daemon) cfg += "software_interval = 2\ninstance_interval = 2\nreport_interval = 3600\n";
    spit(etc / "node.conf", cfg);
  }
  std::string config() const { return (root_ / "etc" / "node.conf").string(); }

  // One `slapnode SUBCOMMAND` pass; returns its exit code.
  int node(const std::string& sub) {
    auto r = node::run_command(node::Command{.argv = {SLAPNODE, sub, "-c", config()},
                                             .log_path = (root_ / "node.log").string(),
                                             .timeout = std::chrono::seconds(120)});
    return r ? r->exit_code : -1;
  }
  std::string node_log() const {
    const std::string all = slurp(root_ / "node.log");
    return all.size() > 6000 ? all.substr(all.size() - 6000) : all;
  }

  // Software and instance passes until both succeed and `settled` holds, at most `passes` rounds.
  template <typename F>
  int converge(F settled, int passes = 6) {
    for (int i = 1; i <= passes; ++i) {
      const int sw = node("software");
      const int in = node("instance");
      if (sw == 0 && in == 0 && settled()) return i;
    }
    return 0;
  }

  void supply(const std::string& url) {
    auto alice = as_person();
    auto r = alice.post("/slapos.post.v0.software_installation",
                        bj::serialize(bj::object{{"computer_guid", computer_guid_}, {"software_release_uri", url}}));
    ASSERT_EQ(r.status, 200u) << r.body;
  }

  // Requests (or re-requests with a state) an instance on this computer; fills guid and partition.
  void request(Instance& i, const std::string& state = "") {
    bj::object params;
    if (i.port) params["port"] = std::to_string(i.port);
    bj::object body{{"title", i.title},         {"software_release_uri", i.release}, {"software_type", "default"},
                    {"parameters", params},     {"sla_parameters", bj::object{{"computer_guid", computer_guid_}}}};
    if (!state.empty()) body["state"] = state;
    auto alice = as_person();
    auto r = alice.post("/slapos.post.v0.software_instance", bj::serialize(body));
    ASSERT_EQ(r.status, 200u) << i.title << ": " << r.body;
    const auto o = test::parse_object(r.body);
    i.guid = test::str(o, "instance_guid");
    i.partition = test::str(o, "compute_partition_id");
    ASSERT_FALSE(i.guid.empty()) << r.body;
  }

  // What the person reads about an instance (slapos.get.v0.software_instance).
  bj::object read_instance(const std::string& guid) {
    auto alice = as_person();
    auto r = alice.post("/slapos.get.v0.software_instance", bj::serialize(bj::object{{"instance_guid", guid}}));
    return r.status == 200 ? test::parse_object(r.body) : bj::object{};
  }
  std::map<std::string, std::string> connection(const std::string& guid) {
    std::map<std::string, std::string> out;
    const auto o = read_instance(guid);
    if (auto* c = o.if_contains("connection_parameters"); c && c->is_object()) {
      for (const auto& [k, v] : c->as_object()) out[std::string(k)] = v.is_string() ? std::string(v.as_string()) : bj::serialize(v);
    }
    return out;
  }

  // The computer view as its owner reads it: partition id -> state.
  std::map<std::string, std::string> partition_states() {
    auto alice = as_person();
    auto r = alice.get("/v1/computers/" + computer_guid_);
    std::map<std::string, std::string> out;
    const auto o = test::parse_object(r.body);
    if (auto* ps = o.if_contains("partitions"); ps && ps->is_array()) {
      for (const auto& p : ps->as_array()) out[test::str(p.as_object(), "partition_id")] = test::str(p.as_object(), "state");
    }
    return out;
  }

  // supervisord's view: "group:program" -> status (empty when it does not answer).
  std::map<std::string, node::ProcessStatus> processes() {
    node::Supervisor s(run_dir());
    if (!s.answers()) return {};
    auto st = s.status();
    return st ? *st : std::map<std::string, node::ProcessStatus>{};
  }
  int running() {
    int n = 0;
    for (const auto& [name, st] : processes()) n += st.state == "RUNNING" ? 1 : 0;
    return n;
  }

  // Stops supervisord (and with it every instance process) and waits until it is gone.
  void stop_supervisord() {
    const auto pidfile = fs::path(run_dir()) / "supervisord.pid";
    pid_t pid = 0;
    if (fs::exists(pidfile)) pid = static_cast<pid_t>(std::atoi(slurp(pidfile).c_str()));
    node::Supervisor s(run_dir());
    if (s.answers()) (void)s.shutdown();
    else if (pid > 0) ::kill(pid, SIGTERM);
    if (pid > 0 && !eventually([&] { return process_gone(pid); }, 20s)) ::kill(pid, SIGKILL);
  }

  // A crash of the node's machine: supervisord and every instance process killed with SIGKILL.
  // (A clean supervisord shutdown stops one partition group per second.)
  void crash_supervisord() {
    const auto pidfile = fs::path(run_dir()) / "supervisord.pid";
    if (fs::exists(pidfile)) {
      const pid_t pid = static_cast<pid_t>(std::atoi(slurp(pidfile).c_str()));
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        eventually([&] { return process_gone(pid); }, 10s);
      }
    }
    kill_processes_under(opt());
  }

  void teardown() {
    daemon_.reset();
    kill_processes_under(root_.string());
    master_.reset();
    // The node's CPU groups (as root), once the processes in them are gone.
    if (auto groups = node::CpuGroups::open(srv())) {
      EXPECT_TRUE(eventually([&] { return groups->remove_all().ok(); }, 10s)) << "a process outlived the node in " << groups->directory();
    }
  }

  std::unique_ptr<Child>& daemon() { return daemon_; }
  void start_daemon() {
    write_config(/*daemon=*/true);
    daemon_ = std::make_unique<Child>(std::vector<std::string>{SLAPNODE, "run", "-c", config()}, (root_ / "node.log").string());
  }

 private:
  fs::path root_;
  Options opt_;
  std::unique_ptr<test::MasterProcess> master_;
  std::string person_guid_, computer_guid_;
  test::ClientCert person_cert_;
  std::unique_ptr<Child> daemon_;
};

// The root part's network namespace and users (shared with tests/node).
using node::testing::NetnsGuard;
using node::testing::UsersGuard;

}  // namespace slap::e2e
