#pragma once
// Small value types shared by market commands, facts and projections.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slap::market {

// A string map kept sorted by key with unique keys, so equal maps compare and encode equal.
using StringMap = std::vector<std::pair<std::string, std::string>>;
// Sorts by key; the last value wins for a duplicated key.
StringMap normalized(StringMap m);
const std::string* find_value(const StringMap& m, std::string_view key);

enum class Scope : uint8_t { open = 0, close = 1 };  // close: only the owner's requests land here
enum class RequestedState : uint8_t { started = 0, stopped = 1, destroyed = 2 };
enum class ReportedState : uint8_t { none = 0, started = 1, stopped = 2, destroyed = 3 };

std::string_view to_string(Scope s) noexcept;
std::string_view to_string(RequestedState s) noexcept;
std::string_view to_string(ReportedState s) noexcept;
bool parse(std::string_view text, Scope& out) noexcept;
bool parse(std::string_view text, RequestedState& out) noexcept;
bool parse(std::string_view text, ReportedState& out) noexcept;

// One computer partition as a node declares it.
// An address with its route, as a node declares the tap interface of a partition that runs a
// virtual machine: what SlapOS lists in an instance's full_ip_list, [interface, address, gateway,
// netmask, network].
struct RoutedAddress {
  std::string iface, address, gateway, netmask, network;
  friend bool operator==(const RoutedAddress&, const RoutedAddress&) = default;
};

struct PartitionSpec {
  std::string ref;                // e.g. "slappart3": unique within the computer
  std::vector<std::string> ipv4;  // addresses, as text
  std::vector<std::string> ipv6;
  std::string tap;                // tap interface name, may be empty
  std::vector<RoutedAddress> routed;  // declared with a gateway and a netmask (not in ipv4/ipv6)
  friend bool operator==(const PartitionSpec&, const PartitionSpec&) = default;
};

inline constexpr uint32_t kNone = UINT32_MAX;

}  // namespace slap::market
