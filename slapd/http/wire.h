#pragma once
// A Response as bytes on the wire (HTTP/1.x status line, headers, body), so that several answers
// ready at once on a pipelining connection leave in one TLS record and one system call.
#include <string>

#include "slapd/http/server.h"

namespace slap::http {

// Appends `r` to `out`. `version` is the request's (10 or 11); `keep_alive` false adds
// "Connection: close" (HTTP/1.1), true adds "Connection: keep-alive" for HTTP/1.0. A header value
// holding CR or LF is dropped rather than split into two headers.
void append_response(std::string& out, const Response& r, unsigned version, bool keep_alive);

}  // namespace slap::http
