#include "slapd/http/wire.h"

#include <boost/beast/http/status.hpp>
#include <charconv>
#include <string_view>

namespace slap::http {

namespace {

bool clean(std::string_view v) { return v.find_first_of("\r\n") == std::string_view::npos; }

void append_number(std::string& out, size_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  if (!clean(name) || !clean(value)) return;
  out.append(name).append(": ").append(value).append("\r\n");
}

}  // namespace

void append_response(std::string& out, const Response& r, unsigned version, bool keep_alive) {
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_number(out, r.status);
  out.push_back(' ');
  out.append(boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(r.status)));
  out.append("\r\nServer: slapmaster\r\n");
  if (!r.content_type.empty()) append_header(out, "Content-Type", r.content_type);
  for (const auto& [k, v] : r.headers) append_header(out, k, v);
  out.append("Content-Length: ");
  append_number(out, r.body.size());
  out.append("\r\n");
  if (!keep_alive && version != 10) out.append("Connection: close\r\n");
  if (keep_alive && version == 10) out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
  out.append(r.body);
}

}  // namespace slap::http
