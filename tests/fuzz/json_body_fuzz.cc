// Fuzzes the request bodies of JSON-RPC and /v1/ calls: json::Body::parse, then every accessor on
// the body's own keys and on the field names the handlers ask for.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "slapd/json/body.h"

using slap::json::Body;
using slap::json::FieldError;

namespace {

void read_field(const Body& body, std::string_view field) {
  FieldError e;
  bool failed = false;
  (void)body.string(field, e);
  (void)body.string(field, e, 8);
  (void)body.optional_string(field, e, failed);
  (void)body.optional_bool(field, e, failed);
  (void)body.optional_int(field, e, failed);
  (void)body.string_map(field, e, failed);
  (void)body.string_map(field, e, failed, 2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FieldError error;
  auto body = Body::parse(std::string_view(reinterpret_cast<const char*>(data), size), error);
  if (!body) return 0;
  for (std::string_view f : {"computer_id", "software_release", "partition_reference", "software_type", "shared",
                             "state", "parameters", "sla_parameters", "connection_parameter_dict", "title",
                             "categories", "price_minor", "scope", "", "\xff"}) {
    read_field(*body, f);
  }
  std::string keys;
  for (auto [k, v] : body->object()) {
    (void)v;
    read_field(*body, k);
    keys.assign(k);
  }
  (void)body->only_keys({"title", "network", "region", "categories", "price_minor", "currency", "capability", "scope"}, error);
  (void)body->only_keys({}, error);
  return 0;
}
