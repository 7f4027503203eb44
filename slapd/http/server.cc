#include "slapd/http/server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstring>
#include <mutex>

namespace slap::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

struct Server::Impl {
  Impl(net::ssl::context& t, ServerOptions o, Handler h, ServerCounters& c)
      : tls(t), options(std::move(o)), handler(std::move(h)), counters(c), work(net::make_work_guard(io)) {}
  net::ssl::context& tls;
  ServerOptions options;
  Handler handler;
  ServerCounters& counters;
  net::io_context io;
  net::executor_work_guard<net::io_context::executor_type> work;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> in_flight{0};  // requests handed to the handler and not answered yet
  void accept(tcp::acceptor& acceptor);
};

namespace {

Response internal_error(const char* what) {
  Response r;
  r.status = 500;
  r.body = std::string(R"({"error":"internal","detail":")") + (std::strchr(what, '"') ? "see the master's log" : what) + "\"}";
  return r;
}

// Runs a reply maker; an exception becomes a 500 instead of unwinding through Asio.
Response guarded(Respond::Make& make) {
  try {
    return make();
  } catch (const std::exception& e) {
    return internal_error(e.what());
  }
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server::Impl& server) : stream_(std::move(socket), server.tls), server_(server) {}
  ~Session() { --server_.counters.connections_open; }

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->handshake(); });
  }

 private:
  void handshake() {
    beast::get_lowest_layer(stream_).expires_after(server_.options.handshake_timeout);
    stream_.async_handshake(net::ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->close_tcp();
      self->identify();
      self->read();
    });
  }

  // The TLS layer accepted any certificate (see make_server_tls); decide here what it is worth.
  void identify() {
    SSL* ssl = stream_.native_handle();
    X509* cert = SSL_get1_peer_certificate(ssl);
    if (cert == nullptr) {
      problem_ = "no client certificate";
      return;
    }
    const long verdict = SSL_get_verify_result(ssl);
    if (verdict != X509_V_OK) {
      problem_ = std::string("client certificate refused: ") + X509_verify_cert_error_string(verdict);
    } else {
      auto id = ca::identity_of_x509(cert);
      if (id) {
        peer_ = std::move(id.value());
      } else {
        problem_ = id.error().detail;
      }
    }
    X509_free(cert);
  }

  void read() {
    if (server_.stopping) return shutdown();
    parser_.emplace();
    parser_->body_limit(server_.options.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_.options.max_header_bytes));
    beast::get_lowest_layer(stream_).expires_after(server_.options.read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::ssl::error::stream_truncated) return shutdown();
    if (ec == beast::error::timeout) {
      ++server_.counters.timeouts;
      return close_tcp();
    }
    if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit) {
      ++server_.counters.oversized;
      const bool body = ec == bhttp::error::body_limit;
      Response r;
      r.status = body ? 413 : 431;
      r.body = std::string(R"({"error":")") + (body ? "payload_too_large" : "header_too_large") + R"(","detail":"limit is )" +
               std::to_string(body ? server_.options.max_body_bytes : server_.options.max_header_bytes) + R"( bytes"})";
      r.close = true;
      keep_alive_ = false;
      return write(std::move(r));
    }
    if (ec) {
      if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {  // malformed HTTP
        Response r;
        r.status = 400;
        r.body = R"({"error":"bad_request","detail":"malformed HTTP request"})";
        r.close = true;
        keep_alive_ = false;
        return write(std::move(r));
      }
      return close_tcp();
    }
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    Request req;
    req.method = msg.method();
    req.target = std::string(msg.target());
    req.body = std::move(msg.body());
    if (auto it = msg.find(bhttp::field::if_none_match); it != msg.end()) req.if_none_match = std::string(it->value());
    beast::error_code rec;
    auto remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(rec);
    if (!rec) req.remote = remote.address().to_string();
    req.peer = peer_;
    req.certificate_problem = problem_;
    // While the handler works (perhaps a long poll), no read deadline applies.
    beast::get_lowest_layer(stream_).expires_never();
    ++server_.in_flight;
    auto self = shared_from_this();
    // Exactly one reply per request: a second call is dropped rather than racing two writes.
    auto answered = std::make_shared<std::atomic<bool>>(false);
    Respond respond([self, answered](Respond::Make make) {
      if (answered->exchange(true)) return;
      net::post(self->stream_.get_executor(), [self, make = std::move(make)]() mutable {
        --self->server_.in_flight;
        self->write(guarded(make));
      });
    });
    try {
      server_.handler(std::move(req), respond);
    } catch (const std::exception& e) {  // a handler bug must not take the I/O thread down
      respond(internal_error(e.what()));
    }
  }

  void write(Response r) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(r.status), version_);
    res->set(bhttp::field::server, "slapmaster");
    if (!r.content_type.empty()) res->set(bhttp::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    const bool close = r.close || !keep_alive_ || server_.stopping;
    res->keep_alive(!close);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(server_.options.write_timeout);
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res, close](beast::error_code ec, size_t) {
      if (ec) return self->close_tcp();
      if (close) return self->shutdown();
      self->read();
    });
  }

  void shutdown() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->close_tcp(); });
  }

  void close_tcp() {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(stream_).close();
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  Server::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<ca::PeerIdentity> peer_;
  std::string problem_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

}  // namespace

