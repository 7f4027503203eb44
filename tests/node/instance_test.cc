// The node's passes against a fake master (TLS, ephemeral port): format, software built once,
// instances under the real supervisord, connection parameters, stop, destroy, usage report,
// master unreachable, and rebuilding everything after the node's own state is wiped.
#include <arpa/inet.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>
#include <pugixml.hpp>

#include "node/net_usage.h"
#include "node/node.h"
#include "node/software.h"
#include "node/usage.h"
#include "tests/node/test_support.h"

namespace slap::node {
namespace {

using namespace std::chrono_literals;
using testing::TestRequest;
using testing::TestResponse;
namespace json = boost::json;
namespace fs = std::filesystem;

// A loopback range unlikely to collide with another test run on this machine.
std::string test_range() { return "127." + std::to_string(20 + ::getpid() % 200) + "." + std::to_string(::getpid() % 250) + ".0/24"; }

std::string range_address(const std::string& range, int offset) {
  return range.substr(0, range.rfind('.')) + "." + std::to_string(offset);
}

bool can_connect(const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

int free_port(const std::string& ip) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

struct FakeMaster {
  std::mutex mu;
  json::object view;
  int version = 1;

  void bump() { view["version"] = ++version; }
  json::array& partitions() { return view["partitions"].as_array(); }
  json::object& partition(const std::string& id) {
    for (auto& p : partitions()) {
      if (p.as_object().at("partition_id").as_string() == id) return p.as_object();
    }
    partitions().push_back(json::object{{"partition_id", id}});
    return partitions().back().as_object();
  }
  std::atomic<bool> stopping{false};
  std::string refuse_usage_containing;  // a usage journal holding this text is answered 422
  bool lose_usage_answers = false;      // usage journals are taken (recorded) but answered 503
  bool usage_forbidden = false;         // usage journals are answered 403, as to another computer
  std::string certificate, key;         // instance certificates handed out (a fake PEM when empty)

  TestResponse handle(const TestRequest& r) {
    if (r.target.find("?wait=") != std::string::npos && r.headers.count("if-none-match")) {
      // Long-poll: hold the answer until the version changes, the wait ends or the test stops.
      int wait = std::stoi(r.target.substr(r.target.find("?wait=") + 6));
      testing::wait_for([&] {
        std::lock_guard<std::mutex> g(mu);
        return stopping.load() || r.headers.at("if-none-match") != "\"" + std::to_string(version) + "\"";
      }, std::chrono::seconds(wait));
    }
    std::lock_guard<std::mutex> g(mu);
    if (r.target.rfind("/v1/computers/COMP-1", 0) == 0) {
      std::string etag = "\"" + std::to_string(version) + "\"";
      if (r.headers.count("if-none-match") && r.headers.at("if-none-match") == etag) return TestResponse{304, "", {{"ETag", etag}}};
      return TestResponse{200, json::serialize(view), {{"ETag", etag}}};
    }
    if (r.target == "/slapos.get.v0.software_instance_certificate") {
      if (!certificate.empty()) return TestResponse{200, json::serialize(json::object{{"key", key}, {"certificate", certificate}}), {}};
      return TestResponse{200, R"({"key":"-----BEGIN PRIVATE KEY-----\nfake\n-----END PRIVATE KEY-----\n","certificate":"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n"})", {}};
    }
    if (r.target == "/slapos.post.v0.compute_node_usage" && usage_forbidden) {
      return TestResponse{403, R"({"error":"forbidden","detail":"COMP-1 may not act for COMP-2"})", {}};
    }
    if (r.target == "/slapos.post.v0.compute_node_usage" && lose_usage_answers) {
      return TestResponse{503, R"({"error":"the answer is lost on the way"})", {}};
    }
    if (r.target == "/slapos.post.v0.compute_node_usage" && !refuse_usage_containing.empty() &&
        r.body.find(refuse_usage_containing) != std::string::npos) {
      return TestResponse{422, R"({"error":"UNKNOWN_UNIT"})", {}};
    }
    if (r.target.rfind("/slapos.", 0) == 0) return TestResponse{200, R"({"type":"success","title":"ok"})", {}};
    return TestResponse{404, R"({"error":"not_found"})", {}};
  }
};

class NodeFlow : public ::testing::Test {
 protected:
  testing::TempDir tmp;
  FakeMaster master;
  std::unique_ptr<testing::TestServer> server;
  NodeConfig cfg;
  std::string hello_url, memcached_url;

  void SetUp() override {
    testing::make_certificates(tmp.path());
    testing::sh(testing::examples_dir() + "/hello/make-release.sh " + tmp / "hello" + " >/dev/null");
    hello_url = "file://" + tmp / "hello/software.cfg";
    memcached_url = "file://" + testing::examples_dir() + "/memcached-large/software.cfg";
    master.view = json::object{{"computer_guid", "COMP-1"}, {"version", 1},
                               {"software", json::array{json::object{{"url", hello_url}, {"state", "available"}},
                                                        json::object{{"url", memcached_url}, {"state", "available"}}}},
                               {"partitions", json::array{}}};
    server = std::make_unique<testing::TestServer>([this](const TestRequest& r) { return master.handle(r); }, tmp.path());
    cfg.master_url = server->url();
    cfg.computer_guid = "COMP-1";
    cfg.ca = tmp / "ca.pem";
    cfg.cert = tmp / "client.pem";
    cfg.key = tmp / "client.key";
    cfg.instance_root = tmp / "srv";
    cfg.software_root = tmp / "opt";
    cfg.run_dir = tmp / "run";
    cfg.partition_count = 4;
    cfg.ipv4_range = test_range();
    cfg.privilege = Privilege::kNo;
    cfg.retries = 2;
    cfg.http_timeout_s = 10;
    cfg.launcher = SLAPNODE_LAUNCH;  // the tests' slapnode is this binary: the launcher is not beside it
  }
  void TearDown() override {
    Supervisor(cfg.run_dir).shutdown().ok();
    // The node's CPU groups (as root): removable once their processes are gone.
    if (auto groups = CpuGroups::open(cfg.instance_root)) {
      EXPECT_TRUE(testing::wait_for([&] { return groups->remove_all().ok(); }, 10s)) << "a process outlived supervisord in " << groups->directory();
    }
  }

  // The first two passes of every flow: partitions formatted, the view's releases built.
  void format_and_build(Node& node) {
    ASSERT_EQ(node.format_pass(), ExitCode::kOk);
    ASSERT_EQ(node.software_pass(), ExitCode::kOk);
  }
  // Formatted and built, then SOFTINST-1 and SOFTINST-2 (hello) running in slappart0 and slappart1.
  void two_hello_instances(Node& node) {
    ASSERT_NO_FATAL_FAILURE(format_and_build(node));
    allocate("slappart0", "SOFTINST-1", hello_url, "started");
    allocate("slappart1", "SOFTINST-2", hello_url, "started");
    ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  }
  // A release written into tmp/<name>/software.cfg and supplied (available) in the view; its URL.
  std::string add_release(const std::string& name, const std::string& profile) {
    fs::create_directories(tmp / name);
    EXPECT_TRUE(write_file_atomic(tmp / (name + "/software.cfg"), profile).ok());
    const std::string url = "file://" + tmp / (name + "/software.cfg");
    std::lock_guard<std::mutex> g(master.mu);
    master.view["software"].as_array().push_back(json::object{{"url", url}, {"state", "available"}});
    master.bump();
    return url;
  }
  void allocate(const std::string& id, const std::string& guid, const std::string& url, const std::string& state,
                json::object params = {}) {
    std::lock_guard<std::mutex> g(master.mu);
    auto& p = master.partition(id);
    p["ip_list"] = json::array{json::array{"lo", range_address(cfg.ipv4_range, std::stoi(id.substr(8)) + 1)}};
    p["instance_guid"] = guid;
    p["title"] = "title-" + guid;
    p["root_instance_title"] = "title-" + guid;
    p["state"] = state;
    p["software_release_uri"] = url;
    p["software_type"] = "default";
    p["timestamp"] = std::to_string(1732500000000000000LL + master.version);
    p["parameters"] = std::move(params);
    p["shared_instances"] = json::array{};
    master.bump();
  }
  void set_state(const std::string& id, const std::string& state) {
    std::lock_guard<std::mutex> g(master.mu);
    auto& p = master.partition(id);
    p["state"] = state;
    p["timestamp"] = std::to_string(1732500000000000000LL + master.version + 1);
    master.bump();
  }
  std::vector<std::string> reported(const std::string& guid) {
    std::vector<std::string> out;
    for (const auto& r : server->requests_to("/slapos.put.v0.software_instance_reported_state")) {
      auto o = json::parse(r.body).as_object();
      if (o.at("instance_guid").as_string() == guid) out.emplace_back(o.at("reported_state").as_string());
    }
    return out;
  }
  // Waits for the wall clock's next second: an instance's first measured period starts when it
  // was processed, and a report within that same second would measure an empty period (nothing).
  static void next_wall_second() {
    const auto t0 = ::time(nullptr);
    ASSERT_TRUE(testing::wait_for([&] { return ::time(nullptr) > t0; }, 3s));
  }
  // Each usage journal posted so far: its first transaction's period and first movement's reference.
  struct Posted {
    std::string start, stop, reference;
  };
  std::vector<Posted> usage_posts() {
    std::vector<Posted> out;
    for (const auto& r : server->requests_to("/slapos.post.v0.compute_node_usage")) {
      const std::string xml(json::parse(r.body).as_object().at("tioxml").as_string());
      pugi::xml_document doc;
      EXPECT_TRUE(doc.load_string(xml.c_str())) << xml;
      auto tx = doc.child("journal").child("transaction");
      out.push_back({tx.child_value("start_date"), tx.child_value("stop_date"), tx.child("movement").child_value("reference")});
    }
    return out;
  }
  int program_pid(Node& node, const std::string& name) {
    auto s = node.supervisor().status();
    if (!s.ok() || !s->count(name) || s->at(name).state != "RUNNING") return 0;
    return s->at(name).pid;
  }
};

TEST_F(NodeFlow, FormatsBuildsRunsStopsDestroysAndReports) {
  Node node(cfg);
  ASSERT_EQ(node.format_pass(), ExitCode::kOk);
  ASSERT_EQ(server->requests_to("/slapos.put.v0.compute_node_format").size(), 1u);

  ASSERT_EQ(node.software_pass(), ExitCode::kOk);
  EXPECT_TRUE(software_installed(cfg.software_root, hello_url));
  EXPECT_TRUE(software_installed(cfg.software_root, memcached_url));
  auto sw_reports = server->requests_to("/slapos.put.v0.software_installation_reported_state");
  EXPECT_EQ(sw_reports.size(), 4u);  // building + available, twice
  ASSERT_EQ(node.software_pass(), ExitCode::kOk);  // nothing rebuilt, nothing re-reported in one process
  EXPECT_EQ(server->requests_to("/slapos.put.v0.software_installation_reported_state").size(), 4u);

  std::string mc_ip = range_address(cfg.ipv4_range, 1);
  int port = free_port(mc_ip);
  allocate("slappart0", "SOFTINST-1", memcached_url, "started", json::object{{"port", std::to_string(port)}});
  allocate("slappart1", "SOFTINST-2", hello_url, "started");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  EXPECT_TRUE(testing::wait_for([&] { return can_connect(mc_ip, port); }, 10s));
  EXPECT_EQ(reported("SOFTINST-1"), std::vector<std::string>{"started"});
  auto conn = server->requests_to("/slapos.put.v0.software_instance_connection_parameter");
  ASSERT_EQ(conn.size(), 2u);
  auto dict = json::parse(conn[0].body).as_object().at("connection_parameter_dict").as_object();
  EXPECT_EQ(dict.at("url").as_string(), "memcached://" + mc_ip + ":" + std::to_string(port));
  EXPECT_EQ(dict.at("memory-mb").as_string(), "64");  // the extending release's default
  auto greeting = read_file(cfg.partition_path(1) + "/greeting.txt");
  ASSERT_TRUE(greeting.ok());
  EXPECT_EQ(*greeting, "hello, here is my patch\n");
  auto conf = read_file(cfg.partition_path(1) + "/etc/hello.conf");
  ASSERT_TRUE(conf.ok());
  EXPECT_EQ(*conf, "partition = slappart1\naddress = " + range_address(cfg.ipv4_range, 2) + "\n");
  EXPECT_TRUE(fs::exists(cfg.partition_path(1) + "/.slapnode/certificate.pem"));
  int hello_pid = program_pid(node, "slappart1:slappart1-hello");
  EXPECT_GT(hello_pid, 0);

  // Unchanged partitions are not touched, and the pass is fast.
  auto before = server->requests().size();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(server->requests().size(), before + 1);  // the view only
  EXPECT_EQ(program_pid(node, "slappart1:slappart1-hello"), hello_pid);

  // Stop hello.
  set_state("slappart1", "stopped");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  EXPECT_TRUE(testing::wait_for([&] { return ::kill(hello_pid, 0) != 0; }, 10s));
  EXPECT_EQ(reported("SOFTINST-2").back(), "stopped");

  // A process that dies is noticed and restarted by the next pass (or by supervisord itself).
  // Destroy memcached: stopped, emptied, reported; of the node's records of the partition only
  // the "destroyed" one remains (baselines go with the partition, as its data does).
  ASSERT_TRUE(write_file_atomic(cfg.partition_path(0) + "/data.db", "x").ok());
  ASSERT_TRUE(fs::exists(cfg.partition_state_path(0) + "/usage.json"));  // its first period started when processed
  ASSERT_NO_FATAL_FAILURE(next_wall_second());  // a first period of a second at least
  const size_t posted_before_destroy = server->requests_to("/slapos.post.v0.compute_node_usage").size();
  set_state("slappart0", "destroyed");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  {
    // Its last usage, measured while it still ran and posted before it was reported destroyed.
    const auto posts = server->requests_to("/slapos.post.v0.compute_node_usage");
    ASSERT_EQ(posts.size(), posted_before_destroy + 1);
    const std::string last(json::parse(posts.back().body).as_object().at("tioxml").as_string());
    EXPECT_NE(last.find("<reference>slappart0</reference>"), std::string::npos) << last;
    EXPECT_NE(last.find("SOFTINST-1"), std::string::npos) << last;
    // In that order: the master still placed the instance here when it took the journal.
    const auto all = server->requests();
    size_t usage_at = all.size(), destroyed_at = all.size();
    for (size_t k = 0; k < all.size(); ++k) {
      if (all[k].target == "/slapos.post.v0.compute_node_usage") usage_at = k;
      if (all[k].target == "/slapos.put.v0.software_instance_reported_state" && all[k].body.find("SOFTINST-1") != std::string::npos &&
          all[k].body.find("destroyed") != std::string::npos && destroyed_at == all.size()) {
        destroyed_at = k;
      }
    }
    ASSERT_LT(destroyed_at, all.size());
    EXPECT_LT(usage_at, destroyed_at);
  }
  EXPECT_TRUE(testing::wait_for([&] { return !can_connect(mc_ip, port); }, 10s));
  EXPECT_FALSE(fs::exists(cfg.partition_path(0) + "/data.db"));
  EXPECT_TRUE(fs::is_empty(cfg.partition_path(0)));
  EXPECT_FALSE(fs::exists(cfg.partition_state_path(0) + "/usage.json"));
  {
    auto rec = read_record(partition_layout(cfg)[0]);
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(rec->state, "destroyed");
    EXPECT_EQ(rec->instance_guid, "SOFTINST-1");
  }
  EXPECT_EQ(reported("SOFTINST-1").back(), "destroyed");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  EXPECT_EQ(reported("SOFTINST-1").size(), 2u);  // destroyed reported once

  // A partition naming a release that is not installed fails alone.
  allocate("slappart2", "SOFTINST-3", "file:///nowhere/software.cfg", "started");
  EXPECT_EQ(node.instance_pass(), ExitCode::kFailure);
  EXPECT_EQ(server->requests_to("/slapos.put.v0.software_instance_error").size(), 1u);
  { std::lock_guard<std::mutex> g(master.mu); master.partitions().pop_back(); master.bump(); }

  // Usage report, with a movement the instance wrote itself.
  set_state("slappart1", "started");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  fs::create_directories(cfg.partition_path(1) + "/var/xml_report");
  ASSERT_TRUE(write_file_atomic(cfg.partition_path(1) + "/var/xml_report/r1.xml",
                                "<consumption><movement><resource>custom/greetings</resource><quantity>3</quantity>"
                                "<price>0</price><VAT/></movement></consumption>")
                  .ok());
  ASSERT_NO_FATAL_FAILURE(next_wall_second());  // a first period of a second at least
  const size_t posted_before = server->requests_to("/slapos.post.v0.compute_node_usage").size();
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  auto usage = server->requests_to("/slapos.post.v0.compute_node_usage");
  ASSERT_EQ(usage.size(), posted_before + 1);
  std::string xml(json::parse(usage.back().body).as_object().at("tioxml").as_string());
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml.c_str())) << xml;
  auto tx = doc.child("journal").child("transaction");
  EXPECT_STREQ(tx.child_value("reference"), "slappart1");
  std::set<std::string> resources;
  for (auto mv : tx.children("movement")) resources.insert(mv.child_value("resource"));
  EXPECT_EQ(resources, (std::set<std::string>{"usage/cpu_s", "usage/ram_byte_s", "usage/disk_byte_s", "custom/greetings"}));
  EXPECT_TRUE(fs::exists(cfg.partition_path(1) + "/var/xml_report/r1.xml.reported"));

