#include "node/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <optional>

namespace slap::node {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

Result<Url> parse_http_url(const std::string& url) {
  Url u;
  size_t p = url.find("://");
  if (p == std::string::npos) return make_error(Errc::kInvalid, "URL without scheme: " + url);
  u.scheme = url.substr(0, p);
  if (u.scheme != "http" && u.scheme != "https") return make_error(Errc::kInvalid, "unsupported scheme in " + url);
  size_t host_start = p + 3;
  size_t path = url.find('/', host_start);
  std::string authority = url.substr(host_start, path == std::string::npos ? std::string::npos : path - host_start);
  u.target = path == std::string::npos ? "/" : url.substr(path);
  if (authority.empty() || authority.find('@') != std::string::npos) return make_error(Errc::kInvalid, "bad host in " + url);
  if (authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return make_error(Errc::kInvalid, "bad IPv6 host in " + url);
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') u.port = authority.substr(close + 2);
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) u.port = authority.substr(colon + 1);
  }
  if (u.port.empty()) u.port = u.scheme == "https" ? "443" : "80";
  for (char c : u.port) {
    if (c < '0' || c > '9') return make_error(Errc::kInvalid, "bad port in " + url);
  }
  for (unsigned char c : u.target) {
    if (c < 0x21 || c == 0x7f) return make_error(Errc::kInvalid, "bad character in " + url);
  }
  return u;
}

struct HttpClient::Impl {
  HttpOptions opts;
  asio::io_context ioc;
  ssl::context ssl_ctx{ssl::context::tls_client};
  std::string ssl_error;
  // The open connection, if any.
  std::string origin;  // scheme://host:port
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;

  explicit Impl(HttpOptions o) : opts(std::move(o)) {
    boost::system::error_code ec;
    ssl_ctx.set_verify_mode(ssl::verify_peer, ec);
    if (!opts.ca_file.empty()) ssl_ctx.load_verify_file(opts.ca_file, ec);
    else ssl_ctx.set_default_verify_paths(ec);  // only the given CA when one is configured
    if (ec) ssl_error = "CA " + opts.ca_file + ": " + ec.message();
    if (!opts.cert_file.empty()) {
      ssl_ctx.use_certificate_chain_file(opts.cert_file, ec);
      if (ec) ssl_error = "certificate " + opts.cert_file + ": " + ec.message();
      ssl_ctx.use_private_key_file(opts.key_file, ssl::context::pem, ec);
      if (ec) ssl_error = "key " + opts.key_file + ": " + ec.message();
    }
  }

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  // Runs one asynchronous operation to completion on our private io_context. With a `cancelled`
  // callback, it is asked every 200 ms; when it says so, the socket's pending operation is
  // cancelled (it completes with operation_aborted) and `was_cancelled` is set.
  bool was_cancelled = false;
  template <typename Start>
  beast::error_code run(Start&& start) {
    beast::error_code result = asio::error::would_block;
    start([&](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    if (!opts.cancelled) {
      ioc.run();
      return result;
    }
    while (!ioc.stopped()) {
      ioc.run_for(std::chrono::milliseconds(200));
      if (ioc.stopped() || !opts.cancelled()) continue;
      was_cancelled = true;
      beast::error_code ignored;
      if (secure) beast::get_lowest_layer(*secure).socket().cancel(ignored);
      if (plain) plain->socket().cancel(ignored);
      ioc.run();  // the aborted operation's handler (a resolve is short and ends on its own)
    }
    return result;
  }

  void close() {
    if (secure) {
      beast::error_code ec;
      beast::get_lowest_layer(*secure).socket().close(ec);
    }
    if (plain) {
      beast::error_code ec;
      plain->socket().close(ec);
    }
    secure.reset();
    plain.reset();
    origin.clear();
    buffer.clear();
  }

  Status connect(const Url& u, std::chrono::milliseconds timeout) {
    close();
    if (u.scheme == "https" && !ssl_error.empty()) return make_error(Errc::kInvalid, "TLS set-up: " + ssl_error);
    tcp::resolver resolver(ioc);
    tcp::resolver::results_type endpoints;
    beast::error_code ec = run([&](auto h) {
      resolver.async_resolve(u.host, u.port, [&, h](beast::error_code e, tcp::resolver::results_type r) mutable {
        endpoints = std::move(r);
        h(e);
      });
    });
    if (ec) return make_error(Errc::kUnreachable, "resolve " + u.host + ": " + ec.message());
    if (u.scheme == "https") {
      secure.emplace(ioc, ssl_ctx);
      if (!SSL_set_tlsext_host_name(secure->native_handle(), u.host.c_str())) {
        return make_error(Errc::kInvalid, "bad TLS host name " + u.host);
      }
      secure->set_verify_callback(ssl::host_name_verification(u.host));
    } else {
      plain.emplace(ioc);
    }
    lowest().expires_after(timeout);
    ec = run([&](auto h) { lowest().async_connect(endpoints, h); });
    if (ec) {
      close();
      return make_error(ec == beast::error::timeout ? Errc::kTimeout : Errc::kUnreachable,
                        "connect " + u.host + ":" + u.port + ": " + ec.message());
    }
    if (secure) {
      lowest().expires_after(timeout);
      ec = run([&](auto h) { secure->async_handshake(ssl::stream_base::client, h); });
      if (ec) {
        close();
        return make_error(Errc::kUnreachable, "TLS handshake with " + u.host + ": " + ec.message());
      }
    }
    origin = u.scheme + "://" + u.host + ":" + u.port;
    return {};
  }

  Result<HttpResponse> exchange(const std::string& method, const Url& u, const std::string& body,
                                const std::map<std::string, std::string>& headers, std::chrono::milliseconds timeout,
                                std::chrono::milliseconds step) {
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(u.target);
    req.version(11);
    req.set(http::field::host, u.host);
    req.set(http::field::user_agent, "slapnode/0.1");
    req.keep_alive(true);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    lowest().expires_after(step);
    beast::error_code ec = secure ? run([&](auto h) { http::async_write(*secure, req, h); })
                                  : run([&](auto h) { http::async_write(*plain, req, h); });
    if (ec) return make_error(ec == beast::error::timeout ? Errc::kTimeout : Errc::kUnreachable, "write: " + ec.message());
    http::response_parser<http::string_body> parser;
    parser.body_limit(opts.max_body);
    parser.header_limit(64 * 1024);
    if (opts.idle_timeout.count() == 0) {
      lowest().expires_after(timeout);
      ec = secure ? run([&](auto h) { http::async_read(*secure, buffer, parser, h); })
                  : run([&](auto h) { http::async_read(*plain, buffer, parser, h); });
    } else {
      // Piece by piece, each read bounded by the idle timeout and what is left of the whole.
      const auto end = std::chrono::steady_clock::now() + timeout;
      while (!ec && !parser.is_done()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          ec = beast::error::timeout;
          break;
        }
        lowest().expires_after(std::min(left, opts.idle_timeout));
        ec = secure ? run([&](auto h) { http::async_read_some(*secure, buffer, parser, h); })
                    : run([&](auto h) { http::async_read_some(*plain, buffer, parser, h); });
      }
    }
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      return make_error(Errc::kProtocol, "response larger than the limit");
    }
    if (ec == beast::error::timeout) return make_error(Errc::kTimeout, "read: timed out");
    if (ec) return make_error(Errc::kUnreachable, "read: " + ec.message());
    auto& res = parser.get();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(f.value());
    }
    out.body = std::move(res.body());
    if (!res.keep_alive()) close();
    return out;
  }
};

