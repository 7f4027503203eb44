#pragma once
// The few rtnetlink requests `slapnode format` and `report` need: look up a link (its kind, tap
// owner, byte counters), list and add an interface's addresses, bring a link up. Netlink answers
// for the caller's network namespace — unlike /sys/class/net, which shows the namespace sysfs was
// mounted in — so a node (or a test) in its own namespace sees its own interfaces. Each call opens
// and closes its own socket; not for hot loops.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "node/status.h"

namespace slap::node {

struct LinkInfo {
  int index = 0;
  bool up = false;           // IFF_UP
  std::string kind;          // IFLA_INFO_KIND: "tun" for tun/tap devices, "" for lo or physical
  int tun_type = 0;          // IFF_TUN (1) or IFF_TAP (2) when kind == "tun" and the kernel says
  std::optional<uint32_t> tun_owner;  // uid owning a tun/tap device, when set
  uint64_t rx_bytes = 0, tx_bytes = 0;  // IFLA_STATS64
};

// nullopt when no interface has this name in the current network namespace.
Result<std::optional<LinkInfo>> get_link(const std::string& name);

struct InterfaceAddress {
  int ifindex = 0;
  int family = 0;       // AF_INET or AF_INET6
  std::string address;  // text form
  int prefix = 0;
  bool global = false;  // RT_SCOPE_UNIVERSE
  bool usable_prefix = false;  // IPv6: not temporary, deprecated or tentative
};

// The addresses of one interface; of every interface with ifindex 0.
Result<std::vector<InterfaceAddress>> list_addresses(int ifindex);
// Adds address/prefix; IPv6 ones without duplicate address detection (NODAD) so an instance can
// bind them at once. false (nothing changed) when the interface has it already.
Result<bool> add_address(int ifindex, const std::string& address, int prefix);
Status set_link_up(int ifindex);

}  // namespace slap::node
