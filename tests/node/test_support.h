#pragma once
// Test helpers for node tests: a temporary directory, certificates made with the openssl CLI,
// a small HTTP(S) server on 127.0.0.1 with an ephemeral port that records requests, and
// waiting for a condition with a deadline.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "node/sys.h"

namespace slap::node::testing {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "slapnode-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

inline bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

inline void sh(const std::string& script) {
  auto r = run_command(Command{.argv = {"/bin/sh", "-c", script}, .capture = true});
  ASSERT_TRUE(r.ok()) << script;
  ASSERT_EQ(r->exit_code, 0) << script << "\n" << r->output;
}

// CA, server certificate for IP 127.0.0.1, client certificate CN=COMP-1; all in `dir`.
inline void make_certificates(const std::string& dir) {
  sh("cd " + dir +
     " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem"
     " -days 2 -subj /CN=test-ca 2>/dev/null"
     " && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext"
     " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr"
     " -subj /CN=127.0.0.1 2>/dev/null"
     " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2"
     " -extfile san.ext 2>/dev/null"
     " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout client.key -out client.csr"
     " -subj /CN=COMP-1 2>/dev/null"
     " && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2"
     " 2>/dev/null");
}

struct TestRequest {
  std::string method;
  std::string target;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

struct TestResponse {
  int status = 200;
  std::string body;
  std::map<std::string, std::string> headers;
};

// One thread per connection; requests are handled one at a time under a mutex.
class TestServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;

  // tls_dir: directory with ca.pem, server.pem, server.key (mutual TLS required); empty: plain HTTP.
  TestServer(Handler handler, const std::string& tls_dir = "")
      : handler_(std::move(handler)), acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    if (!tls_dir.empty()) {
      ctx_.emplace(boost::asio::ssl::context::tls_server);
      ctx_->use_certificate_chain_file(tls_dir + "/server.pem");
      ctx_->use_private_key_file(tls_dir + "/server.key", boost::asio::ssl::context::pem);
      ctx_->load_verify_file(tls_dir + "/ca.pem");
      ctx_->set_verify_mode(boost::asio::ssl::verify_peer | boost::asio::ssl::verify_fail_if_no_peer_cert);
    }
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~TestServer() {
    stopping_ = true;
    boost::system::error_code ec;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    acceptor_.close(ec);
    {
      std::lock_guard<std::mutex> g(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    thread_.join();
    for (auto& t : conns_) t.join();
  }

  std::string url() const { return std::string(ctx_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  std::vector<TestRequest> requests() {
    std::lock_guard<std::mutex> g(mu_);
    return requests_;
  }
  std::vector<TestRequest> requests_to(const std::string& target) {
    std::vector<TestRequest> out;
    for (auto& r : requests()) {
      if (r.target == target) out.push_back(r);
    }
    return out;
  }
  void set_handler(Handler h) {
    std::lock_guard<std::mutex> g(mu_);
    handler_ = std::move(h);
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket s(ioc_);
      acceptor_.accept(s, ec);
      if (ec) {
        if (stopping_) return;
        continue;
      }
      ++connections_;
      std::lock_guard<std::mutex> g(mu_);
      fds_.push_back(s.native_handle());
      conns_.emplace_back([this, sock = std::move(s)]() mutable { serve(std::move(sock)); });
    }
  }

  template <typename Stream>
  void exchange(Stream& stream) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(stream, buf, req, ec);
      if (ec) return;
      TestRequest tr{std::string(req.method_string()), std::string(req.target()), req.body(), {}};
      for (const auto& f : req) {
        std::string n(f.name_string());
        for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        tr.headers[n] = std::string(f.value());
      }
      Handler h;
      {
        std::lock_guard<std::mutex> g(mu_);
        requests_.push_back(tr);
        h = handler_;
      }
      TestResponse out = h(tr);  // not under the lock: a handler may long-poll
      http::response<http::string_body> res{static_cast<http::status>(out.status), 11};
      for (const auto& [k, v] : out.headers) res.set(k, v);
      res.body() = out.body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(stream, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  void serve(boost::asio::ip::tcp::socket sock) {
    if (!ctx_) {
      exchange(sock);
      return;
    }
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket&> tls(sock, *ctx_);
    boost::system::error_code ec;
    tls.handshake(boost::asio::ssl::stream_base::server, ec);
    if (ec) return;
    exchange(tls);
  }

  Handler handler_;
  boost::asio::io_context ioc_;
  std::optional<boost::asio::ssl::context> ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> conns_;
  std::vector<TestRequest> requests_;
  std::thread thread_;
};

// The repository's examples/ folder (compiled in by CMake).
inline std::string examples_dir() { return SLAP_EXAMPLES_DIR; }

}  // namespace slap::node::testing
