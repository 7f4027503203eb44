#pragma once
// A small synchronous HTTP/1.1 client on Boost.Beast: TLS with a client certificate, keep-alive
// to one origin at a time, a deadline on every step and a bounded response body. Not
// thread-safe: one client per thread.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "node/status.h"

namespace slap::node {

struct HttpOptions {
  std::string ca_file;    // trust anchors; empty: the system store
  std::string cert_file;  // client certificate (PEM), optional
  std::string key_file;   // its private key (PEM)
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // 0: `timeout` bounds each step (connect, write, the whole read). Otherwise the response may take
  // up to `timeout` as long as bytes keep coming: no read waits longer than `idle_timeout` (a large
  // download on a slow link is not cut at a fixed deadline, a stalled one is).
  std::chrono::milliseconds idle_timeout{0};
  size_t max_body = 64u << 20;
  // Asked every 200 ms while waiting: true ends the request with Errc::kCancelled (slapnode
  // stopping, node/sys.h stop_requested: a download is not waited for until it ends).
  std::function<bool()> cancelled;
};

struct Url {
  std::string scheme;  // http | https
  std::string host;
  std::string port;
  std::string target;  // path and query, starts with '/'
};
Result<Url> parse_http_url(const std::string& url);

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions opts);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // kUnreachable when no connection could be made or the exchange broke; kTimeout past the
  // deadline; kProtocol for a response larger than max_body or unparsable.
  Result<HttpResponse> request(const std::string& method, const std::string& url, const std::string& body,
                               const std::map<std::string, std::string>& headers,
                               std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  // Forces the next request to open a new connection.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace slap::node
