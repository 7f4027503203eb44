#pragma once
// Client side of mutual TLS: a context trusting only the master's CA (the nginx baseline serves
// the master's own server certificate, so the same context fits both) and presenting one identity.
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

namespace slap::load {

// A certificate and its key, PEM.
struct Identity {
  std::string guid;
  std::string certificate_pem;
  std::string key_pem;
};

// Throws std::runtime_error when a PEM does not load.
std::shared_ptr<boost::asio::ssl::context> client_tls(const std::string& ca_pem, const Identity& who);

// The whole file; throws std::runtime_error when it cannot be read.
std::string read_text(const std::string& path);

}  // namespace slap::load