void Server::Impl::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept(net::make_strand(io), [this, &acceptor](beast::error_code ec, tcp::socket socket) {
    if (stopping) return;
    if (!ec) {
      if (counters.connections_open.load() >= options.max_connections) {
        ++counters.connections_refused;
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        ++counters.connections_open;
        ++counters.connections_total;
        // Without this, the tail of every large response waits for the client's delayed ACK
        // (Nagle): ~40 ms per computer view.
        beast::error_code nodelay_ec;
        socket.set_option(tcp::no_delay(true), nodelay_ec);
        std::make_shared<Session>(std::move(socket), *this)->run();
      }
    }
    accept(acceptor);
  });
}

Server::Server(net::ssl::context& tls, ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(tls, std::move(options), std::move(handler), counters_)) {}

Server::~Server() { stop(std::chrono::milliseconds(0)); }

ubm::Status Server::start() {
  for (const auto& ep : impl_->options.listen) {
    auto acceptor = std::make_unique<tcp::acceptor>(impl_->io);
    beast::error_code ec;
    acceptor->open(ep.protocol(), ec);
    if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec && ep.address().is_v6()) acceptor->set_option(net::ip::v6_only(true), ec);
    if (!ec) acceptor->bind(ep, ec);
    if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "listen",
                             "cannot listen on " + ep.address().to_string() + ":" + std::to_string(ep.port()) + ": " + ec.message());
    }
    impl_->acceptors.push_back(std::move(acceptor));
  }
  for (auto& a : impl_->acceptors) impl_->accept(*a);
  for (unsigned i = 0; i < impl_->options.io_threads; ++i) impl_->threads.emplace_back([this] { impl_->io.run(); });
  return {};
}

std::vector<tcp::endpoint> Server::endpoints() const {
  std::vector<tcp::endpoint> out;
  for (const auto& a : impl_->acceptors) {
    beast::error_code ec;
    out.push_back(a->local_endpoint(ec));
  }
  return out;
}

void Server::stop(std::chrono::milliseconds grace) {
  if (impl_->threads.empty()) return;
  impl_->stopping = true;
  net::post(impl_->io, [this] {
    for (auto& a : impl_->acceptors) {
      beast::error_code ec;
      a->close(ec);
    }
  });
  // Drain: answers already being computed (durable writes in flight) still go out.
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (impl_->in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->work.reset();
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

ubm::Result<std::shared_ptr<net::ssl::context>> make_server_tls(const std::string& cert_pem, const std::string& key_pem, const std::string& ca_pem) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  beast::error_code ec;
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 | net::ssl::context::no_sslv3 |
                   net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use, ec);
  if (!ec) ctx->use_certificate_chain(net::buffer(cert_pem), ec);
  if (!ec) ctx->use_private_key(net::buffer(key_pem), net::ssl::context::pem, ec);
  if (ec) return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "tls", "cannot set up TLS: " + ec.message());
  // Trust store for client certificates: only our CA.
  X509_STORE* store = SSL_CTX_get_cert_store(ctx->native_handle());
  BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (ca == nullptr || X509_STORE_add_cert(store, ca) != 1) {
    X509_free(ca);
    return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "tls", "cannot load the CA certificate");
  }
  X509_free(ca);
  // Ask for a certificate, accept the handshake whatever it is, and judge it per request
  // (SSL_get_verify_result), so a bad certificate gets a 401 with a reason.
  SSL_CTX_set_verify(ctx->native_handle(), SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  SSL_CTX_set_session_id_context(ctx->native_handle(), reinterpret_cast<const unsigned char*>("slapmaster"), 10);
  return ctx;
}

}  // namespace slap::http
