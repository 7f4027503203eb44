#include "node/net_usage.h"

#include <boost/json.hpp>

#include "node/netlink.h"
#include "node/sys.h"

namespace slap::node {
namespace json = boost::json;

namespace {

std::string net_path(const std::string& state_dir) { return state_dir + "/" + kNetBaselineFile; }

// The baseline stored for `guid`, if any.
std::optional<uint64_t> stored(const std::string& state_dir, const std::string& guid) {
  auto text = read_file(net_path(state_dir), 4096);
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  auto* g = o.if_contains("instance_guid");
  auto* b = o.if_contains("bytes");
  if (g == nullptr || b == nullptr || !g->is_string() || g->as_string() != guid) return std::nullopt;
  if (b->is_uint64()) return b->as_uint64();
  if (b->is_int64() && b->as_int64() >= 0) return static_cast<uint64_t>(b->as_int64());
  return std::nullopt;
}

void store(const std::string& state_dir, const std::string& guid, uint64_t bytes) {
  (void)write_state_file(state_dir, kNetBaselineFile, net_baseline_text(guid, bytes));
}

}  // namespace

std::string net_baseline_text(const std::string& instance_guid, uint64_t bytes_now) {
  return json::serialize(json::object{{"instance_guid", instance_guid}, {"bytes", bytes_now}}) + "\n";
}

std::optional<uint64_t> tap_bytes(const std::string& tap) {
  if (tap.empty()) return std::nullopt;
  auto link = get_link(tap);
  if (!link || !*link) return std::nullopt;
  return (*link)->rx_bytes + (*link)->tx_bytes;
}

void net_baseline(const std::string& state_dir, const std::string& instance_guid, uint64_t bytes) {
  if (!stored(state_dir, instance_guid)) store(state_dir, instance_guid, bytes);
}

uint64_t net_since_last(const std::string& state_dir, const std::string& instance_guid, uint64_t bytes_now,
                        bool persist) {
  auto before = stored(state_dir, instance_guid);
  uint64_t delta = !before ? 0 : (bytes_now >= *before ? bytes_now - *before : bytes_now);
  if (persist) store(state_dir, instance_guid, bytes_now);
  return delta;
}

}  // namespace slap::node
