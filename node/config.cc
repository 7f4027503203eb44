#include "node/config.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <stdexcept>
#include <tuple>
#include <map>

#include "node/ini.h"
#include "node/net.h"
#include "node/sys.h"

namespace slap::node {

bool NodeConfig::privileged() const {
  if (privilege == Privilege::kYes) return true;
  if (privilege == Privilege::kNo) return false;
  return running_as_root();
}

std::string NodeConfig::partition_path(int n) const { return instance_root + "/slappart" + std::to_string(n); }
std::string NodeConfig::state_root() const { return instance_root + "/.slapnode-state"; }
std::string NodeConfig::partition_state_path(int n) const { return state_root() + "/slappart" + std::to_string(n); }

namespace {
Status set_int(int& out, const std::string& v, const std::string& key, int lo, int hi) {
  try {
    size_t used = 0;
    long n = std::stol(v, &used);
    if (used != v.size() || n < lo || n > hi) throw std::out_of_range(key);
    out = static_cast<int>(n);
    return {};
  } catch (const std::exception&) {
    return make_error(Errc::kInvalid, key + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
}
}  // namespace

Status apply_config_text(NodeConfig& cfg, const std::string& text, const std::string& origin) {
  auto ini = parse_ini(text, origin, IniOptions{true});
  if (!ini) return ini.error();
  std::vector<IniEntry> entries = ini->global;
  for (const auto& s : ini->sections) {
    if (s.name != "slapnode") return make_error(Errc::kInvalid, origin + ": unknown section [" + s.name + "]");
    entries.insert(entries.end(), s.entries.begin(), s.entries.end());
  }
  std::map<std::string, std::string*> strings{
      {"master_url", &cfg.master_url},       {"computer_guid", &cfg.computer_guid}, {"cert", &cfg.cert},
      {"key", &cfg.key},                     {"ca", &cfg.ca},                       {"instance_root", &cfg.instance_root},
      {"software_root", &cfg.software_root}, {"run_dir", &cfg.run_dir},             {"ipv4_range", &cfg.ipv4_range},
      {"interface", &cfg.interface_name},    {"software_user", &cfg.software_user}};
  std::map<std::string, std::tuple<int*, int, int>> ints{
      {"partition_count", {&cfg.partition_count, 0, 10000}},
      {"software_interval", {&cfg.software_interval_s, 1, 86400}},
      {"instance_interval", {&cfg.instance_interval_s, 1, 86400}},
      {"report_interval", {&cfg.report_interval_s, 1, 7 * 86400}},
      {"format_interval", {&cfg.format_interval_s, 1, 30 * 86400}},
      {"http_timeout", {&cfg.http_timeout_s, 1, 600}},
      {"retries", {&cfg.retries, 1, 20}},
      {"build_timeout", {&cfg.build_timeout_s, 1, 86400}}};
  for (const auto& e : entries) {
    if (auto s = strings.find(e.key); s != strings.end()) {
      *s->second = e.value;
    } else if (auto i = ints.find(e.key); i != ints.end()) {
      auto [ptr, lo, hi] = i->second;
      if (auto st = set_int(*ptr, e.value, e.key, lo, hi); !st) return st;
    } else if (e.key == "tap" || e.key == "ipv6") {
      bool& flag = e.key == "tap" ? cfg.tap : cfg.ipv6;
      if (e.value == "yes" || e.value == "true") flag = true;
      else if (e.value == "no" || e.value == "false") flag = false;
      else return make_error(Errc::kInvalid, e.key + " must be yes or no");
    } else if (e.key == "privileged") {
      if (e.value == "auto") cfg.privilege = Privilege::kAuto;
      else if (e.value == "yes" || e.value == "true") cfg.privilege = Privilege::kYes;
      else if (e.value == "no" || e.value == "false") cfg.privilege = Privilege::kNo;
      else return make_error(Errc::kInvalid, "privileged must be auto, yes or no");
    } else {
      return make_error(Errc::kInvalid, origin + ":" + std::to_string(e.line) + ": unknown key '" + e.key + "'");
    }
  }
  return {};
}

Status load_config_file(NodeConfig& cfg, const std::string& path) {
  auto text = read_file(path, kMaxIniBytes);
  if (!text) return text.error();
  return apply_config_text(cfg, *text, path);
}

Status validate_config(const NodeConfig& cfg, bool needs_master) {
  for (const auto* p : {&cfg.instance_root, &cfg.software_root, &cfg.run_dir}) {
    if (p->empty() || (*p)[0] != '/') return make_error(Errc::kInvalid, "paths must be absolute: '" + *p + "'");
  }
  auto range = parse_ipv4_range(cfg.ipv4_range);
  if (!range) return range.error();
  if (static_cast<uint64_t>(cfg.partition_count) + 2 > range->size()) {
    return make_error(Errc::kInvalid, cfg.ipv4_range + " is too small for " + std::to_string(cfg.partition_count) + " partitions");
  }
  // The software and instance trees are wiped and rebuilt by different passes: neither may hold
  // the other (a release removed would take partitions with it, a partition emptied releases).
  auto holds = [](const std::string& outer, const std::string& inner) {
    const std::string o = outer.ends_with('/') ? outer : outer + "/";
    return inner == outer || (inner + "/").rfind(o, 0) == 0;
  };
  if (holds(cfg.software_root, cfg.instance_root) || holds(cfg.instance_root, cfg.software_root)) {
    return make_error(Errc::kInvalid, "software_root and instance_root may not be the same directory or hold one another");
  }
  // Each of the three holds one of slapnode's locks: one directory twice would lock against itself.
  auto same = [](std::string a, std::string b) {
    while (a.size() > 1 && a.ends_with('/')) a.pop_back();
    while (b.size() > 1 && b.ends_with('/')) b.pop_back();
    return a == b;
  };
  if (same(cfg.run_dir, cfg.software_root) || same(cfg.run_dir, cfg.instance_root)) {
    return make_error(Errc::kInvalid, "run_dir must be a directory of its own, not software_root or instance_root");
  }
  // Builds run as software_user (when privileged) to keep root's power out of them: not root, and
  // not a partition's user (who would then own every release). A name as useradd takes it.
  const std::string& u = cfg.software_user;
  auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; };
  const std::string_view body = u.ends_with('$') ? std::string_view(u).substr(0, u.size() - 1) : std::string_view(u);
  const bool name_ok = !body.empty() && u.size() <= 32 && (std::isalpha(static_cast<unsigned char>(body[0])) || body[0] == '_') &&
                       std::all_of(body.begin(), body.end(), name_char);
  const bool partition_user = u.rfind("slapuser", 0) == 0 && u.size() > 8 &&
                              std::all_of(u.begin() + 8, u.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  if (cfg.privileged() && (!name_ok || u == "root" || partition_user)) {
    return make_error(Errc::kInvalid, "software_user '" + u + "' must be a plain user name, neither root nor a partition's slapuserN");
  }
  if (needs_master) {
    if (cfg.master_url.empty()) return make_error(Errc::kInvalid, "master_url is required");
    // The master's certificate comes from its own CA: the system's trust store can never vouch for
    // it, only for someone else (a TLS-inspecting proxy, a public certificate for its name).
    if (cfg.master_url.rfind("https://", 0) != 0) return make_error(Errc::kInvalid, "master_url must be https:// (the master speaks mutual TLS only)");
    if (cfg.ca.empty()) return make_error(Errc::kInvalid, "ca (the master's CA certificate) is required: the system's trust store never vouches for the master");
    if (cfg.computer_guid.empty()) return make_error(Errc::kInvalid, "computer_guid is required");
  }
  return {};
}

}  // namespace slap::node
