#include "bench/load/tls.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace slap::load {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> client_tls(const std::string& ca_pem, const Identity& who) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                   ssl::context::no_tlsv1_1);
  ctx->add_certificate_authority(boost::asio::buffer(ca_pem), ec);
  if (ec) throw std::runtime_error("CA certificate: " + ec.message());
  // The chain is checked; the name is not: the master's certificate names "localhost" and we dial
  // 127.0.0.1, and what matters here is that it comes from the master's CA.
  ctx->set_verify_mode(ssl::verify_peer);
  ctx->use_certificate_chain(boost::asio::buffer(who.certificate_pem), ec);
  if (ec) throw std::runtime_error("client certificate " + who.guid + ": " + ec.message());
  ctx->use_private_key(boost::asio::buffer(who.key_pem), ssl::context::pem, ec);
  if (ec) throw std::runtime_error("client key " + who.guid + ": " + ec.message());
  return ctx;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace slap::load
