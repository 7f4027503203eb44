// Fuzzes the HTTP request parser path of slapd/http/server.cc: Beast's request_parser<string_body>
// with the server's limits (ServerOptions: body 1 MiB, header 16 KiB), fed the bytes of one
// connection in chunks (the first byte picks the chunk size), pipelined requests parsed one after
// the other with a fresh parser each, then the fields the server reads from each message.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <boost/beast/http.hpp>

#include "slapd/http/server.h"

namespace beast = boost::beast;
namespace bhttp = beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const slap::http::ServerOptions options;
  const size_t chunk = 1 + data[0] % 64 * 7;
  std::string pending;
  size_t offset = 1;
  for (int requests = 0; requests < 64; ++requests) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.eager(true);
    parser.body_limit(options.max_body_bytes);
    parser.header_limit(static_cast<uint32_t>(options.max_header_bytes));
    beast::error_code ec;
    while (!parser.is_done()) {
      if (pending.empty()) {
        if (offset >= size) {
          parser.put_eof(ec);
          break;
        }
        const size_t n = std::min(chunk, size - offset);
        pending.assign(reinterpret_cast<const char*>(data) + offset, n);
        offset += n;
      }
      const size_t used = parser.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (ec == bhttp::error::need_more) {  // what async_read does: read more, try again
        ec = {};
        if (offset >= size) {
          parser.put_eof(ec);
          break;
        }
        const size_t n = std::min(chunk, size - offset);
        pending.append(reinterpret_cast<const char*>(data) + offset, n);
        offset += n;
        continue;
      }
      if (ec) break;
    }
    if (ec || !parser.is_done()) return 0;
    auto msg = parser.release();
    std::string target(msg.target());
    const bool keep_alive = msg.keep_alive();
    (void)msg.version();
    (void)msg.method();
    if (auto it = msg.find(bhttp::field::if_none_match); it != msg.end()) target += std::string(it->value());
    if (!keep_alive) return 0;
  }
  return 0;
}
