#include "node/fetch.h"

#include "node/profile.h"
#include "node/sys.h"

namespace slap::node {

Result<std::string> file_url_path(const std::string& url) {
  if (url.rfind("file:///", 0) != 0) return make_error(Errc::kInvalid, "not a file:/// URL: " + url);
  std::string path = url.substr(7);
  if (path.find("/../") != std::string::npos || path.ends_with("/..")) {
    return make_error(Errc::kInvalid, "refused '..' in " + url);
  }
  return path;
}

Result<std::string> Fetcher::fetch(const std::string& url, size_t max_bytes) {
  if (!url_scheme_allowed(url)) return make_error(Errc::kInvalid, "refused URL '" + url.substr(0, 200) + "'");
  if (url.rfind("file://", 0) == 0) {
    auto path = file_url_path(url);
    if (!path) return path.error();
    return read_file(*path, max_bytes);
  }
  auto r = http_.request("GET", url, "", {}, std::chrono::milliseconds(0));
  if (!r) return r.error();
  if (r->status != 200) return make_error(Errc::kNotFound, "GET " + url + ": HTTP " + std::to_string(r->status));
  if (r->body.size() > max_bytes) return make_error(Errc::kInvalid, url + " is larger than the limit");
  return std::move(r->body);
}

}  // namespace slap::node
