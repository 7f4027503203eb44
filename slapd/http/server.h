#pragma once
// HTTPS/1.1 server (Boost.Beast over Asio + OpenSSL) with client certificates, keep-alive, one I/O
// thread per core, and every limit stated: body and header size, connections, read and write
// timeouts (a client sending one byte a second is cut off). It knows nothing of the API: each
// request goes to one Handler, which answers once through Respond, from any thread, now or later
// (long polls, replies after a durable write).
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>

#include "slapd/ca/certificate_authority.h"
#include "ubm/error.h"

namespace slap::http {

struct Request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;  // path and query, as received
  std::string body;
  std::string if_none_match;
  std::string remote;  // client address
  // Set when the client presented a certificate that chains to our CA and is within its validity;
  // otherwise `certificate_problem` says why (no certificate, other CA, expired...).
  std::optional<ca::PeerIdentity> peer;
  std::string certificate_problem;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after this response
};

// The way back to the client. Call exactly once, from any thread: with a Response, or with a
// function that makes it, which then runs on the connection's I/O thread (so rendering a reply
// never occupies the thread that decided it, e.g. the sequencer).
//
// on_io(fn) runs fn on that I/O thread without answering yet: for a reply rendered there that must
// then wait before it goes (slapd's durable gate). Without a poster, fn runs on the caller's thread.
class Respond {
 public:
  using Make = std::function<Response()>;
  using Post = std::function<void(std::function<void()>)>;
  explicit Respond(std::function<void(Make)> later, Post post = {}) : later_(std::move(later)), post_(std::move(post)) {}
  void operator()(Response r) const {
    later_([r = std::move(r)]() mutable { return std::move(r); });
  }
  void later(Make make) const { later_(std::move(make)); }
  void on_io(std::function<void()> fn) const {
    if (post_) post_(std::move(fn));
    else fn();
  }

 private:
  std::function<void(Make)> later_;
  Post post_;
};
using Handler = std::function<void(Request&&, Respond)>;

struct ServerOptions {
  std::vector<boost::asio::ip::tcp::endpoint> listen;
  unsigned io_threads = std::max(1u, std::thread::hardware_concurrency());
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  size_t max_connections = 10'000;
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds read_timeout{15'000};   // a whole request, first byte to last
  std::chrono::milliseconds write_timeout{15'000};
  // Called on each I/O thread once it has run every handler that was ready, before it waits for
  // more: work the handlers queued can be handed on in bulk (the master wakes its sequencer once
  // per pass rather than once per request). Keep it cheap: it runs after every pass.
  std::function<void()> after_pass;
};

struct ServerCounters {
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> oversized{0};
};

class Server {
 public:
  // `tls` must outlive the server: TLS 1.2+, our certificate, verify_peer against our CA.
  Server(boost::asio::ssl::context& tls, ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every endpoint (port 0 picks a free one) and starts the I/O threads.
  [[nodiscard]] ubm::Status start();
  // Actual endpoints (with the ports chosen).
  std::vector<boost::asio::ip::tcp::endpoint> endpoints() const;
  // Stops accepting, lets requests in flight finish (up to `grace`), then stops the threads.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5'000));
  const ServerCounters& counters() const { return counters_; }

  struct Impl;

 private:
  ServerCounters counters_;  // before impl_: sessions destroyed with impl_ still count down
  std::unique_ptr<Impl> impl_;
};

// A TLS context for the master: our certificate and key, client certificates verified against
// `ca_pem` but not required at the TLS layer (so /healthz works without one and other requests get
// a 401 with a reason rather than a failed handshake).
ubm::Result<std::shared_ptr<boost::asio::ssl::context>> make_server_tls(const std::string& cert_pem, const std::string& key_pem,
                                                                        const std::string& ca_pem);

}  // namespace slap::http
