// Fuzzes the node's validation of the master's answer to GET /v1/computers/{guid}: node::parse_view.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "node/view.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> refusals;
  slap::node::ViewLimits limits;
  limits.partition_count = 10;
  (void)slap::node::parse_view(json, "COMP-1", limits, &refusals);
  limits = {.partition_count = 2, .max_parameters = 2, .max_value_bytes = 16, .max_shared = 1};
  (void)slap::node::parse_view(json, "COMP-1", limits, nullptr);
  return 0;
}
