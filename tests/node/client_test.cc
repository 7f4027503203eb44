#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "node/http_client.h"
#include "node/slap_client.h"
#include "tests/node/test_support.h"

namespace slap::node {
namespace {

using testing::TestRequest;
using testing::TestResponse;
namespace json = boost::json;

const char* kView = R"({"computer_guid":"COMP-1","version":17,
 "software":[{"url":"file:///srv/r/software.cfg","state":"available"},{"url":"ftp://evil/x","state":"available"},
             {"url":"https://h/old.cfg","state":"destroyed"}],
 "partitions":[
  {"partition_id":"slappart0","ip_list":[["lo","127.1.0.1"]],"instance_guid":"SOFTINST-3","title":"db",
   "root_instance_title":"db","state":"started","software_release_uri":"file:///srv/r/software.cfg",
   "software_type":"default","timestamp":"1732500000123456789","parameters":{"port":"11211","n":5},
   "sla_parameters":{},"connection_parameters":{},
   "shared_instances":[{"instance_guid":"SOFTINST-9","title":"site-a","state":"started","parameters":{},"connection_parameters":{}}]},
  {"partition_id":"../../etc","state":"started","instance_guid":"X","software_release_uri":"file:///x"},
  {"partition_id":"slappart7","state":"started","instance_guid":"X","software_release_uri":"file:///x"},
  {"partition_id":"slappart1","state":"started","instance_guid":"bad guid/..","software_release_uri":"file:///x"},
  {"partition_id":"slappart2","state":"exploded"},
  {"partition_id":"slappart3","state":"free"},
  {"partition_id":"slappart4","state":"started","instance_guid":"SOFTINST-4","software_release_uri":"file:///x",
   "parameters":{"k":"line\u0000nul"}}
 ]})";

struct Fixture : ::testing::Test {
  testing::TempDir tmp;
  void SetUp() override { testing::make_certificates(tmp.path()); }

  HttpOptions tls(bool with_client_cert = true) {
    HttpOptions o;
    o.ca_file = tmp / "ca.pem";
    if (with_client_cert) {
      o.cert_file = tmp / "client.pem";
      o.key_file = tmp / "client.key";
    }
    o.timeout = std::chrono::seconds(5);
    return o;
  }
  std::unique_ptr<SlapClient> client(const std::string& url, HttpOptions o, int attempts = 3) {
    ViewLimits limits;
    limits.partition_count = 5;
    auto c = std::make_unique<SlapClient>(url, "COMP-1", o, RetryPolicy{attempts, std::chrono::milliseconds(1),
                                                                         std::chrono::milliseconds(2)}, limits);
    c->set_sleep([this](std::chrono::milliseconds) { ++sleeps; });
    return c;
  }
  int sleeps = 0;
};

TEST_F(Fixture, FetchesAndValidatesTheViewOverMutualTls) {
  testing::TestServer server(
      [](const TestRequest& r) {
        if (r.target.rfind("/v1/computers/COMP-1", 0) != 0) return TestResponse{404, "{}", {}};
        if (r.headers.count("if-none-match") && r.headers.at("if-none-match") == "\"17\"") return TestResponse{304, "", {{"ETag", "\"17\""}}};
        return TestResponse{200, kView, {{"ETag", "\"17\""}, {"Content-Type", "application/json"}}};
      },
      tmp.path());
  auto c = client(server.url(), tls());
  auto v = c->fetch_view("", 0);
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  EXPECT_FALSE(v->not_modified);
  EXPECT_EQ(v->etag, "\"17\"");
  EXPECT_EQ(v->view.version, 17u);
  ASSERT_EQ(v->view.software.size(), 2u);  // ftp:// refused
  EXPECT_EQ(v->view.software[1].state, SoftwareState::kDestroyed);
  // Kept: slappart0 (started) and slappart3 (free). Refused: path escape, id beyond the count,
  // bad guid, unknown state, NUL in a parameter.
  ASSERT_EQ(v->view.partitions.size(), 2u);
  const auto& p = v->view.partitions[0];
  EXPECT_EQ(p.partition_id, "slappart0");
  EXPECT_EQ(p.state, InstanceState::kStarted);
  EXPECT_EQ(p.parameters.at("port"), "11211");
  EXPECT_EQ(p.parameters.at("n"), "5");
  ASSERT_EQ(p.shared_instances.size(), 1u);
  EXPECT_EQ(p.shared_instances[0].instance_guid, "SOFTINST-9");
  EXPECT_EQ(v->view.partitions[1].state, InstanceState::kFree);
  EXPECT_EQ(v->refusals.size(), 6u);

  auto again = c->fetch_view(v->etag, 1);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->not_modified);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].target, "/v1/computers/COMP-1?wait=1");
  EXPECT_EQ(server.connections(), 1);  // keep-alive
}

