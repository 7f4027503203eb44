#include "slapd/api/responses.h"

#include "slapd/api/api.h"

#include <boost/json/serialize.hpp>

namespace slap::slapd {

namespace bj = boost::json;

http::Response json_text_response(unsigned status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

http::Response json_response(unsigned status, const bj::value& body) { return json_text_response(status, bj::serialize(body)); }

http::Response rpc_success(std::string title) { return json_response(200, bj::object{{"title", std::move(title)}, {"type", "success"}}); }

namespace {

// JSON-RPC error names in the SlapOS style (CamelCase), from the HTTP status.
std::string rpc_name(unsigned status, const std::string& code) {
  switch (status) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 413: return "PayloadTooLarge";
    case 422: return "UnprocessableEntity";
    case 429: return "TooManyRequests";
    case 503: return "ServiceUnavailable";
    default: return code;
  }
}

}  // namespace

http::Response error_response(Dialect d, unsigned status, std::string code, std::string detail) {
  if (d == Dialect::jsonrpc) {
    // The SlapOS master's and slapproxy's error bodies name the error "type" and say it in
    // "title"; "name" and "message" say the same for clients reading those.
    std::string name = rpc_name(status, code), message = code + ": " + detail;
    return json_response(status, bj::object{{"status", status}, {"type", name}, {"title", message}, {"name", std::move(name)}, {"message", std::move(message)}});
  }
  return json_response(status, bj::object{{"error", std::move(code)}, {"detail", std::move(detail)}});
}

http::Response bad_request(Dialect d, const json::FieldError& e) {
  std::string detail = e.field.empty() ? e.detail : "field '" + e.field + "': " + e.detail;
  return error_response(d, 400, "bad_request", std::move(detail));
}

unsigned status_of(ubm::Rejection r) {
  using R = ubm::Rejection;
  switch (r) {
    case R::NOT_OWNER: return 403;
    case R::STORAGE_ERROR:
    case R::LEDGER_CLOSED: return 503;
    case R::UNKNOWN_COMPUTER:
    case R::UNKNOWN_PARTITION:
    case R::UNKNOWN_INSTANCE:
    case R::UNKNOWN_SOFTWARE_RELEASE:
    case R::UNKNOWN_PARTY:
    case R::UNRESOLVED_REFERENCE: return 404;
    case R::PARTITION_IN_USE:
    case R::DUPLICATE_ID:
    case R::TITLE_TAKEN:
    case R::RELEASE_IN_USE:
    case R::INVALID_STATE: return 409;
    default: return 422;  // the request is well-formed but the rules refuse it
  }
}

http::Response rejection(Dialect d, const ubm::Error& e) {
  std::string detail = e.field.empty() ? e.detail : e.field + ": " + e.detail;
  return error_response(d, status_of(e.code), ubm::rejection_name(e.code), std::move(detail));
}

namespace rpc {

http::Response forbidden(const std::string& why) { return error_response(Dialect::jsonrpc, 403, "forbidden", why); }

std::optional<std::string> need(const json::Body& body, std::string_view field, const Reply& reply, size_t max) {
  json::FieldError e;
  auto v = body.string(field, e, max);
  if (!v) reply(bad_request(Dialect::jsonrpc, e));
  return v;
}

bool only(const json::Body& body, std::initializer_list<std::string_view> keys, const Reply& reply) {
  json::FieldError e;
  if (body.only_keys(keys, e)) return true;
  reply(bad_request(Dialect::jsonrpc, e));
  return false;
}

}  // namespace rpc

}  // namespace slap::slapd
