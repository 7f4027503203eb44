// The whole cloud end to end with real processes: slapmaster, slapnode (one-shot passes and the
// daemon), supervisord, memcached and a release built from source, on loopback addresses and
// ephemeral ports. Non-root flow with 20 partitions; a reduced privileged flow as root inside a
// network namespace (users, taps, IPv4 + IPv6, network bytes); the usage report landing in the
// ledger.
#include "tests/e2e/cloud.h"

namespace slap::e2e {
namespace {

// A loopback /24 unlikely to collide with another test run (node tests use 127.20-219.x.x).
std::string loopback_range() { return "127." + std::to_string(220 + ::getpid() % 30) + "." + std::to_string(::getpid() % 250) + ".0/24"; }

std::string hello_release(const fs::path& root) {
  auto r = node::run_command(node::Command{.argv = {std::string(SLAP_EXAMPLES_DIR) + "/hello/make-release.sh", (root / "hello").string()},
                                           .capture = true, .timeout = 60s});
  EXPECT_TRUE(r && r->exit_code == 0) << (r ? r->output : r.error().detail);
  return "file://" + (root / "hello" / "software.cfg").string();
}
const std::string kMemcached = "file://" SLAP_EXAMPLES_DIR "/memcached/software.cfg";
const std::string kMemcachedLarge = "file://" SLAP_EXAMPLES_DIR "/memcached-large/software.cfg";

// Inode and modification time of a release's completion marker: a rebuild would change them.
std::string marker_identity(const fs::path& dir) {
  struct stat st {};
  // The node keeps its records of a release out of the release directory (node/RELEASE_FORMAT.md).
  if (::stat((dir.parent_path() / ".meta" / dir.filename() / "installed").c_str(), &st) != 0) return "";
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

std::vector<fs::path> release_dirs(const std::string& software_root) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(software_root, ec)) {
    if (e.is_directory() && e.path().filename().string()[0] != '.') out.push_back(e.path());  // not .meta
  }
  return out;
}

// Prints how long each phase took (the e2e label has a time budget).
class Phases {
 public:
  void operator()(const std::string& name) {
    const auto now = std::chrono::steady_clock::now();
    std::fprintf(stderr, "[ phase    ] %-40s %6lld ms\n", name.c_str(),
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(now - last_).count()));
    last_ = now;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

int partition_index(const std::string& id) { return std::stoi(id.substr(std::string("slappart").size())); }

// Every memcached instance answers `version` at the address and port it published, as the person
// reads them from the master.
void expect_memcached_reachable(Cloud& cloud, const std::vector<Instance>& all, const std::set<std::string>& skip) {
  for (const auto& i : all) {
    if (!i.port || skip.count(i.title)) continue;
    auto c = cloud.connection(i.guid);
    ASSERT_EQ(c["port"], std::to_string(i.port)) << i.title;
    EXPECT_EQ(c["host"], cloud.address(partition_index(i.partition))) << i.title;
    EXPECT_EQ(c["url"], "memcached://" + c["host"] + ":" + c["port"]) << i.title;
    std::string answer;
    EXPECT_TRUE(eventually([&] { return (answer = memcached_version(c["host"], std::stoi(c["port"]))).rfind("VERSION ", 0) == 0; }, 10s))
        << i.title << " at " << c["host"] << ":" << c["port"] << " answered '" << answer << "'";
  }
}

TEST(CloudEndToEnd, TwentyInstancesRunStopDestroyAndComeBackAfterTheNodeLosesItsState) {
  Phases phase;
  TempDir tmp;
  Cloud cloud(tmp.path(), {.partitions = 20, .ipv4_range = loopback_range()});
  ASSERT_NO_FATAL_FAILURE(cloud.start());
  EXPECT_EQ(cloud.partition_states().size(), 20u);

  phase("master, person, computer, format");
  // The three example releases, supplied by the owner.
  const std::string hello = hello_release(tmp.path());
  for (const auto& url : {hello, kMemcached, kMemcachedLarge}) ASSERT_NO_FATAL_FAILURE(cloud.supply(url));

  // Twenty instances: 16 memcached on distinct ports, 3 hello, 1 memcached-large.
  std::vector<Instance> all;
  for (int k = 0; k < 16; ++k) all.push_back({"mc" + std::to_string(k), kMemcached, "", "", 0});
  for (int k = 0; k < 3; ++k) all.push_back({"hello" + std::to_string(k), hello, "", "", 0});
  all.push_back({"big", kMemcachedLarge, "", "", 0});
  std::set<int> ports;
  for (auto& i : all) {
    if (i.release == hello) continue;
    do i.port = free_port("127.0.0.1"); while (!ports.insert(i.port).second);
  }
  for (auto& i : all) ASSERT_NO_FATAL_FAILURE(cloud.request(i));
  std::set<std::string> partitions;
  for (const auto& i : all) partitions.insert(i.partition);
  EXPECT_EQ(partitions.size(), 20u) << "one partition per instance";

  // Node passes until every instance runs.
  const int rounds = cloud.converge([&] { return cloud.running() == 20; });
  ASSERT_GT(rounds, 0) << cloud.running() << " processes running\n" << cloud.node_log();

  phase("20 requests, software + instance passes");
  // Each release built once: one directory per release, with its completion marker, shared.
  auto dirs = release_dirs(cloud.opt());
  ASSERT_EQ(dirs.size(), 3u);
  std::map<fs::path, std::string> markers;
  for (const auto& d : dirs) {
    markers[d] = marker_identity(d);
    EXPECT_FALSE(markers[d].empty()) << d << " has no completion marker";
  }
  ASSERT_EQ(cloud.node("software"), 0);
  ASSERT_EQ(cloud.node("instance"), 0);
  for (const auto& d : dirs) EXPECT_EQ(marker_identity(d), markers[d]) << d << " was rebuilt";
  EXPECT_EQ(release_dirs(cloud.opt()).size(), 3u);

  // 20 processes under supervisord; the hello instances wrote their patched greeting.
  EXPECT_EQ(cloud.processes().size(), 20u);
  EXPECT_EQ(cloud.running(), 20);
  for (const auto& i : all) {
    if (i.release != hello) continue;
    EXPECT_EQ(slurp(cloud.part(partition_index(i.partition)) + "/greeting.txt"), "hello, here is my patch\n") << i.title;
    EXPECT_EQ(cloud.connection(i.guid)["greeting-file"], cloud.part(partition_index(i.partition)) + "/greeting.txt");
  }
  // Each memcached answers where it published it is; the extension's default is published.
  ASSERT_NO_FATAL_FAILURE(expect_memcached_reachable(cloud, all, {}));
  EXPECT_EQ(cloud.connection(all.back().guid)["memory-mb"], "64");
  EXPECT_EQ(test::str(cloud.read_instance(all[0].guid), "state"), "started");

  phase("checks");
  // Stop one instance: its process goes, its port refuses.
  Instance& stopped = all[3];
  const std::string stopped_host = cloud.address(partition_index(stopped.partition));
  ASSERT_NO_FATAL_FAILURE(cloud.request(stopped, "stopped"));
  EXPECT_GT(cloud.converge([&] { return cloud.running() == 19; }, 3), 0) << cloud.node_log();
  EXPECT_TRUE(eventually([&] { return !can_connect(stopped_host, stopped.port); }, 10s));
  const auto stopped_program = cloud.processes()[stopped.partition + ":" + stopped.partition + "-memcached"];
  EXPECT_NE(stopped_program.state, "RUNNING");

  phase("stop");
  // Destroy one: the partition is emptied and freed on the master.
  Instance& destroyed = all[5];
  const std::string destroyed_dir = cloud.part(partition_index(destroyed.partition));
  spit(destroyed_dir + "/data.db", "instance data");
  ASSERT_NO_FATAL_FAILURE(cloud.request(destroyed, "destroyed"));
  EXPECT_GT(cloud.converge([&] { return cloud.partition_states()[destroyed.partition] == "free"; }, 3), 0)
      << "the master still shows " << destroyed.partition << " as " << cloud.partition_states()[destroyed.partition] << "\n"
      << cloud.node_log();
  EXPECT_FALSE(can_connect(cloud.address(partition_index(destroyed.partition)), destroyed.port));
  EXPECT_EQ(cloud.running(), 18);
  std::vector<std::string> left;
  for (const auto& e : fs::recursive_directory_iterator(destroyed_dir)) left.push_back(fs::relative(e.path(), destroyed_dir).string());
  // Only slapnode's own record of the destroy may remain.
  EXPECT_TRUE(left.empty() || left == std::vector<std::string>({".slapnode", ".slapnode/state.json"}) ||
              left == std::vector<std::string>({".slapnode/state.json", ".slapnode"}))
      << "left in " << destroyed_dir << ": " << ::testing::PrintToString(left);

  phase("destroy");
  // Kill supervisord and every instance, wipe the node's own state (its run directory with
  // supervisord's configuration, and the built releases), restart the node as a daemon:
  // everything comes back from what the master knows.
  const int alive_before = cloud.running();
  cloud.crash_supervisord();
  for (const auto& i : all) {
    if (i.port && i.title != stopped.title && i.title != destroyed.title) {
      EXPECT_TRUE(eventually([&] { return !can_connect(cloud.address(partition_index(i.partition)), i.port); }, 10s))
          << i.title << " outlived the crash";
    }
  }
  phase("supervisord and instances killed");
  fs::remove_all(cloud.run_dir());
  fs::remove_all(cloud.opt());
  cloud.start_daemon();
  EXPECT_TRUE(eventually([&] { return cloud.running() == alive_before; }, 60s))
      << cloud.running() << " of " << alive_before << " running after the restart\n" << cloud.node_log();
  phase("daemon restarted, everything back");
  EXPECT_TRUE(cloud.daemon()->alive());
  EXPECT_EQ(release_dirs(cloud.opt()).size(), 3u);
  ASSERT_NO_FATAL_FAILURE(expect_memcached_reachable(cloud, all, {stopped.title, destroyed.title}));
  EXPECT_FALSE(can_connect(stopped_host, stopped.port)) << "a stopped instance stays stopped";
  EXPECT_EQ(cloud.daemon()->stop(), 0);
}

// The report pass posts usage (slapos.post.v0.compute_node_usage) and the master turns it into
// usage/ Movements in the ledger.
TEST(CloudEndToEnd, ReportPassPutsUsageMovementsInTheLedger) {
  TempDir tmp;
  Cloud cloud(tmp.path(), {.partitions = 2, .ipv4_range = loopback_range()});
  ASSERT_NO_FATAL_FAILURE(cloud.start());
  const std::string hello = hello_release(tmp.path());
  ASSERT_NO_FATAL_FAILURE(cloud.supply(hello));
  Instance i{"greeter", hello, "", "", 0};
  ASSERT_NO_FATAL_FAILURE(cloud.request(i));
  ASSERT_GT(cloud.converge([&] { return cloud.running() == 1; }), 0) << cloud.node_log();

  // A report within the second the instance was processed would measure an empty period.
  const auto processed = ::time(nullptr);
  ASSERT_TRUE(eventually([&] { return ::time(nullptr) > processed; }, std::chrono::seconds(3)));
  const int report = cloud.node("report");
  auto admin = cloud.as_admin();
  auto ledger = admin.get("/v1/ledger?from=1&limit=10000");
  ASSERT_EQ(ledger.status, 200u) << ledger.body;
  std::set<std::string> resources;
  std::istringstream lines(ledger.body);
  for (std::string line; std::getline(lines, line);) {
    // Any movement whose resource starts with usage/ (wherever the entry nests it).
    for (size_t at = line.find("\"usage/"); at != std::string::npos; at = line.find("\"usage/", at + 1)) {
      resources.insert(line.substr(at + 1, line.find('"', at + 1) - at - 1));
    }
  }
  const std::string log = cloud.node_log();
  EXPECT_EQ(report, 0) << "slapnode report failed; "
                       << (log.find("501") != std::string::npos ? "the master answers 501 to slapos.post.v0.compute_node_usage: usage ingestion is not built yet\n" : "")
                       << log;
  EXPECT_TRUE(resources.count("usage/cpu_s") && resources.count("usage/ram_byte_s") && resources.count("usage/disk_byte_s"))
      << "usage movements in the ledger: " << ::testing::PrintToString(resources);
  // No tap here (not root, tap = no): network bytes are not measured, so none are reported.
  EXPECT_FALSE(resources.count("usage/net_bytes")) << ::testing::PrintToString(resources);

  // A slapnode holding the software root (another configuration sharing it) keeps this one out:
  // it would remove this node's releases as no longer listed in its own view.
  auto held = node::run_command(node::Command{.argv = {"flock", cloud.opt() + "/.slapnode.lock", SLAPNODE, "software", "-c", cloud.config()},
                                              .capture = true,
                                              .timeout = std::chrono::seconds(60)});
  ASSERT_TRUE(held.ok()) << held.error().to_string();
  EXPECT_NE(held->exit_code, 0) << held->output;
  EXPECT_NE(held->output.find(".slapnode.lock"), std::string::npos) << held->output;
}

// Ctrl-C on `slapnode software` stops the build with it: a build step runs in a process group of
// its own, which the terminal's SIGINT never reaches, so it used to go on as an orphan writing
// into the tree the next build wipes. Now the step's group is terminated, slapnode exits, the
// master is not told the build failed, and the next pass builds it afresh.
TEST(CloudEndToEnd, AnInterruptedBuildStopsWithSlapnode) {
  TempDir tmp;
  Cloud cloud(tmp.path(), {.partitions = 1, .ipv4_range = loopback_range()});
  ASSERT_NO_FATAL_FAILURE(cloud.start());
  const fs::path rel = tmp.path() / "slow";
  fs::create_directories(rel);
  const fs::path pidfile = tmp.path() / "step.pid", marker = tmp.path() / "second-run";
  // The step writes its pid and sleeps, the first time; afterwards it completes at once.
  std::ofstream(rel / "software.cfg") << "[buildout]\nparts = slow\n[slow]\nrecipe = command\ncommand = if [ -e " << pidfile.string()
                                      << " ]; then touch " << marker.string() << "; else echo $$ > " << pidfile.string()
                                      << "; exec sleep 600; fi\n";
  const std::string url = "file://" + (rel / "software.cfg").string();
  ASSERT_NO_FATAL_FAILURE(cloud.supply(url));
  Child node({SLAPNODE, "software", "-c", cloud.config()}, (tmp.path() / "interrupted.log").string());
  ASSERT_TRUE(eventually([&] { return fs::exists(pidfile) && fs::file_size(pidfile) > 0; }, 60s)) << slurp(tmp.path() / "interrupted.log");
  const pid_t step = std::stoi(slurp(pidfile));
  ASSERT_EQ(::kill(step, 0), 0) << "the build step runs";
  const auto started = std::chrono::steady_clock::now();
  const int status = node.stop(SIGINT, 30s);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s) << "slapnode waited for the build instead of stopping it";
  EXPECT_TRUE(WIFEXITED(status)) << "slapnode stops on its own (exit code), not killed by the signal: " << status;
  EXPECT_TRUE(eventually([&] { return ::kill(step, 0) != 0; }, 10s)) << "the build step " << step << " outlived slapnode";
  const std::string log = slurp(tmp.path() / "interrupted.log");
  EXPECT_NE(log.find("interrupted"), std::string::npos) << log;
  // The next pass builds it afresh, and it completes.
  EXPECT_EQ(cloud.node("software"), 0) << cloud.node_log();
  EXPECT_TRUE(fs::exists(marker));
}

// Every usage/net_bytes quantity in the ledger, wherever an entry nests its movements.
void net_quantities(const bj::value& v, std::vector<std::string>& out) {
  if (v.is_object()) {
    const auto& o = v.as_object();
    if (auto* r = o.if_contains("resource"); r && r->is_string() && r->as_string() == "usage/net_bytes") {
      if (auto* q = o.if_contains("quantity")) out.push_back(q->is_string() ? std::string(q->as_string()) : bj::serialize(*q));
    }
    for (const auto& [k, x] : o) net_quantities(x, out);
  } else if (v.is_array()) {
    for (const auto& x : v.as_array()) net_quantities(x, out);
  }
}

// As root, in a network namespace of its own: partition users, ownership, taps, IPv4 and IPv6 on
// the interface (and declared to the master), network bytes through a tap in the usage ledger,
// builds and instances never running as root.
TEST(CloudEndToEnd, AsRootInANetworkNamespacePartitionsHaveUsersOwnershipAndAddresses) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: the privileged flow (users slapuserN, chown, ip addr) needs root";
  for (const char* tool : {"/usr/sbin/useradd", "/usr/sbin/userdel"}) {
    if (::access(tool, X_OK) != 0) GTEST_SKIP() << tool << " is missing";
  }
  const int n = 3;
  std::vector<std::string> users{"slapsoft"};
  for (int k = 0; k < n; ++k) users.push_back("slapuser" + std::to_string(k));
  UsersGuard users_guard(users);
  NetnsGuard netns("slaptest-" + std::to_string(::getpid()));
  if (!netns.ok()) GTEST_SKIP() << "cannot use a network namespace here: " << netns.why();
  const bool taps = ::access("/dev/net/tun", R_OK | W_OK) == 0;
  if (!taps) std::cerr << "[ NOTE ] /dev/net/tun is missing: the tap and network-bytes part is skipped\n";
  // A global IPv6 prefix on the namespace's lo, as a host's uplink would have.
  auto v6 = node::run_command(node::Command{.argv = {"ip", "-6", "addr", "add", "2001:db8:77::1/64", "dev", "lo"}, .capture = true, .timeout = 10s});
  ASSERT_TRUE(v6.ok() && v6->exit_code == 0) << (v6 ? v6->output : v6.error().detail);