TEST_F(Fixture, RefusesMalformedOrForeignViews) {
  std::string body = "{not json";
  testing::TestServer server([&](const TestRequest&) { return TestResponse{200, body, {}}; }, tmp.path());
  auto c = client(server.url(), tls());
  auto v = c->fetch_view("", 0);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, Errc::kInvalid);
  body = R"({"computer_guid":"COMP-2","partitions":[]})";
  EXPECT_EQ(c->fetch_view("", 0).error().code, Errc::kInvalid);
  body = R"([1,2,3])";
  EXPECT_EQ(c->fetch_view("", 0).error().code, Errc::kInvalid);
  body = std::string(2000, '[') + std::string(2000, ']');
  EXPECT_FALSE(c->fetch_view("", 0).ok());
}

TEST_F(Fixture, ServerRefusesAClientWithoutCertificate) {
  testing::TestServer server([](const TestRequest&) { return TestResponse{200, "{}", {}}; }, tmp.path());
  auto c = client(server.url(), tls(false), 1);
  auto r = c->instance_state("SOFTINST-1", "started");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnreachable);
}

TEST_F(Fixture, ClientRefusesAServerOutsideItsCa) {
  testing::TempDir other;
  testing::make_certificates(other.path());
  testing::TestServer server([](const TestRequest&) { return TestResponse{200, "{}", {}}; }, other.path());
  auto c = client(server.url(), tls(), 1);
  EXPECT_FALSE(c->fetch_view("", 0).ok());
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(Fixture, RetriesTransientFailuresWithBackoff) {
  int calls = 0;
  testing::TestServer server(
      [&](const TestRequest&) {
        ++calls;
        if (calls < 3) return TestResponse{503, "{}", {}};
        return TestResponse{200, R"({"type":"success","title":"ok"})", {}};
      },
      tmp.path());
  auto c = client(server.url(), tls(), 4);
  ASSERT_TRUE(c->software_state("file:///r/software.cfg", "available").ok());
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(sleeps, 2);
  auto body = json::parse(server.requests().back().body).as_object();
  EXPECT_EQ(server.requests().back().target, "/slapos.put.v0.software_installation_reported_state");
  EXPECT_EQ(body.at("computer_guid").as_string(), "COMP-1");
  EXPECT_EQ(body.at("reported_state").as_string(), "available");
  EXPECT_EQ(body.at("software_release_uri").as_string(), "file:///r/software.cfg");

  calls = -100;  // keeps failing: unreachable after the attempts
  auto bad = c->instance_state("SOFTINST-1", "started");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kUnreachable);
}

TEST_F(Fixture, ClientErrorsAreNotRetried) {
  int calls = 0;
  testing::TestServer server([&](const TestRequest&) { ++calls; return TestResponse{403, R"({"error":"forbidden"})", {}}; },
                             tmp.path());
  auto c = client(server.url(), tls(), 4);
  auto r = c->instance_error("SOFTINST-1", "boom");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kProtocol);
  EXPECT_EQ(calls, 1);
}

TEST_F(Fixture, UnreachableMasterIsReportedAsSuch) {
  unsigned short port = 0;
  {
    testing::TestServer gone([](const TestRequest&) { return TestResponse{}; }, tmp.path());
    port = static_cast<unsigned short>(std::stoi(gone.url().substr(gone.url().rfind(':') + 1)));
  }
  auto c = client("https://127.0.0.1:" + std::to_string(port), tls(), 3);
  auto r = c->fetch_view("", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnreachable);
  EXPECT_EQ(sleeps, 2);
}

TEST_F(Fixture, OversizedResponsesAreRefused) {
  testing::TestServer server([](const TestRequest&) { return TestResponse{200, std::string(4096, ' '), {}}; }, tmp.path());
  HttpOptions o = tls();
  o.max_body = 1024;
  auto c = client(server.url(), o, 1);
  auto r = c->fetch_view("", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kProtocol);
}

