#pragma once
// The computer view the master serves at GET /v1/computers/{guid} (node/MASTER_CONTRACT.md),
// validated field by field: an entry that fails validation is dropped and reported in
// `refusals`; the rest of the view stays usable.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "node/status.h"

namespace slap::node {

enum class SoftwareState { kAvailable, kDestroyed };
enum class InstanceState { kFree, kStarted, kStopped, kDestroyed };
const char* instance_state_name(InstanceState s);

struct SoftwareEntry {
  std::string url;
  SoftwareState state = SoftwareState::kAvailable;
};

struct SharedInstance {
  std::string instance_guid;
  std::string title;
  std::string state;
  std::map<std::string, std::string> parameters;
  std::map<std::string, std::string> connection_parameters;
};

struct PartitionView {
  std::string partition_id;  // slappartN
  std::vector<std::pair<std::string, std::string>> ip_list;  // (interface, address)
  std::string instance_guid;
  std::string title;
  std::string root_instance_title;
  InstanceState state = InstanceState::kFree;
  std::string software_release_uri;
  std::string software_type;
  std::string timestamp;
  std::map<std::string, std::string> parameters;
  std::map<std::string, std::string> sla_parameters;
  std::map<std::string, std::string> connection_parameters;
  std::vector<SharedInstance> shared_instances;
};

struct ComputerView {
  std::string computer_guid;
  uint64_t version = 0;
  std::vector<SoftwareEntry> software;
  std::vector<PartitionView> partitions;
  // Partitions whose entry was refused (malformed, listed twice): what they must run is unknown,
  // so the instance pass leaves them as they are instead of taking them for free and wiping them.
  std::set<std::string> refused_partitions;
  bool unnamed_refusal = false;  // an entry refused before its id could be read: any may be it
};

struct ViewLimits {
  int partition_count = 0;  // partition ids must be slappart0..count-1
  size_t max_parameters = 256;
  size_t max_value_bytes = 64 * 1024;
  size_t max_shared = 1000;
};

// kInvalid for JSON that is not an object or names another computer; bad entries are dropped.
Result<ComputerView> parse_view(std::string_view json, const std::string& expected_guid, const ViewLimits& limits,
                                std::vector<std::string>* refusals);

bool valid_guid(std::string_view s);          // [A-Za-z0-9_.-]{1,128}
bool valid_partition_id(std::string_view s, int partition_count);
bool valid_parameter_key(std::string_view s);  // printable, no '/', 1..128 bytes

}  // namespace slap::node
