#pragma once
// https://HOST:PORT[/PATH] → the endpoint to dial, the Host header and the path.
#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace slap::load {

struct Url {
  boost::asio::ip::tcp::endpoint endpoint;
  std::string host;  // as written, for the Host header
  std::string path;  // "/" when absent
};

// Resolves the host once; throws std::runtime_error on a malformed URL or an unknown host.
Url parse_url(const std::string& url);

}  // namespace slap::load