  // A file the master refuses (a unit it does not know) does not stop the computer's usage: the
  // node's measurements go again without it, and the file is set aside. (A later second: a pass
  // within the second already reported measures nothing, its period would be empty.)
  const std::string reported_until = tx.child_value("stop_date");
  ASSERT_TRUE(testing::wait_for([&] { return tio_date(::time(nullptr)) > reported_until; }, 3s));
  {
    std::lock_guard<std::mutex> g(master.mu);
    master.refuse_usage_containing = "custom/furlongs";
  }
  ASSERT_TRUE(write_file_atomic(cfg.partition_path(1) + "/var/xml_report/r2.xml",
                                "<consumption><movement><resource>custom/furlongs</resource><quantity>1</quantity>"
                                "<price>0</price><VAT/></movement></consumption>")
                  .ok());
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  usage = server->requests_to("/slapos.post.v0.compute_node_usage");
  // The ones above; the refused journal; its one partition's transaction alone, refused too; that
  // partition's measurements alone, taken.
  ASSERT_EQ(usage.size(), posted_before + 4);
  std::string last(json::parse(usage.back().body).as_object().at("tioxml").as_string());
  EXPECT_EQ(last.find("custom/furlongs"), std::string::npos);
  EXPECT_NE(last.find("usage/cpu_s"), std::string::npos);
  EXPECT_TRUE(fs::exists(cfg.partition_path(1) + "/var/xml_report/r2.xml.refused"));
  EXPECT_FALSE(fs::exists(cfg.partition_path(1) + "/var/xml_report/r2.xml"));
}

// A release is not removed from under a partition that runs it: neither when the view lists it
// destroyed while a partition still hosts it, nor when it stops being listed in the same view that
// frees the partition (the software pass runs before the instance pass stops the processes). Once
// the partition is destroyed, the next pass removes it.
TEST_F(NodeFlow, AReleaseIsNotRemovedWhileAPartitionRunsIt) {
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  allocate("slappart1", "SOFTINST-2", hello_url, "started");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  const int hello_pid = program_pid(node, "slappart1:slappart1-hello");
  ASSERT_GT(hello_pid, 0);
  auto set_software = [&](json::array software) {
    std::lock_guard<std::mutex> g(master.mu);
    master.view["software"] = std::move(software);
    master.bump();
  };
  auto destroyed_reports = [&] {
    size_t n = 0;
    for (const auto& r : server->requests_to("/slapos.put.v0.software_installation_reported_state")) {
      n += r.body.find("\"destroyed\"") != std::string::npos;
    }
    return n;
  };

  // Listed destroyed while the view still allocates a partition to it: kept, not reported destroyed.
  set_software(json::array{json::object{{"url", hello_url}, {"state", "destroyed"}}, json::object{{"url", memcached_url}, {"state", "available"}}});
  ASSERT_EQ(node.software_pass(), ExitCode::kOk);
  EXPECT_TRUE(software_installed(cfg.software_root, hello_url));
  EXPECT_EQ(destroyed_reports(), 0u);
  EXPECT_EQ(program_pid(node, "slappart1:slappart1-hello"), hello_pid);

  // Freed and unlisted in one view: the partition's own record still says it runs the release.
  {
    std::lock_guard<std::mutex> g(master.mu);
    master.partitions().clear();
    master.bump();
  }
  set_software(json::array{json::object{{"url", memcached_url}, {"state", "available"}}});
  ASSERT_EQ(node.software_pass(), ExitCode::kOk);
  EXPECT_TRUE(software_installed(cfg.software_root, hello_url));

  // The instance pass empties the partition; then the release goes.
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  EXPECT_TRUE(testing::wait_for([&] { return ::kill(hello_pid, 0) != 0; }, 10s));
  ASSERT_EQ(node.software_pass(), ExitCode::kOk);
  EXPECT_FALSE(software_installed(cfg.software_root, hello_url));
  EXPECT_TRUE(software_installed(cfg.software_root, memcached_url));
}

// A usage journal whose answer is lost (the master may have taken it) goes again unchanged, with
// the same period, which the master counts once; the next journal starts where it stopped. Before,
// the baselines stayed put and the same CPU time was sent again under a longer period: billed twice.
TEST_F(NodeFlow, AUsageJournalWhoseAnswerIsLostGoesAgainUnchanged) {
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  allocate("slappart1", "SOFTINST-2", hello_url, "started");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  auto journals = [&] {
    std::vector<std::string> out;
    for (const auto& r : server->requests_to("/slapos.post.v0.compute_node_usage")) {
      out.emplace_back(json::parse(r.body).as_object().at("tioxml").as_string());
    }
    return out;
  };
  auto period = [](const std::string& xml) {
    pugi::xml_document doc;
    EXPECT_TRUE(doc.load_string(xml.c_str())) << xml;
    auto tx = doc.child("journal").child("transaction");
    return std::pair<std::string, std::string>(tx.child_value("start_date"), tx.child_value("stop_date"));
  };
  ASSERT_NO_FATAL_FAILURE(next_wall_second());  // a first period of a second at least
  { std::lock_guard<std::mutex> g(master.mu); master.lose_usage_answers = true; }
  ASSERT_EQ(node.report_pass(), ExitCode::kMasterUnreachable);
  const auto lost = journals();
  ASSERT_FALSE(lost.empty());
  for (const auto& j : lost) EXPECT_EQ(j, lost.front());  // the client's own retries: the same bytes

  // A later second, so that measuring again now would give a different period (the old behaviour:
  // the same CPU time again, from the same start to this later stop, counted twice).
  ASSERT_TRUE(testing::wait_for([&] { return tio_date(::time(nullptr)) > period(lost.front()).second; }, 3s));
  { std::lock_guard<std::mutex> g(master.mu); master.lose_usage_answers = false; }
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  const auto all = journals();
  ASSERT_EQ(all.size(), lost.size() + 2);      // the lost journal again, then the time since
  EXPECT_EQ(all[lost.size()], lost.front());   // byte for byte: the same periods
  EXPECT_EQ(period(all.back()).first, period(lost.front()).second);
}

// A partition given to another instance while a journal of the previous one waited for the
// master: the journal goes as it was, but its baselines stay with the instance it measured, and the
// new instance's measurements start from their own. Before, the old instance's CPU baseline was
// written into the new instance's state directory: every later pass billed the new instance's
// processes from their start (a baseline of another instance is not its own), and its own baseline
// was refused over the old one, for good.
TEST_F(NodeFlow, AJournalWaitingAcrossAReallocationLeavesTheNewInstanceItsOwnBaseline) {
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  allocate("slappart1", "SOFTINST-2", hello_url, "started");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  ASSERT_NO_FATAL_FAILURE(next_wall_second());  // a first period of a second at least
  { std::lock_guard<std::mutex> g(master.mu); master.lose_usage_answers = true; }
  ASSERT_EQ(node.report_pass(), ExitCode::kMasterUnreachable);
  // The master gives the partition to another instance (SOFTINST-2 freed meanwhile).
  allocate("slappart1", "SOFTINST-3", hello_url, "started");
  const std::string processed = tio_date(::time(nullptr));
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  ASSERT_NO_FATAL_FAILURE(next_wall_second());  // SOFTINST-3's first period: a second at least
  { std::lock_guard<std::mutex> g(master.mu); master.lose_usage_answers = false; }
  const std::string lost_stop = usage_posts().back().stop;
  ASSERT_TRUE(testing::wait_for([&] { return tio_date(::time(nullptr)) > lost_stop; }, 3s));
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);  // the waiting journal, then SOFTINST-3 measured
  EXPECT_EQ(baseline_instance(cfg.partition_state_path(1), kCpuBaselineFile), "SOFTINST-3");
  const Posted first = usage_posts().back();
  EXPECT_EQ(first.reference, "SOFTINST-3");
  EXPECT_GE(first.start, processed) << "SOFTINST-3's first period starts when it was processed";
  ASSERT_TRUE(testing::wait_for([&] { return tio_date(::time(nullptr)) > first.stop; }, 3s));
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  EXPECT_EQ(usage_posts().back().start, first.stop) << "SOFTINST-3's next period starts where its last stopped";
}

