#pragma once
// slapnode configuration: an INI file (`key = value`, optionally under [slapnode]) overridden by
// command-line flags. Unknown keys are refused so typos do not pass silently.
#include <string>

#include "node/status.h"

namespace slap::node {

enum class Privilege { kAuto, kYes, kNo };

struct NodeConfig {
  std::string master_url;     // https://master:8443
  std::string computer_guid;  // COMP-1
  std::string cert, key, ca;  // the computer's certificate, its key, the master's CA
  std::string instance_root = "/srv/slapgrid";
  std::string software_root = "/opt/slapgrid";
  std::string run_dir = "/run/slapnode";  // supervisord config, socket, logs: all rebuildable
  int partition_count = 10;
  std::string ipv4_range = "127.1.0.0/24";  // partition N gets the (N+1)th address
  std::string interface_name = "lo";
  // Privileged only (ignored, with a warning, otherwise): a tap interface slaptapN per partition,
  // and an IPv6 per partition derived from the interface's global prefix (net.h).
  bool tap = false;
  bool ipv6 = true;  // "ipv6 = no" keeps partitions IPv4-only even where the host has a prefix
  Privilege privilege = Privilege::kAuto;  // auto: privileged steps when running as root
  std::string software_user = "slapsoft";  // builds run as this user when privileged
  int software_interval_s = 60;
  int instance_interval_s = 60;
  int report_interval_s = 3600;
  int format_interval_s = 86400;
  int http_timeout_s = 30;
  int retries = 4;
  int build_timeout_s = 3600;
  // slapnode-launch, which supervisord runs every program through where slapnode keeps CPU groups
  // (instance.h InstanceManager::launcher). Empty: the one beside the slapnode executable. Not a
  // configuration key: only a Node built in another executable (the tests) needs to name it.
  std::string launcher;

  bool privileged() const;
  std::string partition_path(int n) const;
  // The node's own bookkeeping, kept out of the partitions' reach: <instance root>/.slapnode-state
  // (mode 0700, owned by slapnode's uid), one directory per partition in it (partition_state_path)
  // holding state.json (the partition record), usage.json and net.json (usage baselines). A
  // partition's user owns its partition directory, so anything kept there it could rewrite.
  std::string state_root() const;
  std::string partition_state_path(int n) const;
};

Status apply_config_text(NodeConfig& cfg, const std::string& text, const std::string& origin);
Status load_config_file(NodeConfig& cfg, const std::string& path);
// Checks what every command needs (paths absolute, counts in range, range parses).
Status validate_config(const NodeConfig& cfg, bool needs_master);

}  // namespace slap::node
