#include "node/net.h"

#include <arpa/inet.h>

#include <algorithm>
#include <iterator>
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

std::string Ipv6Prefix::address(uint32_t low32) const {
  unsigned char b[16];
  std::copy(std::begin(network), std::end(network), b);
  for (int i = 0; i < 4; ++i) b[12 + i] = static_cast<unsigned char>(low32 >> (24 - 8 * i));
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, b, text, sizeof text);
  return text;
}

std::string Ipv6Prefix::netmask() const {
  unsigned char b[16] = {};
  for (int i = 0; i < prefix; ++i) b[i / 8] = static_cast<unsigned char>(b[i / 8] | (0x80 >> (i % 8)));
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, b, text, sizeof text);
  return text;
}

Result<Ipv6Prefix> parse_ipv6_prefix(const std::string& cidr) {
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) return make_error(Errc::kInvalid, "IPv6 prefix '" + cidr + "' is not addr/len");
  Ipv6Prefix p;
  if (inet_pton(AF_INET6, cidr.substr(0, slash).c_str(), p.network) != 1) {
    return make_error(Errc::kInvalid, "bad IPv6 address in '" + cidr + "'");
  }
  const std::string len = cidr.substr(slash + 1);
  if (len.empty() || len.size() > 3 || len.find_first_not_of("0123456789") != std::string::npos) {
    return make_error(Errc::kInvalid, "bad prefix length in '" + cidr + "'");
  }
  p.prefix = std::stoi(len);
  if (p.prefix < 1 || p.prefix > Ipv6Prefix::kLongestPrefix) {
    return make_error(Errc::kInvalid, "IPv6 prefix of '" + cidr + "' must be /1../96 for partition addresses");
  }
  for (int i = p.prefix; i < 128; ++i) p.network[i / 8] = static_cast<unsigned char>(p.network[i / 8] & ~(0x80 >> (i % 8)));
  return p;
}

}  // namespace slap::node