// A partition's CPU is billed whole, the processes that exited between two reports included:
// its program runs a CPU burner of a fifth of a second again and again, so at a report only the
// burner of the moment is alive. Sampled per process, every burner before it went unbilled.
TEST_F(NodeFlow, TheCpuOfProcessesThatExitedBetweenReportsIsBilled) {
  auto groups = CpuGroups::open(cfg.instance_root);
  if (!groups) GTEST_SKIP() << "no writable cgroup hierarchy here (or not root): CPU is sampled per process";
  const std::string burner = add_release("burner", "[buildout]\nparts =\n\n[instance]\nprogram.burn = /bin/sh -c 'while :; do timeout 0.2 yes >/dev/null; done'\n");
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  allocate("slappart2", "SOFTINST-7", burner, "started");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  // The instance pass moved the program it started into its partition's group: from then on the
  // burners it starts are born there.
  EXPECT_FALSE(groups->members("slappart2").empty());
  const std::string state = cfg.partition_state_path(2);
  const auto moved = read_group(*groups, "slappart2", state);
  ASSERT_TRUE(moved.has_value());
  ASSERT_TRUE(testing::wait_for([&] {
    auto now = read_group(*groups, "slappart2", state);
    return now && now->usage_us >= moved->usage_us + 1'500'000;
  }, 60s));
  const size_t journals = server->requests_to("/slapos.post.v0.compute_node_usage").size();
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  const auto reported = read_group(*groups, "slappart2", state);
  ASSERT_TRUE(reported.has_value());
  const auto posts = server->requests_to("/slapos.post.v0.compute_node_usage");
  ASSERT_EQ(posts.size(), journals + 1);
  double billed = -1;
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(std::string(json::parse(posts.back().body).as_object().at("tioxml").as_string()).c_str()));
  for (auto tx : doc.child("journal").children("transaction")) {
    for (auto mv : tx.children("movement")) {
      if (std::string(mv.child_value("resource")) == "usage/cpu_s" && std::string(mv.child_value("reference")) == "SOFTINST-7") {
        billed = std::stod(mv.child_value("quantity"));
      }
    }
  }
  // At most 0.2 s of it is the burner alive at the report: sampling alone billed about that much.
  EXPECT_GE(billed, 1.5) << "the CPU of the burners that exited before the report";
  // And nothing twice: no more than the group counted since the instance was processed (its
  // baseline's reading, fresh group: nothing yet), plus what it burned between the node's reading
  // and this test's (a journal's post in between).
  EXPECT_LE(billed, static_cast<double>(reported->usage_us) / 1e6 + 0.15);
}

