#pragma once
// `slapnode format`: partitions slappart0..N-1 under the instance root. Privileged: a system
// user/group slapuserN (no login), the directory owned by it with mode 0750, a tap slaptapN owned
// by it (`tap = yes`), its IPv4 and — where the interface has a global IPv6 prefix — its IPv6
// added to the configured interface (through netlink). Unprivileged: plain directories and the
// IPv4 plan's loopback addresses, no IPv6 (only ::1 is local without adding addresses, and adding
// needs root), no tap; nothing privileged is attempted. Re-running changes nothing that exists.
// Both: the state root <instance root>/.slapnode-state (mode 0700, slapnode's uid) where the node
// keeps its per-partition records out of the partition users' reach (NodeConfig::state_root).
#include <optional>
#include <string>
#include <vector>

#include "node/config.h"
#include "node/net.h"
#include "node/slap_client.h"
#include "node/sys.h"

namespace slap::node {

struct PartitionLayout {
  int index = 0;
  std::string id;    // slappartN
  std::string path;  // <instance root>/slappartN
  std::string state_dir;  // <instance root>/.slapnode-state/slappartN (NodeConfig::partition_state_path)
  std::string ipv4;
  std::string ipv6;      // empty when unprivileged, disabled, or the interface has no global prefix
  int ipv6_prefix = 0;   // the interface's prefix length, used when adding ipv6
  std::string tap;       // slaptapN when privileged and `tap = yes`, else empty
  std::string user;  // slapuserN (privileged) or empty
  std::optional<Identity> identity;  // set when privileged and the user exists
};

// The layout the configuration implies; looks users up but changes nothing.
std::vector<PartitionLayout> partition_layout(const NodeConfig& cfg);

struct FormatReport {
  int created_dirs = 0;
  int created_users = 0;
  int added_addresses = 0;
  int created_taps = 0;
};

// Creates what is missing. Does not talk to the master.
Result<FormatReport> format_partitions(const NodeConfig& cfg);

// The IPv6 prefix partitions take their addresses from: the global IPv6 on `iface` (prefix /96 or
// shorter, not temporary/deprecated/tentative) with the lowest network, so every pass picks the
// same one. nullopt when there is none.
std::optional<Ipv6Prefix> host_ipv6_prefix(const std::string& iface);

// The declaration sent with slapos.put.v0.compute_node_format: per partition its IPv4 and IPv6,
// each with `network-interface` = the partition's tap when it has one (SlapOS's convention: the
// master keeps it as the partition's tap and hands it back in the view's ip_list), else the
// configured interface.
std::vector<PartitionDeclaration> format_declaration(const NodeConfig& cfg);

}  // namespace slap::node