HttpClient::HttpClient(HttpOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}

namespace {
Error cancelled_error(const std::string& url) { return make_error(Errc::kCancelled, "stopping: " + url + " abandoned"); }
}  // namespace
HttpClient::~HttpClient() { impl_->close(); }
void HttpClient::close() { impl_->close(); }

Result<HttpResponse> HttpClient::request(const std::string& method, const std::string& url, const std::string& body,
                                         const std::map<std::string, std::string>& headers,
                                         std::chrono::milliseconds timeout) {
  auto u = parse_http_url(url);
  if (!u) return u.error();
  if (timeout.count() == 0) timeout = impl_->opts.timeout;
  // With an idle timeout, `timeout` is the whole response's allowance: connecting, the TLS
  // handshake and sending the request are steps without progress to show, bounded by the idle one.
  const std::chrono::milliseconds step =
      impl_->opts.idle_timeout.count() > 0 ? std::min(impl_->opts.idle_timeout, timeout) : timeout;
  if (impl_->opts.cancelled && impl_->opts.cancelled()) return cancelled_error(url);
  impl_->was_cancelled = false;
  std::string origin = u->scheme + "://" + u->host + ":" + u->port;
  bool reused = impl_->origin == origin;
  auto finish = [&](Result<HttpResponse> r) -> Result<HttpResponse> {
    if (impl_->was_cancelled) {
      impl_->close();
      return cancelled_error(url);
    }
    if (!r) impl_->close();
    return r;
  };
  if (!reused) {
    if (auto st = impl_->connect(*u, step); !st) return finish(st.error());
  }
  auto r = impl_->exchange(method, *u, body, headers, timeout, step);
  if (!r && reused && r.error().code == Errc::kUnreachable && !impl_->was_cancelled) {
    // The server may have closed the idle keep-alive connection: one fresh attempt.
    if (auto st = impl_->connect(*u, step); !st) return finish(st.error());
    r = impl_->exchange(method, *u, body, headers, timeout, step);
  }
  return finish(std::move(r));
}

}  // namespace slap::node