// What escaped supervisord goes with its partition: a daemon that double-forked away from its
// program (out of the process tree slapnode follows) is still in the partition's group, and a
// destroy kills it. Before, only a partition with a user of its own had its leftovers killed.
TEST_F(NodeFlow, ADestroyKillsADaemonThatEscapedSupervisord) {
  auto groups = CpuGroups::open(cfg.instance_root);
  if (!groups) GTEST_SKIP() << "no writable cgroup hierarchy here (or not root): CPU is sampled per process";
  const std::string trigger = tmp / "fork-now";
  const std::string forker = add_release("forker", "[buildout]\nparts =\n\n[instance]\nprogram.forker = /bin/sh -c 'while [ ! -e " + trigger +
                                                       " ]; do sleep 0.05; done; (setsid sleep 1000 &); exec sleep 1000'\n");
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  allocate("slappart1", "SOFTINST-5", forker, "started");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  ASSERT_NO_FATAL_FAILURE(next_wall_second());
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  ASSERT_FALSE(groups->members("slappart1").empty());  // moved into its group by the instance pass
  ASSERT_TRUE(write_file_atomic(trigger, "").ok());
  const int program = program_pid(node, "slappart1:slappart1-forker");
  pid_t daemon = 0;
  ASSERT_TRUE(testing::wait_for([&] {
    for (pid_t pid : groups->members("slappart1")) {
      const auto tree = process_tree({program});
      if (pid != program && std::find(tree.begin(), tree.end(), pid) == tree.end()) daemon = pid;
    }
    return daemon != 0;
  }, 10s)) << "the double-forked daemon, in the group, out of the program's tree";
  set_state("slappart1", "destroyed");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  EXPECT_EQ(reported("SOFTINST-5").back(), "destroyed");
  EXPECT_TRUE(groups->members("slappart1").empty());
  auto gone = [](pid_t pid) {  // no such process, or a zombie waiting for its reaper
    auto s = sample_process(pid);
    return !s.ok() || s->zombie;
  };
  EXPECT_TRUE(testing::wait_for([&] { return gone(daemon); }, 10s)) << "the daemon outlived its partition";
}

