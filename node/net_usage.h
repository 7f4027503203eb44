#pragma once
// Network bytes per partition, where measurable: the bytes through the partition's tap
// (received + sent, the kernel's 64-bit counters read over netlink, so they are the node's network
// namespace's). Processes that use the partition's addresses on the shared interface are not
// counted apart from the host's own traffic; without a tap (`tap = no`, or not root) nothing is
// measured and no network movement is reported.
//
// Counters are cumulative since the tap was created, so the node keeps a baseline per instance in
// <state_dir>/net.json, state_dir being the partition's state directory (layout.state_dir:
// slapnode's, out of the partition user's reach, so an instance cannot reset its own baseline):
// set when an instance is first processed in the partition (a reused partition does not bill the
// next instance for the previous one's traffic), advanced by each successful report.
#include <cstdint>
#include <optional>
#include <string>

namespace slap::node {

// rx_bytes + tx_bytes of `tap`, or nullopt when it does not exist (or netlink fails).
std::optional<uint64_t> tap_bytes(const std::string& tap);

// Records `bytes` as the baseline for `instance_guid` unless net.json already has one for it.
void net_baseline(const std::string& state_dir, const std::string& instance_guid, uint64_t bytes);

// Bytes since the baseline (all of `bytes_now` when the counter went backwards: the tap was
// re-created). No baseline for this instance: 0, and `bytes_now` becomes the baseline when
// persisting. persist: store `bytes_now` as the new baseline (after the report was accepted).
uint64_t net_since_last(const std::string& state_dir, const std::string& instance_guid, uint64_t bytes_now,
                        bool persist);
// What net.json (kNetBaselineFile) holds once `bytes_now` is the reported baseline of the instance.
inline constexpr const char* kNetBaselineFile = "net.json";
std::string net_baseline_text(const std::string& instance_guid, uint64_t bytes_now);

}  // namespace slap::node
