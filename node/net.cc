#include "node/net.h"

#include <arpa/inet.h>

#include <stdexcept>

namespace slap::node {

namespace {
std::string dotted(uint32_t v) {
  return std::to_string(v >> 24) + "." + std::to_string((v >> 16) & 255) + "." + std::to_string((v >> 8) & 255) +
         "." + std::to_string(v & 255);
}
}  // namespace

std::string Ipv4Range::address(uint32_t offset) const { return dotted(base + offset); }

std::string Ipv4Range::netmask() const {
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return dotted(mask);
}

Result<Ipv4Range> parse_ipv4_range(const std::string& cidr) {
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) return make_error(Errc::kInvalid, "address plan '" + cidr + "' is not a.b.c.d/n");
  std::string addr = cidr.substr(0, slash);
  in_addr a{};
  if (inet_pton(AF_INET, addr.c_str(), &a) != 1) return make_error(Errc::kInvalid, "bad address in '" + cidr + "'");
  int prefix = 0;
  try {
    size_t used = 0;
    prefix = std::stoi(cidr.substr(slash + 1), &used);
    if (used != cidr.size() - slash - 1) throw std::invalid_argument(cidr);
  } catch (const std::exception&) {
    return make_error(Errc::kInvalid, "bad prefix in '" + cidr + "'");
  }
  if (prefix < 8 || prefix > 30) return make_error(Errc::kInvalid, "prefix of '" + cidr + "' must be in [8, 30]");
  Ipv4Range r;
  r.prefix = prefix;
  uint32_t mask = ~uint32_t{0} << (32 - prefix);
  r.base = ntohl(a.s_addr) & mask;
  return r;
}

}  // namespace slap::node