// supervisord restarts a program that died on its own, between slapnode's passes. Started through
// slapnode-launch, the new process is in its partition's group from its first instruction: before,
// it and whatever it forked ran in supervisord's group, billed to nobody, until the next pass.
TEST_F(NodeFlow, AProgramSupervisordRestartsIsBornInItsPartitionsGroup) {
  auto groups = CpuGroups::open(cfg.instance_root);
  if (!groups) GTEST_SKIP() << "no writable cgroup hierarchy here (or not root): CPU is sampled per process";
  if (usable_launcher(cfg.launcher).empty()) GTEST_SKIP() << "the built launcher may be changed by someone other than root: not used";
  const std::string sleeper = add_release("sleeper", "[buildout]\nparts =\n\n[instance]\nprogram.sleep = /bin/sleep 1000\n");
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  allocate("slappart3", "SOFTINST-9", sleeper, "started");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  int first = 0;
  ASSERT_TRUE(testing::wait_for([&] { return (first = program_pid(node, "slappart3:slappart3-sleep")) > 0; }, 20s));
  EXPECT_TRUE(groups->members("slappart3").count(first));
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  int second = 0;
  ASSERT_TRUE(testing::wait_for([&] {
    second = program_pid(node, "slappart3:slappart3-sleep");
    return second > 0 && second != first;
  }, 30s)) << "supervisord restarts it";
  EXPECT_EQ(groups->members("slappart3"), std::set<pid_t>{second}) << "born in its group, with no pass since";
}

// The launcher a partition's programs run through is part of what was applied: a slapnode that
// finds another one (moved, reinstalled elsewhere) sets the partition up again, so supervisord
// never keeps running, as root, a path this slapnode did not check. A program whose command cannot
// run does not keep its instance from being stopped.
TEST_F(NodeFlow, PartitionsAreSetUpAgainWhenTheLauncherChangesAndStopDespiteABadCommand) {
  auto groups = CpuGroups::open(cfg.instance_root);
  if (!groups) GTEST_SKIP() << "no writable cgroup hierarchy here (or not root): no launcher";
  if (usable_launcher(cfg.launcher).empty()) GTEST_SKIP() << "the built launcher may be changed by someone other than root: not used";
  const std::string sleeper = add_release("sleeper", "[buildout]\nparts =\n\n[instance]\nprogram.sleep = /bin/sleep 1000\n");
  const std::string program_conf = cfg.run_dir + "/programs/slappart2.conf";
  {
    Node node(cfg);
    ASSERT_NO_FATAL_FAILURE(format_and_build(node));
    allocate("slappart2", "SOFTINST-8", sleeper, "started");
    ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
    ASSERT_TRUE(testing::wait_for([&] { return program_pid(node, "slappart2:slappart2-sleep") > 0; }, 20s));
    ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
    EXPECT_EQ(server->requests_to("/slapos.put.v0.software_instance_reported_state").size(), 1u) << "unchanged the second time";
  }
  EXPECT_NE(read_file(program_conf).value().find(std::string(SLAPNODE_LAUNCH) + " --group"), std::string::npos);
  const std::string alt = tmp / "alt";
  fs::create_directories(alt);
  ::chmod(alt.c_str(), 0755);
  fs::copy_file(SLAPNODE_LAUNCH, alt + "/slapnode-launch");
  NodeConfig moved = cfg;
  moved.launcher = alt + "/slapnode-launch";
  Node node(moved);
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  EXPECT_EQ(server->requests_to("/slapos.put.v0.software_instance_reported_state").size(), 2u) << "set up again";
  const std::string conf = read_file(program_conf).value();
  EXPECT_NE(conf.find(moved.launcher + " --group"), std::string::npos) << conf;
  EXPECT_EQ(conf.find(SLAPNODE_LAUNCH), std::string::npos) << conf;
  int pid = 0;
  ASSERT_TRUE(testing::wait_for([&] { return (pid = program_pid(node, "slappart2:slappart2-sleep")) > 0; }, 20s));
  EXPECT_EQ(groups->members("slappart2"), std::set<pid_t>{pid});
  // Its release loses the program's binary, and the master wants it stopped: it is.
  const std::string broken = add_release("broken", "[buildout]\nparts =\n\n[instance]\nprogram.sleep = /nonexistent/sleep 1000\n");
  ASSERT_EQ(node.software_pass(), ExitCode::kOk);
  allocate("slappart2", "SOFTINST-8", broken, "started");
  EXPECT_EQ(node.instance_pass(), ExitCode::kFailure) << "started: it cannot run, as supervisord said of it";
  EXPECT_TRUE(testing::wait_for([&] { return groups->members("slappart2").empty(); }, 20s)) << "and nothing of the old one runs on the new files";
  set_state("slappart2", "stopped");
  EXPECT_EQ(node.instance_pass(), ExitCode::kOk) << "stopped: nothing to run, nothing refused";
  EXPECT_EQ(reported("SOFTINST-8").back(), "stopped");
}

// The master keeps what nodes report of their software in memory (slapd/node_reports.h), and a
// software pass reports a state only when it changes: a master restarted since showed nothing
// reported for releases built long ago, for good. Each report pass lets the next software pass
// report every state once more.
TEST_F(NodeFlow, SoftwareStatesAreReportedAgainAfterEachReportPass) {
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  auto available = [&] {
    size_t n = 0;
    for (const auto& r : server->requests_to("/slapos.put.v0.software_installation_reported_state")) n += r.body.find("\"available\"") != std::string::npos;
    return n;
  };
  const size_t built = available();
  ASSERT_EQ(built, 2u);
  ASSERT_EQ(node.software_pass(), ExitCode::kOk);
  EXPECT_EQ(available(), built) << "unchanged, not reported again before a report pass";
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  ASSERT_EQ(node.software_pass(), ExitCode::kOk);
  EXPECT_EQ(available(), built + 2);
  ASSERT_EQ(node.software_pass(), ExitCode::kOk);
  EXPECT_EQ(available(), built + 2);
}

// An instance's first measured period starts when it was processed here: before, it was the report
// interval before the first report (an hour by default), so a new instance was billed memory and
// disk for up to an hour it did not exist, over its predecessor's last period.
TEST_F(NodeFlow, AnInstancesFirstPeriodStartsWhenItWasProcessed) {
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  allocate("slappart1", "SOFTINST-2", hello_url, "started");
  const std::string before = tio_date(::time(nullptr));
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  ASSERT_NO_FATAL_FAILURE(next_wall_second());
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  const auto posts = usage_posts();
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_GE(posts[0].start, before) << "the first period began " << cfg.report_interval_s << " s before the report";
}

// A journal the master refuses because of one partition (here any transaction naming SOFTINST-2,
// as for an instance destroyed since) does not cost the others their usage: each partition's
// transaction then goes alone, and only the refused one is dropped.
TEST_F(NodeFlow, OnePartitionsRefusedUsageDoesNotDropTheOthers) {
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(two_hello_instances(node));
  ASSERT_NO_FATAL_FAILURE(next_wall_second());  // a first period of a second at least
  { std::lock_guard<std::mutex> g(master.mu); master.refuse_usage_containing = "SOFTINST-2"; }
  EXPECT_EQ(node.report_pass(), ExitCode::kFailure);  // one transaction dropped, and said so
  const time_t measured = ::time(nullptr);
  size_t taken_alone = 0;
  for (const auto& r : server->requests_to("/slapos.post.v0.compute_node_usage")) {
    const std::string xml(json::parse(r.body).as_object().at("tioxml").as_string());
    taken_alone += xml.find("SOFTINST-1") != std::string::npos && xml.find("SOFTINST-2") == std::string::npos;
  }
  EXPECT_EQ(taken_alone, 1u);

  // A refusal that is not about the journal (the certificate is not this computer's, say) drops
  // nothing: the same journal goes again once the master takes it.
  {
    std::lock_guard<std::mutex> g(master.mu);
    master.refuse_usage_containing.clear();
    master.usage_forbidden = true;
  }
  const size_t before = server->requests_to("/slapos.post.v0.compute_node_usage").size();
  ASSERT_TRUE(testing::wait_for([&] { return ::time(nullptr) > measured; }, 3s));  // a later second: measured anew
  ASSERT_EQ(node.report_pass(), ExitCode::kFailure);
  const auto forbidden = server->requests_to("/slapos.post.v0.compute_node_usage");
  ASSERT_GT(forbidden.size(), before);
  { std::lock_guard<std::mutex> g(master.mu); master.usage_forbidden = false; }
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  const auto after = server->requests_to("/slapos.post.v0.compute_node_usage");
  ASSERT_GT(after.size(), forbidden.size());
  EXPECT_EQ(after[forbidden.size()].body, forbidden[before].body);  // the very journal refused before
}

