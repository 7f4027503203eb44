#pragma once
// IPv4 address plans: "127.1.0.0/24" gives partition N the address base + N + 1.
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

}  // namespace slap::node
