#pragma once
// Reads release files behind file://, http:// and https:// URLs, bounded in size. No redirects.
#include <string>

#include "node/http_client.h"
#include "node/status.h"

namespace slap::node {

class Fetcher {
 public:
  explicit Fetcher(HttpOptions opts) : http_(std::move(opts)) {}
  Result<std::string> fetch(const std::string& url, size_t max_bytes = 256u << 20);

 private:
  HttpClient http_;
};

// "file:///a/b" -> "/a/b" (percent escapes are not decoded: keep file names plain).
Result<std::string> file_url_path(const std::string& url);

}  // namespace slap::node