// A journal sent again after its answer was lost moves only what it measured: not the baselines
// of a partition destroyed since (they would date its next instance's first period back to it),
// not a consumption file written since under a reused name (it is a new report, billed next), and
// nothing through a link its partition's user put in place of var/xml_report meanwhile.
TEST_F(NodeFlow, AJournalSentAgainMovesOnlyWhatItMeasured) {
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(two_hello_instances(node));
  const std::string reports0 = cfg.partition_path(0) + "/var/xml_report", reports1 = cfg.partition_path(1) + "/var/xml_report";
  fs::create_directories(reports0);
  fs::create_directories(reports1);
  auto consumption = [](const std::string& resource) {
    return "<consumption><movement><resource>" + resource + "</resource><quantity>1</quantity><price>0</price><VAT/></movement></consumption>";
  };
  ASSERT_TRUE(write_file_atomic(reports0 + "/r1.xml", consumption("custom/first")).ok());
  ASSERT_TRUE(write_file_atomic(reports1 + "/r1.xml", consumption("custom/first")).ok());
  ASSERT_NO_FATAL_FAILURE(next_wall_second());  // a first period of a second at least
  { std::lock_guard<std::mutex> g(master.mu); master.lose_usage_answers = true; }
  ASSERT_EQ(node.report_pass(), ExitCode::kMasterUnreachable);
  // Waits until the wall clock is past the last posted journal's stop (a pass within the same
  // second measures nothing new).
  auto next_second = [&] {
    const std::string stop = usage_posts().back().stop;
    return testing::wait_for([&] { return tio_date(::time(nullptr)) > stop; }, 3s);
  };

  // Meanwhile: slappart1 is destroyed; slappart0's instance writes a new report under the same
  // name; then its user swaps its reports directory for a link to a directory outside.
  set_state("slappart1", "destroyed");
  // Its last usage cannot be delivered while the journal before it waits: the destroy waits too
  // (not a failure, and not reported to the master as an error of the instance).
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  EXPECT_TRUE(fs::exists(cfg.partition_state_path(1) + "/usage.json"));
  EXPECT_TRUE(reported("SOFTINST-2").empty() || reported("SOFTINST-2").back() != "destroyed");
  EXPECT_TRUE(server->requests_to("/slapos.put.v0.software_instance_error").empty());
  ASSERT_TRUE(write_file_atomic(reports0 + "/r1.xml", consumption("custom/second")).ok());
  const std::string outside = tmp / "outside";
  fs::create_directories(outside);
  ASSERT_TRUE(write_file_atomic(outside + "/r1.xml", consumption("custom/elsewhere")).ok());
  fs::rename(reports0, reports0 + ".real");
  fs::create_directory_symlink(outside, reports0);

  ASSERT_TRUE(next_second());
  { std::lock_guard<std::mutex> g(master.mu); master.lose_usage_answers = false; }
  // The waiting journal, the last usage of slappart1's instance, then its destroy (its baselines
  // emptied with it). slappart0's reports directory is a link: nothing is read through it.
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  EXPECT_EQ(reported("SOFTINST-2").back(), "destroyed");
  EXPECT_FALSE(fs::exists(cfg.partition_state_path(1) + "/usage.json"));
  EXPECT_TRUE(fs::exists(outside + "/r1.xml"));  // nothing renamed through the link
  // Back in place, the new report is read and billed by the next pass, not renamed unread.
  fs::remove(reports0);
  fs::rename(reports0 + ".real", reports0);
  EXPECT_TRUE(fs::exists(reports0 + "/r1.xml"));
  ASSERT_TRUE(next_second());
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  bool second_billed = false;
  for (const auto& r : server->requests_to("/slapos.post.v0.compute_node_usage")) {
    second_billed |= json::parse(r.body).as_object().at("tioxml").as_string().find("custom/second") != json::string::npos;
  }
  EXPECT_TRUE(second_billed);
}

// An instance whose promise still fails has no record yet, but runs: its usage baselines move
// like any other's, so the next journal starts where the last stopped (before, each pass billed
// its processes' CPU from their start again, under a new period).
TEST_F(NodeFlow, UsageOfAnInstanceNotYetRecordedStartsWhereTheLastStopped) {
  const std::string gated = add_release("gated",
                                        "[buildout]\nparts =\n\n[instance]\nstartsecs = 0\nprogram.idle = sleep 100000\n"
                                        "promise.ready = test -f ${partition:path}/ready\n");
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  allocate("slappart2", "SOFTINST-7", gated, "started");
  EXPECT_EQ(node.instance_pass(), ExitCode::kPromiseFailed);
  ASSERT_NO_FATAL_FAILURE(next_wall_second());  // a first period of a second at least
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  ASSERT_EQ(usage_posts().size(), 1u);
  const std::string stop = usage_posts().back().stop;
  ASSERT_TRUE(testing::wait_for([&] { return tio_date(::time(nullptr)) > stop; }, 3s));
  ASSERT_EQ(node.report_pass(), ExitCode::kOk);
  ASSERT_EQ(usage_posts().size(), 2u);
  EXPECT_EQ(usage_posts().back().start, stop);
}

// The master keeps one valid certificate per instance and revokes the others when it issues one.
// A partition processed again and again (here a program that cannot start, so that each pass
// processes it again) keeps the certificate its programs loaded instead of fetching one, which
// revoked that one, at every pass.
TEST_F(NodeFlow, AnInstanceKeepsItsCertificateAcrossPasses) {
  {
    std::lock_guard<std::mutex> g(master.mu);
    master.certificate = read_file(tmp / "client.pem").value();  // a real one: its validity is read
    master.key = read_file(tmp / "client.key").value();
  }
  const std::string quick = add_release("quick", "[buildout]\nparts =\n\n[instance]\nstartsecs = 0\nprogram.broken = /nonexistent/bin\n");
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  allocate("slappart3", "SOFTINST-9", quick, "started");
  for (int pass = 0; pass < 3; ++pass) EXPECT_EQ(node.instance_pass(), ExitCode::kFailure);  // processed, and failed, each time
  EXPECT_EQ(server->requests_to("/slapos.get.v0.software_instance_certificate").size(), 1u);
  auto installed = read_file(cfg.partition_path(3) + "/.slapnode/certificate.pem");
  ASSERT_TRUE(installed.ok());
  EXPECT_EQ(*installed, master.certificate);
  // Gone from the partition: fetched again.
  fs::remove(cfg.partition_path(3) + "/.slapnode/certificate.pem");
  EXPECT_EQ(node.instance_pass(), ExitCode::kFailure);
  EXPECT_EQ(server->requests_to("/slapos.get.v0.software_instance_certificate").size(), 2u);
}

