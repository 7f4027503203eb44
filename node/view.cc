#include "node/view.h"

#include <algorithm>
#include <boost/json.hpp>

#include "node/profile.h"

namespace slap::node {
namespace json = boost::json;

const char* instance_state_name(InstanceState s) {
  switch (s) {
    case InstanceState::kFree: return "free";
    case InstanceState::kStarted: return "started";
    case InstanceState::kStopped: return "stopped";
    case InstanceState::kDestroyed: return "destroyed";
  }
  return "free";
}

bool valid_guid(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

bool valid_partition_id(std::string_view s, int partition_count) {
  constexpr std::string_view kPrefix = "slappart";
  if (s.size() <= kPrefix.size() || s.size() > kPrefix.size() + 6 || s.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view num = s.substr(kPrefix.size());
  if (num.size() > 1 && num[0] == '0') return false;
  int n = 0;
  for (char c : num) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  return n < partition_count;
}

bool valid_parameter_key(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f && c != '/' && c != '}' && c != '{'; });
}

namespace {

bool valid_text(std::string_view s, size_t max) {
  if (s.size() > max) return false;
  // Control characters other than tab and newline are refused everywhere.
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x20 || c == '\t' || c == '\n'; });
}

struct Checker {
  const ViewLimits& limits;
  std::string error;

  bool fail(std::string e) {
    if (error.empty()) error = std::move(e);
    return false;
  }

  bool string_field(const json::object& o, const char* key, std::string& out, bool required, size_t max = 4096) {
    auto* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) return required ? fail(std::string("missing ") + key) : true;
    if (!v->is_string()) return fail(std::string(key) + " is not a string");
    std::string_view s = v->as_string();
    if (!valid_text(s, max)) return fail(std::string(key) + " has control characters or is too long");
    out.assign(s.begin(), s.end());
    return true;
  }

  bool dict(const json::object& o, const char* key, std::map<std::string, std::string>& out) {
    auto* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) return true;
    if (!v->is_object()) return fail(std::string(key) + " is not an object");
    if (v->as_object().size() > limits.max_parameters) return fail(std::string(key) + " has too many entries");
    for (const auto& [k, val] : v->as_object()) {
      if (!valid_parameter_key(k)) return fail(std::string(key) + " has a bad key");
      std::string s;
      if (val.is_string()) s.assign(val.as_string().begin(), val.as_string().end());
      else s = json::serialize(val);  // numbers, booleans, nested values: their JSON text
      if (!valid_text(s, limits.max_value_bytes)) return fail(std::string(key) + "." + std::string(k) + " is refused");
      out[std::string(k)] = std::move(s);
    }
    return true;
  }
};

bool parse_partition(const json::value& v, const ViewLimits& limits, PartitionView& p, std::string& why) {
  Checker c{limits, {}};
  if (!v.is_object()) {
    why = "partition is not an object";
    return false;
  }
  const auto& o = v.as_object();
  bool ok = c.string_field(o, "partition_id", p.partition_id, true, 32);
  if (ok && !valid_partition_id(p.partition_id, limits.partition_count)) {
    ok = c.fail("partition_id '" + p.partition_id + "' is not one of ours");
  }
  std::string state;
  ok = ok && c.string_field(o, "state", state, false, 32);
  if (ok) {
    if (state.empty() || state == "free") p.state = InstanceState::kFree;
    else if (state == "started") p.state = InstanceState::kStarted;
    else if (state == "stopped") p.state = InstanceState::kStopped;
    else if (state == "destroyed") p.state = InstanceState::kDestroyed;
    else ok = c.fail("unknown state '" + state + "'");
  }
  if (ok && o.contains("ip_list")) {
    const auto& ips = o.at("ip_list");
    if (!ips.is_array() || ips.as_array().size() > 64) ok = c.fail("ip_list is not a short array");
    for (const auto& pair : ok ? ips.as_array() : json::array{}) {
      if (!pair.is_array() || pair.as_array().size() != 2 || !pair.as_array()[0].is_string() ||
          !pair.as_array()[1].is_string()) {
        ok = c.fail("ip_list entry is not [interface, address]");
        break;
      }
      std::string iface(pair.as_array()[0].as_string());
      std::string addr(pair.as_array()[1].as_string());
      bool addr_ok = !addr.empty() && addr.size() <= 64 &&
                     std::all_of(addr.begin(), addr.end(), [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) || ch == '.' || ch == ':'; });
      if (!addr_ok || !valid_guid(iface)) {
        ok = c.fail("ip_list entry refused");
        break;
      }
      p.ip_list.emplace_back(iface, addr);
    }
  }
  if (ok && p.state != InstanceState::kFree) {
    ok = c.string_field(o, "instance_guid", p.instance_guid, true, 128) &&
         c.string_field(o, "title", p.title, false, 1024) &&
         c.string_field(o, "root_instance_title", p.root_instance_title, false, 1024) &&
         c.string_field(o, "software_release_uri", p.software_release_uri, true, 4096) &&
         c.string_field(o, "software_type", p.software_type, false, 128) &&
         c.string_field(o, "timestamp", p.timestamp, false, 64) && c.dict(o, "parameters", p.parameters) &&
         c.dict(o, "sla_parameters", p.sla_parameters) && c.dict(o, "connection_parameters", p.connection_parameters);
    if (ok && !valid_guid(p.instance_guid)) ok = c.fail("instance_guid '" + p.instance_guid + "' refused");
    if (ok && !url_scheme_allowed(p.software_release_uri)) ok = c.fail("software_release_uri refused");
    if (ok && !std::all_of(p.timestamp.begin(), p.timestamp.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      ok = c.fail("timestamp is not digits");
    }
    if (ok && !p.software_type.empty() && !valid_guid(p.software_type)) ok = c.fail("software_type refused");
    if (p.software_type.empty()) p.software_type = "default";
    if (ok && o.contains("shared_instances")) {
      const auto& sh = o.at("shared_instances");
      if (!sh.is_array() || sh.as_array().size() > limits.max_shared) ok = c.fail("shared_instances refused");
      for (const auto& s : ok ? sh.as_array() : json::array{}) {
        SharedInstance si;
        if (!s.is_object()) {
          ok = c.fail("shared instance is not an object");
          break;
        }
        const auto& so = s.as_object();
        ok = c.string_field(so, "instance_guid", si.instance_guid, true, 128) &&
             c.string_field(so, "title", si.title, false, 1024) && c.string_field(so, "state", si.state, false, 32) &&
             c.dict(so, "parameters", si.parameters) && c.dict(so, "connection_parameters", si.connection_parameters);
        if (ok && !valid_guid(si.instance_guid)) ok = c.fail("shared instance guid refused");
        if (!ok) break;
        p.shared_instances.push_back(std::move(si));
      }
    }
  }
  if (!ok) why = c.error;
  return ok;
}

}  // namespace

