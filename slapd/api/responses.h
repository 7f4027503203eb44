#pragma once
// Response shapes. JSON-RPC paths answer as the SlapOS master API defines: success is
// {"title": ..., "type": "success"}, an error is {"status": N, "name": ..., "message": ...} with
// HTTP status N. /v1/ answers errors as {"error": CODE, "detail": ...} (DESIGN.md §6).
#include <boost/json/value.hpp>
#include <string>

#include "slapd/http/server.h"
#include "slapd/json/body.h"
#include "ubm/error.h"

namespace slap::slapd {

enum class Dialect { jsonrpc, v1 };

http::Response json_response(unsigned status, const boost::json::value& body);
// A body already serialised (render.h instance_text).
http::Response json_text_response(unsigned status, std::string body);
http::Response rpc_success(std::string title);
http::Response error_response(Dialect d, unsigned status, std::string code, std::string detail);
// A field-level validation failure: 400 naming the field.
http::Response bad_request(Dialect d, const json::FieldError& e);
// A rule refusal from the market or the ledger, with the status its reason deserves.
http::Response rejection(Dialect d, const ubm::Error& e);
unsigned status_of(ubm::Rejection r);

}  // namespace slap::slapd