// A program reads its files when it starts: when a parameter changes only a file.* output (the
// program line stays the same), the programs restart and see the new content.
TEST_F(NodeFlow, ProgramsRestartWhenOnlyTheirFilesChange) {
  const std::string msg_url = add_release("msg",
                                          "[buildout]\nparts =\n\n[instance]\nstartsecs = 0\n"
                                          "program.show = /bin/sh -c \"cp etc/msg.conf seen.txt && exec sleep 1000\"\n"
                                          "file.etc/msg.conf = ${parameters:msg}\n");
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  const std::string seen = cfg.partition_path(2) + "/seen.txt";
  auto seen_is = [&](const std::string& want) {
    return testing::wait_for([&] { auto t = read_file(seen); return t.ok() && *t == want; }, 10s);
  };
  allocate("slappart2", "SOFTINST-5", msg_url, "started", json::object{{"msg", "one"}});
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  ASSERT_TRUE(seen_is("one\n"));
  const int first_pid = program_pid(node, "slappart2:slappart2-show");
  ASSERT_GT(first_pid, 0);
  // Unchanged: not restarted.
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  EXPECT_EQ(program_pid(node, "slappart2:slappart2-show"), first_pid);

  allocate("slappart2", "SOFTINST-5", msg_url, "started", json::object{{"msg", "two"}});
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  EXPECT_TRUE(seen_is("two\n"));
  EXPECT_NE(program_pid(node, "slappart2:slappart2-show"), first_pid);
}

// A partition whose entry in the view is refused (here a parameter key with a '/') is not taken
// for a freed one: its instance keeps running and its files stay, until a valid entry comes back.
TEST_F(NodeFlow, APartitionWhoseEntryIsRefusedIsLeftUntouched) {
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  allocate("slappart1", "SOFTINST-2", hello_url, "started");
  ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
  const int pid = program_pid(node, "slappart1:slappart1-hello");
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(write_file_atomic(cfg.partition_path(1) + "/data.db", "x").ok());

  allocate("slappart1", "SOFTINST-2", hello_url, "started", json::object{{"a/b", "1"}});
  node.instance_pass();
  EXPECT_EQ(program_pid(node, "slappart1:slappart1-hello"), pid);
  EXPECT_TRUE(fs::exists(cfg.partition_path(1) + "/data.db"));
  EXPECT_TRUE(reported("SOFTINST-2") == std::vector<std::string>{"started"});  // no destroyed report

  // Listed twice: both entries refused, the partition still left alone.
  {
    std::lock_guard<std::mutex> g(master.mu);
    master.partition("slappart1").erase("parameters");
    json::value copy = master.partition("slappart1");
    master.partitions().push_back(copy);
    master.bump();
  }
  node.instance_pass();
  EXPECT_EQ(program_pid(node, "slappart1:slappart1-hello"), pid);
  EXPECT_TRUE(fs::exists(cfg.partition_path(1) + "/data.db"));
}

// A destroyed partition's user keeps nothing running, not even a process that made itself
// non-dumpable (proc(5): its /proc entry may then belong to root, and a scan by owner would pass
// it over; this machine's kernel kept the uid, so here the test proves the kill, not that case).
TEST(KillUserProcesses, KillsNonDumpableProcessesOfTheUser) {
  if (!running_as_root()) GTEST_SKIP() << "needs root to run a process under another uid";
  constexpr uid_t kUid = 64999;  // no account needed: the kernel knows uids as numbers
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // async-signal-safe calls only: the test process has threads
    ::close(ready[0]);
    if (::setgid(kUid) != 0 || ::setuid(kUid) != 0 || ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) ::_exit(3);
    if (::write(ready[1], "x", 1) != 1) ::_exit(4);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1) << "the child could not become uid " << kUid;
  ::close(ready[0]);

  kill_user_processes(kUid);
  int status = 0;
  const bool reaped = testing::wait_for([&] { return ::waitpid(child, &status, WNOHANG) == child; }, 10s);
  if (!reaped) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
  }
  EXPECT_TRUE(reaped) << "the non-dumpable process survived";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

// The node's own records of a partition — what was last applied (a "destroyed" one makes later
// destroys skip it), the CPU and network baselines usage is billed from — are out of the reach of
// the partition's user: not in the partition directory it owns, but in slapnode's state directory
// (mode 0700, slapnode's uid). As root, a process under the partition's uid can neither rewrite,
// remove nor replace them, and its own .slapnode turned into a symlink redirects nothing.
// Root writes an instance's files into a partition its user owns, and that user may swap any
// directory on the way for a symlink at any moment: the write lands inside the partition or fails,
// never outside it (before, a swap between the check and the open sent it, and its chown, there).
TEST(WriteInside, ADirectorySwappedForASymlinkOnTheWayIsNeverFollowed) {
  testing::TempDir tmp;
  const std::string part = tmp / "part", outside = tmp / "outside";
  fs::create_directories(part + "/etc");
  fs::create_directories(outside);
  std::atomic<bool> stop{false};
  std::thread user([&] {
    while (!stop.load()) {
      ::rename((part + "/etc").c_str(), (part + "/etc.real").c_str());
      (void)::symlink(outside.c_str(), (part + "/etc").c_str());
      ::unlink((part + "/etc").c_str());
      ::rename((part + "/etc.real").c_str(), (part + "/etc").c_str());
    }
  });
  int written = 0;
  for (int k = 0; k < 3000; ++k) written += write_inside(part, "etc/app.conf", "x\n", 0640, std::nullopt).ok();
  stop = true;
  user.join();
  std::vector<std::string> escaped;
  for (const auto& e : fs::directory_iterator(outside)) escaped.push_back(e.path().filename().string());
  EXPECT_TRUE(escaped.empty()) << "written outside the partition: " << escaped.front();
  EXPECT_GT(written, 0);
}