Result<ComputerView> parse_view(std::string_view text, const std::string& expected_guid, const ViewLimits& limits,
                                std::vector<std::string>* refusals) {
  boost::system::error_code ec;
  json::parse_options po;
  po.max_depth = 16;
  json::value root = json::parse(text, ec, {}, po);
  if (ec) return make_error(Errc::kInvalid, "computer view is not JSON: " + ec.message());
  if (!root.is_object()) return make_error(Errc::kInvalid, "computer view is not an object");
  const auto& o = root.as_object();
  ComputerView view;
  Checker c{limits, {}};
  if (!c.string_field(o, "computer_guid", view.computer_guid, true, 128)) return make_error(Errc::kInvalid, c.error);
  if (view.computer_guid != expected_guid) {
    return make_error(Errc::kInvalid, "view names computer '" + view.computer_guid + "', not ours");
  }
  if (auto* v = o.if_contains("version"); v != nullptr) {
    if (v->is_uint64()) view.version = v->as_uint64();
    else if (v->is_int64() && v->as_int64() >= 0) view.version = static_cast<uint64_t>(v->as_int64());
    else return make_error(Errc::kInvalid, "version is not a non-negative integer");
  }
  auto note = [&](std::string s) {
    if (refusals != nullptr) refusals->push_back(std::move(s));
  };
  if (auto* sw = o.if_contains("software"); sw != nullptr) {
    if (!sw->is_array()) return make_error(Errc::kInvalid, "software is not an array");
    for (const auto& e : sw->as_array()) {
      Checker ce{limits, {}};
      SoftwareEntry s;
      std::string state;
      if (!e.is_object() || !ce.string_field(e.as_object(), "url", s.url, true) ||
          !ce.string_field(e.as_object(), "state", state, false, 32)) {
        note("software entry refused: " + (ce.error.empty() ? "not an object" : ce.error));
        continue;
      }
      if (!url_scheme_allowed(s.url)) {
        note("software URL refused: " + s.url.substr(0, 200));
        continue;
      }
      if (state.empty() || state == "available") s.state = SoftwareState::kAvailable;
      else if (state == "destroyed") s.state = SoftwareState::kDestroyed;
      else {
        note("software state refused: " + state);
        continue;
      }
      view.software.push_back(std::move(s));
    }
  }
  if (auto* parts = o.if_contains("partitions"); parts != nullptr) {
    if (!parts->is_array()) return make_error(Errc::kInvalid, "partitions is not an array");
    for (const auto& e : parts->as_array()) {
      PartitionView p;
      std::string why;
      if (!parse_partition(e, limits, p, why)) {
        note("partition " + p.partition_id + " refused: " + why);
        if (valid_partition_id(p.partition_id, limits.partition_count)) view.refused_partitions.insert(p.partition_id);
        else if (p.partition_id.empty()) view.unnamed_refusal = true;  // a foreign id names none of ours
        continue;
      }
      auto dup = std::find_if(view.partitions.begin(), view.partitions.end(),
                              [&](const PartitionView& q) { return q.partition_id == p.partition_id; });
      if (dup != view.partitions.end() || view.refused_partitions.count(p.partition_id)) {
        note("partition " + p.partition_id + " listed twice; both refused");
        if (dup != view.partitions.end()) view.partitions.erase(dup);
        view.refused_partitions.insert(p.partition_id);
        continue;
      }
      view.partitions.push_back(std::move(p));
    }
  }
  return view;
}

}  // namespace slap::node