  TempDir tmp;
  fs::permissions(tmp.path(), fs::perms(0755));  // partition users and the software user traverse it
  Cloud cloud(tmp.path(), {.partitions = n, .ipv4_range = "10.77.0.0/24", .privileged = true, .tap = taps});
  ASSERT_NO_FATAL_FAILURE(cloud.start());
  const std::string hello = hello_release(tmp.path());
  for (const auto& url : {hello, kMemcached}) ASSERT_NO_FATAL_FAILURE(cloud.supply(url));
  std::vector<Instance> all{{"mc0", kMemcached, "", "", 0}, {"mc1", kMemcached, "", "", 0}, {"hello", hello, "", "", 0}};
  all[0].port = free_port("127.0.0.1");
  do all[1].port = free_port("127.0.0.1"); while (all[1].port == all[0].port);
  for (auto& i : all) ASSERT_NO_FATAL_FAILURE(cloud.request(i));
  ASSERT_GT(cloud.converge([&] { return cloud.running() == n; }), 0) << cloud.node_log();

  // Addresses on the namespace's lo, directories owned by their users (0750), taps owned too.
  auto addr = node::run_command(node::Command{.argv = {"ip", "-o", "addr", "show", "dev", "lo"}, .capture = true, .timeout = 10s});
  ASSERT_TRUE(addr.ok());
  auto links = node::run_command(node::Command{.argv = {"ip", "-d", "-o", "link", "show"}, .capture = true, .timeout = 10s});
  ASSERT_TRUE(links.ok());
  for (int k = 0; k < n; ++k) {
    EXPECT_NE(addr->output.find(" " + cloud.address(k) + "/24"), std::string::npos) << addr->output;
    EXPECT_NE(addr->output.find(" 2001:db8:77::5170:" + std::to_string(k + 1) + "/64"), std::string::npos) << addr->output;
    if (taps) {
      EXPECT_NE(links->output.find(": slaptap" + std::to_string(k) + ": "), std::string::npos) << links->output;
    }
    auto id = node::lookup_user("slapuser" + std::to_string(k));
    ASSERT_TRUE(id) << "slapuser" << k;
    struct stat st {};
    ASSERT_EQ(::stat(cloud.part(k).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, id->uid);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
  }
  // Every instance process runs as its partition's user, never root.
  for (const auto& [name, st] : cloud.processes()) {
    ASSERT_GT(st.pid, 0) << name;
    const std::string status = slurp("/proc/" + std::to_string(st.pid) + "/status");
    const auto uid_at = status.find("Uid:");
    ASSERT_NE(uid_at, std::string::npos);
    const uid_t uid = static_cast<uid_t>(std::stoul(status.substr(uid_at + 4)));
    const std::string group = name.substr(0, name.find(':'));
    auto id = node::lookup_user("slapuser" + group.substr(std::string("slappart").size()));
    ASSERT_TRUE(id);
    EXPECT_EQ(uid, id->uid) << name << " runs as uid " << uid;
  }
  // The release built from source was built as the software user.
  auto soft = node::lookup_user("slapsoft");
  ASSERT_TRUE(soft);
  for (const auto& d : release_dirs(cloud.opt())) {
    struct stat st {};
    ASSERT_EQ(::stat(d.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, soft->uid) << d;
  }
  ASSERT_NO_FATAL_FAILURE(expect_memcached_reachable(cloud, all, {}));

  // The master got each partition's IPv6 and tap from format, and hands them back.
  const int k1 = partition_index(all[1].partition);
  const std::string iface = taps ? "slaptap" + std::to_string(k1) : "lo";
  const bj::object seen = cloud.read_instance(all[1].guid);
  const std::string ips = seen.contains("ip_list") ? bj::serialize(seen.at("ip_list")) : "";
  EXPECT_NE(ips.find("[\"" + iface + "\",\"2001:db8:77::5170:" + std::to_string(k1 + 1) + "\"]"), std::string::npos) << ips;
  EXPECT_NE(ips.find("[\"" + iface + "\",\"" + cloud.address(k1) + "\"]"), std::string::npos) << ips;

  // A re-format changes nothing that exists.
  ASSERT_EQ(cloud.node("format"), 0) << cloud.node_log();
  EXPECT_NE(cloud.node_log().find("created 0 directories, 0 users, 0 taps, 0 addresses"), std::string::npos) << cloud.node_log();

  // Network bytes: what a guest sends through the partition's tap is billed to its instance.
  if (taps) {
    ASSERT_TRUE(node::testing::inject_tap_frames("slaptap" + std::to_string(k1), 20, 500));
    const auto sent = ::time(nullptr);  // a report within the second of processing measures nothing
    ASSERT_TRUE(eventually([&] { return ::time(nullptr) > sent; }, std::chrono::seconds(3)));
    ASSERT_EQ(cloud.node("report"), 0) << cloud.node_log();
    auto admin = cloud.as_admin();
    auto ledger = admin.get("/v1/ledger?from=1&limit=10000");
    ASSERT_EQ(ledger.status, 200u) << ledger.body;
    std::vector<std::string> quantities;
    std::istringstream lines(ledger.body);
    for (std::string line; std::getline(lines, line);) {
      boost::system::error_code ec;
      const bj::value v = bj::parse(line, ec);
      if (!ec) net_quantities(v, quantities);
    }
    // One movement per allocated partition with a tap; the one that carried the frames has them.
    double most = 0;
    for (const auto& q : quantities) most = std::max(most, std::stod(q));
    EXPECT_GE(most, 20 * 500.0) << ::testing::PrintToString(quantities);
  }

  // Destroy one: emptied, freed.
  ASSERT_NO_FATAL_FAILURE(cloud.request(all[0], "destroyed"));
  EXPECT_GT(cloud.converge([&] { return cloud.partition_states()[all[0].partition] == "free"; }, 3), 0) << cloud.node_log();
  EXPECT_FALSE(fs::exists(cloud.part(partition_index(all[0].partition)) + "/etc"));
  EXPECT_EQ(cloud.running(), n - 1);
}

}  // namespace
}  // namespace slap::e2e
