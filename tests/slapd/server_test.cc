#include "slapd/http/server.h"

#include <gtest/gtest.h>

#include <map>

#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/slapd/tls_client.h"

using namespace slap;
namespace net = boost::asio;

namespace {

// A server whose handler says who called: 200 + subject, or 401 + why not.
struct Fixture {
  ca::CertificateAuthority authority = ca::CertificateAuthority::create("test CA").value();
  ca::IssuedCertificate server_cert = authority.issue({.subject = "localhost", .kind = ca::IdentityKind::server,
                                                       .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1", "::1"}}).value();
  std::shared_ptr<net::ssl::context> tls = http::make_server_tls(server_cert.certificate_pem, server_cert.private_key_pem,
                                                                 authority.certificate_pem()).value();
  std::unique_ptr<http::Server> server;
  unsigned short port = 0;
  // Threads answering later: joined before the server goes, since each holds its connection (a
  // detached one could drop the last reference after the server's io_context was destroyed).
  std::mutex later_mu;
  std::vector<std::thread> later;
  void answer_later(std::function<void()> fn) {
    std::lock_guard lock(later_mu);
    later.emplace_back(std::move(fn));
  }
  ~Fixture() {
    std::lock_guard lock(later_mu);
    for (auto& t : later) t.join();
  }

  // `on_request` (optional) runs first in every call of the handler, on the I/O thread.
  explicit Fixture(http::ServerOptions options = {}, std::function<void()> on_request = {}) {
    options.listen = {net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
    options.io_threads = 2;
    server = std::make_unique<http::Server>(*tls, options, [this, on_request](http::Request&& req, http::Respond respond) {
      if (on_request) on_request();
      http::Response r;
      if (req.target == "/later") {
        // Answer from another thread, after the handler returned.
        answer_later([respond] { respond(http::Response{.status = 202, .body = "later"}); });
        return;
      }
      if (req.target == "/wait") {
        // Like a long poll: answers after longer than the tests' short read deadline.
        answer_later([respond] {
          std::this_thread::sleep_for(std::chrono::milliseconds(700));
          respond(http::Response{.status = 200, .body = "waited"});
        });
        return;
      }
      if (req.target == "/slow") {
        // Answer after the requests read behind it were answered (pipelining keeps the order).
        answer_later([respond] {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          respond(http::Response{.status = 202, .body = "slow"});
        });
        return;
      }
      if (req.peer) {
        r.body = req.peer->subject + ":" + std::string(ca::to_string(req.peer->kind)) + ":" + std::to_string(req.body.size());
      } else {
        r.status = 401;
        r.body = req.certificate_problem;
      }
      respond(std::move(r));
    });
    EXPECT_TRUE(server->start().ok());
    port = server->endpoints().at(0).port();
  }

  test::ClientCert cert(const std::string& subject, ca::IdentityKind kind = ca::IdentityKind::person) {
    auto c = authority.issue({.subject = subject, .kind = kind}).value();
    return {c.certificate_pem, c.private_key_pem};
  }
};

// Waits for a condition observed on another thread, with a deadline.
template <typename F>
bool test_wait(F f) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!f()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

TEST(HttpServer, ClientCertificateNamesTheCaller) {
  Fixture f;
  test::TlsClient client("127.0.0.1", f.port, f.authority.certificate_pem(), f.cert("COMP-7", ca::IdentityKind::computer));
  ASSERT_TRUE(client.connected()) << client.error();
  auto r = client.get("/whoami");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "COMP-7:computer:0");
  // Keep-alive: a second request on the same connection.
  r = client.post("/whoami", R"({"a":1})");
  EXPECT_EQ(r.body, "COMP-7:computer:7");
  EXPECT_EQ(f.server->counters().connections_total.load(), 1u);
}

TEST(HttpServer, MissingForeignOrExpiredCertificatesAreReportedNotTrusted) {
  Fixture f;
  {
    test::TlsClient none("127.0.0.1", f.port, f.authority.certificate_pem());
    auto r = none.get("/whoami");
    EXPECT_EQ(r.status, 401u);
    EXPECT_EQ(r.body, "no client certificate");
  }
  {
    auto other = ca::CertificateAuthority::create("other CA").value();
    auto c = other.issue({.subject = "PERSON-1"}).value();
    test::TlsClient foreign("127.0.0.1", f.port, f.authority.certificate_pem(), test::ClientCert{c.certificate_pem, c.private_key_pem});
    auto r = foreign.get("/whoami");
    EXPECT_EQ(r.status, 401u);
    EXPECT_NE(r.body.find("refused"), std::string::npos) << r.body;
  }
  {
    auto c = f.authority.issue({.subject = "PERSON-2", .validity = std::chrono::hours(24), .backdate = std::chrono::hours(48)}).value();
    test::TlsClient expired("127.0.0.1", f.port, f.authority.certificate_pem(), test::ClientCert{c.certificate_pem, c.private_key_pem});
    auto r = expired.get("/whoami");
    EXPECT_EQ(r.status, 401u);
    EXPECT_NE(r.body.find("expired"), std::string::npos) << r.body;
  }
}

TEST(HttpServer, OversizedBodiesAndHeadersAreRefused) {
  Fixture f(http::ServerOptions{.max_body_bytes = 1024, .max_header_bytes = 2048});
  test::TlsClient client("127.0.0.1", f.port, f.authority.certificate_pem(), f.cert("PERSON-1"));
  auto r = client.post("/whoami", std::string(4096, 'x'));
  EXPECT_EQ(r.status, 413u);
  test::TlsClient client2("127.0.0.1", f.port, f.authority.certificate_pem(), f.cert("PERSON-1"));
  boost::beast::http::request<boost::beast::http::string_body> req(boost::beast::http::verb::get, "/whoami", 11);
  req.set("X-Big", std::string(4096, 'h'));
  boost::beast::http::write(client2.stream(), req);
  boost::beast::flat_buffer buf;
  boost::beast::http::response<boost::beast::http::string_body> res;
  boost::beast::error_code ec;
  boost::beast::http::read(client2.stream(), buf, res, ec);
  EXPECT_EQ(res.result_int(), 431u);
}

TEST(HttpServer, ASlowClientIsCutOff) {
  Fixture f(http::ServerOptions{.read_timeout = std::chrono::milliseconds(300)});
  test::TlsClient client("127.0.0.1", f.port, f.authority.certificate_pem(), f.cert("PERSON-1"));
  ASSERT_TRUE(client.connected());
  boost::beast::get_lowest_layer(client.stream()).expires_never();
  const auto t0 = std::chrono::steady_clock::now();
  // A slowloris: one byte of an endless header every 50 ms (the pacing is the behaviour under
  // test). The whole request must arrive within the read deadline, so the server hangs up and
  // a later write fails.
  const std::string header = "GET /whoami HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  boost::beast::error_code ec;
  boost::asio::write(client.stream(), boost::asio::buffer(header), ec);
  while (!ec && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const char c = 'a';
    boost::asio::write(client.stream(), boost::asio::buffer(&c, 1), ec);
  }
  EXPECT_TRUE(ec) << "the server kept a slow client for 10 s";
  EXPECT_TRUE(test_wait([&] { return f.server->counters().timeouts.load() == 1; }));
}

TEST(HttpServer, HandlersMayAnswerLaterFromAnotherThread) {
  Fixture f;
  test::TlsClient client("127.0.0.1", f.port, f.authority.certificate_pem(), f.cert("PERSON-1"));
  auto r = client.get("/later");
  EXPECT_EQ(r.status, 202u);
  EXPECT_EQ(r.body, "later");
  EXPECT_EQ(client.get("/whoami").status, 200u);
}

TEST(HttpServer, AfterPassRunsOnTheIoThreadOnceTheReadyHandlersHaveRun) {
  // What the master relies on: work a handler leaves for later (a queued command) is handed on by
  // after_pass on the same thread, after every handler of the pass, without another request.
  std::mutex mu;
  std::map<std::thread::id, int> left;  // handled, not yet handed on, per I/O thread
  int handed_on = 0;
  http::ServerOptions options;
  options.after_pass = [&] {
    std::lock_guard lock(mu);
    auto it = left.find(std::this_thread::get_id());
    if (it == left.end()) return;
    handed_on += it->second;
    left.erase(it);
  };
  Fixture f(options, [&] {
    std::lock_guard lock(mu);
    ++left[std::this_thread::get_id()];
  });
  test::TlsClient client("127.0.0.1", f.port, f.authority.certificate_pem(), f.cert("PERSON-1"));
  ASSERT_TRUE(client.connected()) << client.error();
  for (int k = 0; k < 3; ++k) EXPECT_EQ(client.get("/whoami").status, 200u);
  EXPECT_TRUE(test_wait([&] {
    std::lock_guard lock(mu);
    return handed_on == 3 && left.empty();
  }));
}

TEST(HttpServer, ListensOnIpv6Loopback) {
  Fixture f;
  http::ServerOptions o;
  o.listen = {net::ip::tcp::endpoint(net::ip::make_address("::1"), 0)};
  http::Server v6(*f.tls, o, [](http::Request&&, http::Respond respond) { respond(http::Response{.body = "v6"}); });
  auto s = v6.start();
  if (!s.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << s.error().detail;
  test::TlsClient client("::1", v6.endpoints().at(0).port(), f.authority.certificate_pem(), f.cert("PERSON-1"));
  EXPECT_EQ(client.get("/").body, "v6");
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  Fixture f;
  test::TlsClient client("127.0.0.1", f.port, f.authority.certificate_pem(), f.cert("PERSON-1"));
  ASSERT_TRUE(client.connected());
  // Three requests in one write: the first is answered last by its handler.
  const std::string three = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                            "POST /whoami HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                            "GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  boost::beast::error_code ec;
  boost::asio::write(client.stream(), boost::asio::buffer(three), ec);
  ASSERT_FALSE(ec) << ec.message();
  boost::beast::flat_buffer buf;
  std::vector<std::string> bodies;
  bool closes = false;
  for (int k = 0; k < 3; ++k) {
    boost::beast::http::response<boost::beast::http::string_body> res;
    boost::beast::http::read(client.stream(), buf, res, ec);
    ASSERT_FALSE(ec) << ec.message();
    bodies.push_back(res.body());
    closes = !res.keep_alive();
  }
  EXPECT_EQ(bodies, (std::vector<std::string>{"slow", "PERSON-1:person:3", "PERSON-1:person:0"}));
  EXPECT_TRUE(closes) << "the last request asked to close";
  boost::beast::http::response<boost::beast::http::string_body> more;
  boost::beast::http::read(client.stream(), buf, more, ec);
  EXPECT_TRUE(ec) << "the connection stays open after Connection: close";
}

TEST(HttpServer, AClientWaitingForAnAnswerIsNotASlowClient) {
  Fixture f(http::ServerOptions{.read_timeout = std::chrono::milliseconds(300)});
  test::TlsClient client("127.0.0.1", f.port, f.authority.certificate_pem(), f.cert("PERSON-1"));
  ASSERT_TRUE(client.connected());
  // The server reads ahead while /wait is owed; that read has no deadline until the answer is out.
  auto r = client.get("/wait");
  EXPECT_EQ(r.status, 200u) << r.error;
  EXPECT_EQ(r.body, "waited");
  EXPECT_EQ(client.get("/whoami").status, 200u);
  EXPECT_EQ(f.server->counters().timeouts.load(), 0u);
  // Idle after the answer: the deadline applies again.
  EXPECT_TRUE(test_wait([&] { return f.server->counters().timeouts.load() == 1; }));
}

TEST(HttpServer, MoreRequestsThanThePipeliningBoundAreAllAnswered) {
  Fixture f;
  test::TlsClient client("127.0.0.1", f.port, f.authority.certificate_pem(), f.cert("PERSON-1"));
  ASSERT_TRUE(client.connected());
  // 40 requests in one write, more than the 16 read ahead: the rest are read as answers go out.
  std::string many;
  for (int k = 0; k < 40; ++k) many += "POST /whoami HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(k) + "\r\n\r\n" + std::string(k, 'b');
  boost::beast::error_code ec;
  boost::asio::write(client.stream(), boost::asio::buffer(many), ec);
  ASSERT_FALSE(ec) << ec.message();
  boost::beast::flat_buffer buf;
  for (int k = 0; k < 40; ++k) {
    boost::beast::http::response<boost::beast::http::string_body> res;
    boost::beast::http::read(client.stream(), buf, res, ec);
    ASSERT_FALSE(ec) << k << ": " << ec.message();
    EXPECT_EQ(res.body(), "PERSON-1:person:" + std::to_string(k));
  }
}
