#pragma once
// Address plans. IPv4: "127.1.0.0/24" gives partition N the address base + N + 1. IPv6: the
// prefix of a global address the host has on the configured interface (/96 or shorter) gives
// partition N its network address with the low 32 bits 0x5170_0000 + N + 1 (2001:db8::/64 →
// 2001:db8::5170:1 for slappart0): deterministic, so a stateless node finds the same addresses
// again, and clear of the usual ::1, SLAAC (EUI-64) and DHCPv6 hosts.
#include <cstdint>
#include <string>

#include "node/status.h"

namespace slap::node {

struct Ipv4Range {
  uint32_t base = 0;  // network address, host order
  int prefix = 32;
  uint64_t size() const { return uint64_t{1} << (32 - prefix); }
  std::string address(uint32_t offset) const;  // base + offset, dotted
  std::string netmask() const;
  std::string network() const { return address(0); }
};

Result<Ipv4Range> parse_ipv4_range(const std::string& cidr);

struct Ipv6Prefix {
  unsigned char network[16] = {};
  int prefix = 64;
  std::string address(uint32_t low32) const;  // network with its low 32 bits set, text form
  std::string partition_address(int index) const { return address(kPartitionBase + static_cast<uint32_t>(index) + 1); }
  std::string netmask() const;  // ffff:ffff:ffff:ffff:: for /64
  static constexpr uint32_t kPartitionBase = 0x5170'0000;
  static constexpr int kLongestPrefix = 96;  // the low 32 bits must be host bits
};

// "2001:db8::1/64" → its network; refuses prefixes longer than /96.
Result<Ipv6Prefix> parse_ipv6_prefix(const std::string& cidr);

}  // namespace slap::node