TEST(PartitionState, ThePartitionUserCannotAlterItsRecordOrUsageBaselines) {
  testing::TempDir tmp;
  NodeConfig cfg;
  cfg.instance_root = tmp / "srv";
  cfg.software_root = tmp / "opt";
  cfg.run_dir = tmp / "run";
  cfg.partition_count = 2;
  cfg.ipv4_range = "127.1.0.0/24";
  cfg.privilege = Privilege::kNo;
  ASSERT_TRUE(format_partitions(cfg).ok());
  PartitionLayout layout = partition_layout(cfg)[1];
  ASSERT_EQ(layout.state_dir, cfg.partition_state_path(1));
  constexpr uid_t kUid = 64998;  // the partition's user; no account needed
  layout.identity = Identity{kUid, kUid};

  ASSERT_TRUE(write_record(layout, {"SOFTINST-9", "1", "started", "file:///x/software.cfg", 1}).ok());
  auto self = sample_process(::getpid());
  ASSERT_TRUE(self.ok());
  (void)cpu_since_last(layout.state_dir, {*self}, 1000, true);
  net_baseline(layout.state_dir, "SOFTINST-9", 12345);

  // Not inside the partition; the directory and the state root are slapnode's alone.
  const std::string part = fs::canonical(layout.path).string();
  const std::string state = fs::canonical(layout.state_dir).string();
  EXPECT_NE(state.rfind(part + "/", 0), 0u) << state << " is inside " << part;
  for (const std::string& dir : {layout.state_dir, cfg.state_root()}) {
    struct stat st {};
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0) << dir;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << dir;
    EXPECT_EQ(st.st_uid, ::geteuid()) << dir;
    EXPECT_EQ(st.st_mode & 07777, 0700u) << dir;
  }
  const std::string record = layout.state_dir + "/state.json", usage = layout.state_dir + "/usage.json",
                    net = layout.state_dir + "/net.json";
  for (const std::string& f : {record, usage, net}) {
    struct stat st {};
    ASSERT_EQ(::lstat(f.c_str(), &st), 0) << f;
    EXPECT_TRUE(S_ISREG(st.st_mode)) << f;
    EXPECT_EQ(st.st_uid, ::geteuid()) << f;
  }
  EXPECT_FALSE(fs::exists(layout.path + "/.slapnode"));  // nothing of the node's records there
  // A state root that is a symlink is refused, never written through.
  fs::create_directories(tmp / "target");
  fs::create_directories(tmp / "srv2");
  fs::create_directory_symlink(tmp / "target", tmp / "srv2/.slapnode-state");
  EXPECT_FALSE(ensure_state_dir(tmp / "srv2/.slapnode-state/slappart0").ok());
  EXPECT_TRUE(fs::is_empty(tmp / "target"));

  if (!running_as_root()) GTEST_SKIP() << "the rest runs a process under the partition's uid: needs root";
  // As /srv would be: the partition's user reaches its directory (0750, its own) through the root.
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0755), 0);
  ASSERT_EQ(::chown(layout.path.c_str(), kUid, kUid), 0);
  const std::string elsewhere = tmp / "elsewhere";  // root's: where a symlinked .slapnode would point
  fs::create_directories(elsewhere);
  const std::string own = layout.path + "/own", stolen = layout.path + "/stolen", planted = record + ".tmp",
                    link = layout.path + "/.slapnode", state_root = cfg.state_root();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // async-signal-safe calls only: the test process has threads
    if (::setgroups(0, nullptr) != 0 || ::setgid(kUid) != 0 || ::setuid(kUid) != 0) ::_exit(3);
    const int mine = ::open(own.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);  // control: its partition is its own
    if (mine < 0) ::_exit(10);
    ::close(mine);
    const char* files[] = {record.c_str(), usage.c_str(), net.c_str()};
    for (int i = 0; i < 3; ++i) {
      const int fd = ::open(files[i], O_WRONLY | O_TRUNC | O_CLOEXEC);
      if (fd >= 0) ::_exit(11 + i);
      if (::unlink(files[i]) == 0) ::_exit(14 + i);
    }
    const int fd = ::open(planted.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) ::_exit(17);
    if (::rename(state.c_str(), stolen.c_str()) == 0) ::_exit(18);
    if (::rename(state_root.c_str(), stolen.c_str()) == 0) ::_exit(19);
    if (::symlink(elsewhere.c_str(), link.c_str()) != 0) ::_exit(20);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "exit code names the step the partition's uid got through (see the child)";

  // slapnode goes on writing its records where they were, not through the partition's symlink.
  ASSERT_TRUE(write_record(layout, {"SOFTINST-9", "2", "destroyed", "file:///x/software.cfg", 0}).ok());
  (void)cpu_since_last(layout.state_dir, {*self}, 1060, true);
  (void)net_since_last(layout.state_dir, "SOFTINST-9", 23456, true);
  auto rec = read_record(layout);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->state, "destroyed");
  EXPECT_EQ(rec->timestamp, "2");
  EXPECT_TRUE(fs::is_empty(elsewhere));
  EXPECT_EQ(net_since_last(layout.state_dir, "SOFTINST-9", 23456, false), 0u);
}

TEST_F(NodeFlow, MasterUnreachableKeepsInstancesRunningAndWipedStateIsRebuilt) {
  std::string ip = range_address(cfg.ipv4_range, 1);
  int port = free_port(ip);
  allocate("slappart0", "SOFTINST-1", memcached_url, "started", json::object{{"port", std::to_string(port)}});
  {
    Node node(cfg);
    ASSERT_EQ(node.format_pass(), ExitCode::kOk);
    ASSERT_EQ(node.software_pass(), ExitCode::kOk);
    ASSERT_EQ(node.instance_pass(), ExitCode::kOk);
    ASSERT_TRUE(testing::wait_for([&] { return can_connect(ip, port); }, 10s));
  }
  // The master goes away: one-shot passes exit 3, the instance keeps serving.
  NodeConfig offline = cfg;
  offline.master_url = "https://127.0.0.1:1";
  offline.retries = 1;
  Node lost(offline);
  EXPECT_EQ(lost.instance_pass(), ExitCode::kMasterUnreachable);
  EXPECT_EQ(lost.software_pass(), ExitCode::kMasterUnreachable);
  EXPECT_TRUE(can_connect(ip, port));

  // Wipe everything the node keeps outside partition data: supervisord, its run dir, the software.
  ASSERT_TRUE(Supervisor(cfg.run_dir).shutdown().ok());
  EXPECT_TRUE(testing::wait_for([&] { return !can_connect(ip, port); }, 10s));
  fs::remove_all(cfg.run_dir);
  fs::remove_all(cfg.software_root);
  Node fresh(cfg);
  ASSERT_EQ(fresh.software_pass(), ExitCode::kOk);
  ASSERT_EQ(fresh.instance_pass(), ExitCode::kOk);  // record unchanged, processes missing: reprocessed
  EXPECT_TRUE(testing::wait_for([&] { return can_connect(ip, port); }, 10s));
}

// A promise that does not hold: exit code 2, the error reported to the master, the partition
// reprocessed by the next pass until it holds; another partition is not held back.
TEST_F(NodeFlow, FailedPromiseExitsTwoAndIsRetriedUntilItHolds) {
  const std::string gated = add_release("gated",
                                        "[buildout]\nparts = noop\n[noop]\nrecipe = command\ncommand = true\n"
                                        "[instance]\nstartsecs = 0\nprogram.idle = sleep 100000\n"
                                        "promise.ready = test -f ${partition:path}/ready\n");
  allocate("slappart2", "SOFTINST-7", gated, "started");
  allocate("slappart1", "SOFTINST-2", hello_url, "started");
  Node node(cfg);
  ASSERT_NO_FATAL_FAILURE(format_and_build(node));
  EXPECT_EQ(node.instance_pass(), ExitCode::kPromiseFailed);
  EXPECT_TRUE(fs::exists(cfg.partition_path(1) + "/greeting.txt"));  // the other instance went ahead
  auto errors = server->requests_to("/slapos.put.v0.software_instance_error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].body.find("promise ready failed"), std::string::npos) << errors[0].body;
  EXPECT_FALSE(fs::exists(cfg.partition_state_path(2) + "/state.json"));  // not recorded as done

  ASSERT_TRUE(write_file_atomic(cfg.partition_path(2) + "/ready", "").ok());
  EXPECT_EQ(node.instance_pass(), ExitCode::kOk);
  EXPECT_TRUE(fs::exists(cfg.partition_state_path(2) + "/state.json"));
  EXPECT_FALSE(fs::exists(cfg.partition_path(2) + "/.slapnode/state.json"));
  EXPECT_EQ(reported("SOFTINST-7"), (std::vector<std::string>{"started", "started"}));
}

TEST_F(NodeFlow, DaemonRunsPassesAndReactsToTheLongPoll) {
  cfg.report_interval_s = 3600;
  Node node(cfg);
  std::atomic<bool> stop{false};
  std::thread daemon([&] { node.run(stop); });
  // First round: format + software + instance with an empty view.
  ASSERT_TRUE(testing::wait_for([&] { return software_installed(cfg.software_root, hello_url) &&
                                             !server->requests_to("/slapos.put.v0.compute_node_format").empty(); }, 30s));
  allocate("slappart1", "SOFTINST-2", hello_url, "started");
  // The long-poll sees the new version and runs an instance pass at once (interval is 60 s).
  EXPECT_TRUE(testing::wait_for([&] { return fs::exists(cfg.partition_path(1) + "/greeting.txt"); }, 20s));
  stop = true;
  master.stopping = true;
  daemon.join();
  EXPECT_FALSE(reported("SOFTINST-2").empty());
}

}  // namespace
}  // namespace slap::node
