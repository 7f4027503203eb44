#include "bench/load/url.h"

#include <boost/asio/io_context.hpp>
#include <stdexcept>

namespace slap::load {

Url parse_url(const std::string& url) {
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) throw std::runtime_error(url + ": expected https://HOST:PORT[/PATH]");
  const std::string rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  Url out;
  out.path = slash == std::string::npos ? "/" : rest.substr(slash);
  out.host = authority;
  std::string host, port = "443";
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string::npos) throw std::runtime_error(url + ": unterminated [IPv6] address");
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw std::runtime_error(url + ": expected :PORT after ]");
      port = authority.substr(close + 2);
    }
  } else {
    const auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty()) throw std::runtime_error(url + ": cannot resolve: " + ec.message());
  out.endpoint = results.begin()->endpoint();
  return out;
}

}  // namespace slap::load
