#pragma once
// A small synchronous HTTPS client for tests (Beast), with an optional client certificate.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <string>

namespace slap::test {

struct ClientCert {
  std::string cert_pem, key_pem;
};

struct HttpReply {
  unsigned status = 0;
  std::string body;
  std::string etag;
  std::string error;  // transport failure
};

class TlsClient {
 public:
  TlsClient(const std::string& host, unsigned short port, const std::string& ca_pem, std::optional<ClientCert> cert = {})
      : ctx_(boost::asio::ssl::context::tls_client), stream_(io_, ctx_) {
    boost::beast::error_code ec;
    ctx_.add_certificate_authority(boost::asio::buffer(ca_pem), ec);
    ctx_.set_verify_mode(boost::asio::ssl::verify_peer);
    if (cert) {
      ctx_.use_certificate_chain(boost::asio::buffer(cert->cert_pem), ec);
      ctx_.use_private_key(boost::asio::buffer(cert->key_pem), boost::asio::ssl::context::pem, ec);
    }
    stream_.~ssl_stream();
    new (&stream_) boost::beast::ssl_stream<boost::beast::tcp_stream>(io_, ctx_);
    boost::asio::ip::tcp::resolver resolver(io_);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) { error_ = ec.message(); return; }
    boost::beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
    boost::beast::get_lowest_layer(stream_).connect(results, ec);
    if (!ec) stream_.handshake(boost::asio::ssl::stream_base::client, ec);
    if (ec) error_ = ec.message();
  }

  bool connected() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  HttpReply request(boost::beast::http::verb method, const std::string& target, const std::string& body = "",
                    const std::string& if_none_match = "") {
    namespace http = boost::beast::http;
    HttpReply out;
    if (!error_.empty()) { out.error = error_; return out; }
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, "localhost");
    req.keep_alive(true);
    if (!if_none_match.empty()) req.set(http::field::if_none_match, if_none_match);
    if (!body.empty() || method == http::verb::post) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    boost::beast::error_code ec;
    boost::beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(120));
    http::write(stream_, req, ec);
    if (ec) { out.error = ec.message(); return out; }
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res, ec);
    if (ec) { out.error = ec.message(); return out; }
    out.status = res.result_int();
    out.body = res.body();
    if (auto it = res.find(http::field::etag); it != res.end()) out.etag = std::string(it->value());
    return out;
  }

  HttpReply get(const std::string& target, const std::string& inm = "") { return request(boost::beast::http::verb::get, target, "", inm); }
  HttpReply post(const std::string& target, const std::string& body) { return request(boost::beast::http::verb::post, target, body); }

  boost::beast::ssl_stream<boost::beast::tcp_stream>& stream() { return stream_; }

 private:
  boost::asio::io_context io_;
  boost::asio::ssl::context ctx_;
  boost::beast::ssl_stream<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
  std::string error_;
};

}  // namespace slap::test
