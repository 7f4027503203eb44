#include "slapd/http/server.h"

#include <pthread.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>

#include "slapd/http/server_impl.h"

namespace slap::http {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

void Server::Impl::accept(tcp::acceptor& acceptor) {
  net::io_context& target = *ios[next_io++ % ios.size()];
  acceptor.async_accept(target.get_executor(), [this, &acceptor](beast::error_code ec, tcp::socket socket) {
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
        start_session(std::move(socket), *this);
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
    auto acceptor = std::make_unique<tcp::acceptor>(*impl_->ios[0]);
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
  for (auto& io : impl_->ios) {
    impl_->threads.emplace_back([io = io.get(), after_pass = impl_->options.after_pass] {
      if (!after_pass) return (void)io->run();
      // run_one blocks for the first ready handler; poll runs the others that are ready by then.
      while (io->run_one() > 0) {
        io->poll();
        after_pass();
      }
    });
    pthread_setname_np(impl_->threads.back().native_handle(), "slap-io");
  }
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
  net::post(*impl_->ios[0], [this] {
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
  for (auto& w : impl_->work) w.reset();
  for (auto& io : impl_->ios) io->stop();
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
