#pragma once
// `slapnode format`: partitions slappart0..N-1 under the instance root. Privileged: a system
// user/group slapuserN (no login), the directory owned by it with mode 0750, the address added
// to the configured interface. Unprivileged: plain directories and loopback addresses. Re-running
// changes nothing that already exists.
#include <optional>
#include <string>
#include <vector>

#include "node/config.h"
#include "node/slap_client.h"
#include "node/sys.h"

namespace slap::node {

struct PartitionLayout {
  int index = 0;
  std::string id;    // slappartN
  std::string path;  // <instance root>/slappartN
  std::string ipv4;
  std::string user;  // slapuserN (privileged) or empty
  std::optional<Identity> identity;  // set when privileged and the user exists
};

// The layout the configuration implies; looks users up but changes nothing.
std::vector<PartitionLayout> partition_layout(const NodeConfig& cfg);

struct FormatReport {
  int created_dirs = 0;
  int created_users = 0;
  int added_addresses = 0;
};

// Creates what is missing. Does not talk to the master.
Result<FormatReport> format_partitions(const NodeConfig& cfg);

// The declaration sent with slapos.put.v0.compute_node_format.
std::vector<PartitionDeclaration> format_declaration(const NodeConfig& cfg);

}  // namespace slap::node