TEST_F(Fixture, JsonRpcBodiesFollowTheReference) {
  testing::TestServer server(
      [](const TestRequest& r) {
        if (r.target == "/slapos.get.v0.software_instance_certificate") {
          return TestResponse{200, R"({"key":"-----BEGIN PRIVATE KEY-----\nk\n","certificate":"-----BEGIN CERTIFICATE-----\nc\n"})", {}};
        }
        return TestResponse{200, R"({"type":"success","title":"done"})", {}};
      },
      tmp.path());
  auto c = client(server.url(), tls());
  PartitionDeclaration d{"slappart0", {{"127.1.0.1", "lo", "", "255.255.255.0", "127.1.0.0"}}};
  ASSERT_TRUE(c->declare_format({d}).ok());
  ASSERT_TRUE(c->connection_parameters("SOFTINST-3", {{"url", "memcached://127.1.0.1:11211"}}).ok());
  ASSERT_TRUE(c->post_usage("<journal/>").ok());
  auto cert = c->instance_certificate("SOFTINST-3");
  ASSERT_TRUE(cert.ok()) << cert.error().to_string();
  EXPECT_NE(cert->certificate.find("BEGIN CERTIFICATE"), std::string::npos);

  auto fmt = json::parse(server.requests_to("/slapos.put.v0.compute_node_format").at(0).body).as_object();
  EXPECT_EQ(fmt.at("computer_guid").as_string(), "COMP-1");
  auto ip = fmt.at("compute_partition_list").as_array()[0].as_object().at("ip_list").as_array()[0].as_object();
  EXPECT_EQ(ip.at("ip-address").as_string(), "127.1.0.1");
  EXPECT_EQ(ip.at("network-interface").as_string(), "lo");
  EXPECT_EQ(ip.at("netmask").as_string(), "255.255.255.0");
  EXPECT_FALSE(ip.contains("gateway-ip-address"));
  auto conn = json::parse(server.requests_to("/slapos.put.v0.software_instance_connection_parameter").at(0).body).as_object();
  EXPECT_EQ(conn.at("connection_parameter_dict").as_object().at("url").as_string(), "memcached://127.1.0.1:11211");
  auto usage = json::parse(server.requests_to("/slapos.post.v0.compute_node_usage").at(0).body).as_object();
  EXPECT_EQ(usage.at("tioxml").as_string(), "<journal/>");
  EXPECT_EQ(server.connections(), 1);
}

// A server sending a 1,000-byte body in 10 pieces, `gap` apart, after `stall` before the 6th piece:
// the pacing is the behaviour under test (a slow link), not a synchronisation. Its waits end at
// once when it is destroyed.
class DribblingServer {
 public:
  DribblingServer(std::chrono::milliseconds gap, std::chrono::milliseconds stall) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 4);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, gap, stall] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      std::string req;
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n";
      (void)::send(c, head.data(), head.size(), MSG_NOSIGNAL);
      const std::string piece(100, 'x');
      for (int k = 0; k < 10; ++k) {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, k == 5 ? stall : gap, [this] { return done_; })) break;
        lock.unlock();
        if (::send(c, piece.data(), piece.size(), MSG_NOSIGNAL) < 0) break;
      }
      ::close(c);
    });
  }
  ~DribblingServer() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/release.tar.gz"; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Downloads are bounded by how long nothing arrives, not by a fixed total: a body that keeps coming
// for longer than the idle timeout arrives whole; one that stalls longer than it fails; and a stop
// requested meanwhile ends it at once.
TEST(HttpDownload, AnIdleTimeoutCutsAStalledBodyNotASlowOne) {
  using namespace std::chrono_literals;
  HttpOptions o;
  o.timeout = 30s;
  o.idle_timeout = 1s;
  {
    DribblingServer slow(200ms, 200ms);  // ~2 s in all, never 1 s without a byte
    HttpClient c(o);
    auto r = c.request("GET", slow.url(), "", {}, 0ms);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->body.size(), 1000u);
  }
  {
    DribblingServer stalled(10ms, 20s);
    HttpClient c(o);
    auto r = c.request("GET", stalled.url(), "", {}, 0ms);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kTimeout) << r.error().to_string();
  }
  {
    // Without an idle timeout, `timeout` bounds the whole read, as for calls to the master.
    HttpOptions total;
    total.timeout = 1s;
    DribblingServer slow(200ms, 200ms);
    HttpClient c(total);
    auto r = c.request("GET", slow.url(), "", {}, 0ms);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kTimeout) << r.error().to_string();
  }
  {
    // Asked to stop while the body is stalled: cancelled, long before any timeout.
    HttpOptions stoppable = o;
    stoppable.idle_timeout = 20s;
    std::atomic<int> asked{0};
    stoppable.cancelled = [&] { return ++asked > 3; };
    DribblingServer stalled(10ms, 20s);
    HttpClient c(stoppable);
    const auto start = std::chrono::steady_clock::now();
    auto r = c.request("GET", stalled.url(), "", {}, 0ms);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kCancelled) << r.error().to_string();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  }
}

TEST(HttpUrl, ParsesAndRefuses) {
  auto u = parse_http_url("https://master.example:8443/v1/x?y=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "master.example");
  EXPECT_EQ(u->port, "8443");
  EXPECT_EQ(u->target, "/v1/x?y=1");
  EXPECT_EQ(parse_http_url("http://[::1]/")->host, "::1");
  EXPECT_EQ(parse_http_url("http://h")->port, "80");
  EXPECT_FALSE(parse_http_url("ftp://h/").ok());
  EXPECT_FALSE(parse_http_url("http://user@h/").ok());
  EXPECT_FALSE(parse_http_url("http://h:80x/").ok());
}

}  // namespace
}  // namespace slap::node
