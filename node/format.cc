#include "node/format.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>

#include "node/netlink.h"
#include "node/sys.h"
#include "node/tap.h"

namespace slap::node {

namespace fs = std::filesystem;

std::optional<Ipv6Prefix> host_ipv6_prefix(const std::string& iface) {
  auto link = get_link(iface);
  if (!link || !*link) return std::nullopt;
  auto addrs = list_addresses((*link)->index);
  if (!addrs) return std::nullopt;
  std::optional<Ipv6Prefix> best;
  for (const auto& a : *addrs) {
    if (a.family != AF_INET6 || !a.global || !a.usable_prefix || a.prefix > Ipv6Prefix::kLongestPrefix) continue;
    auto p = parse_ipv6_prefix(a.address + "/" + std::to_string(a.prefix));
    if (!p) continue;
    if (!best || std::memcmp(p->network, best->network, 16) < 0 ||
        (std::memcmp(p->network, best->network, 16) == 0 && p->prefix < best->prefix)) {
      best = *p;
    }
  }
  return best;
}

std::vector<PartitionLayout> partition_layout(const NodeConfig& cfg) {
  std::vector<PartitionLayout> out;
  auto range = parse_ipv4_range(cfg.ipv4_range);
  bool priv = cfg.privileged();
  std::optional<Ipv6Prefix> v6;
  if (priv && cfg.ipv6) v6 = host_ipv6_prefix(cfg.interface_name);
  out.reserve(static_cast<size_t>(cfg.partition_count));
  for (int i = 0; i < cfg.partition_count; ++i) {
    PartitionLayout p;
    p.index = i;
    p.id = "slappart" + std::to_string(i);
    p.path = cfg.partition_path(i);
    p.state_dir = cfg.partition_state_path(i);
    p.ipv4 = range ? range->address(static_cast<uint32_t>(i + 1)) : "";
    if (v6) {
      p.ipv6 = v6->partition_address(i);
      p.ipv6_prefix = v6->prefix;
    }
    if (priv) {
      p.user = "slapuser" + std::to_string(i);
      p.identity = lookup_user(p.user);
      if (cfg.tap) p.tap = "slaptap" + std::to_string(i);
    }
    out.push_back(std::move(p));
  }
  return out;
}

namespace {

Status ensure_dir(const std::string& path, mode_t mode, bool& created) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return make_error(Errc::kIo, path + " exists and is not a directory");
    return {};
  }
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return make_error(Errc::kIo, "mkdir " + path + ": " + std::strerror(errno));
  }
  ::chmod(path.c_str(), mode);
  created = true;
  return {};
}

Status ensure_user(const std::string& user, const std::string& home, bool& created) {
  if (lookup_user(user)) return {};
  auto r = run_command(Command{.argv = {"useradd", "--system", "--user-group", "--no-create-home", "--home-dir", home,
                                        "--shell", "/usr/sbin/nologin", user},
                               .capture = true,
                               .timeout = std::chrono::seconds(30)});
  if (!r) return r.error();
  if (r->exit_code != 0) return make_error(Errc::kIo, "useradd " + user + ": " + r->output);
  created = true;
  return {};
}

// The partitions' addresses on the configured interface: listed once, the missing ones added.
// slapnode records what it added (<state root>/addresses.json, with the boot's id: addresses do
// not survive a reboot, so a record of another boot vouches for nothing). An address of the plan
// the host has already and that slapnode did not add this boot is the host's own (or another
// service's): a partition must never be given it, so the format is refused, naming it, before any
// partition is made. One on another interface than the configured one is refused whatever the
// record says.
class InterfaceAddresses {
 public:
  explicit InterfaceAddresses(std::string record) : record_(std::move(record)) {}
  Status load(const std::string& iface) {
    auto link = get_link(iface);
    if (!link) return link.error();
    if (!*link) return make_error(Errc::kNotFound, "interface '" + iface + "' does not exist");
    index_ = (*link)->index;
    iface_ = iface;
    auto addrs = list_addresses(index_);
    if (!addrs) return addrs.error();
    for (const auto& a : *addrs) have_.insert(canonical(a.address));
    auto boot = read_file("/proc/sys/kernel/random/boot_id", 256);
    boot_ = boot ? *boot : std::string();
    return load_record();
  }
  // Checks the whole plan against the host's addresses, then records what it will add (one
  // write). `adoptable(partition)`: an older slapnode formatted that partition and left no record
  // at all: its addresses found on the configured interface are taken as slapnode's.
  Status check_plan(const std::vector<PartitionLayout>& layouts, const std::function<bool(const PartitionLayout&)>& adoptable) {
    auto host = list_addresses(0);
    if (!host) return host.error();
    std::set<std::string> adopted, to_add;
    for (const auto& p : layouts) {
      for (const std::string* ip : {&p.ipv4, &p.ipv6}) {
        if (skipped(*ip)) continue;
        const std::string c = canonical(*ip);
        const InterfaceAddress* present = nullptr;
        for (const auto& a : *host) {
          if (canonical(a.address) == c) present = &a;
        }
        if (present == nullptr) {
          to_add.insert(c);
          continue;
        }
        if (present->ifindex == index_ && ours_.count(c)) continue;
        if (present->ifindex == index_ && !has_record_ && adoptable(p)) {
          adopted.insert(c);
          continue;
        }
        char name[IF_NAMESIZE] = {};
        const char* where = ::if_indextoname(static_cast<unsigned>(present->ifindex), name) != nullptr ? name : "another interface";
        const bool v6 = ip->find(':') != std::string::npos;
        return make_error(Errc::kInvalid, *ip + " (" + p.id + ") is already an address of this host, on " + where +
                                              ": a partition would share it; " + (v6 ? "the interface's IPv6 prefix gives it (set ipv6 = no)" : "choose another ipv4_range") +
                                              " (no partition was formatted; an address slapnode added before a reboot of its instance root must be deleted by hand)");
      }
    }
    for (const auto& c : adopted) spdlog::warn("format: {} found on {} with no record of it: taken as added by an earlier slapnode", c, iface_);
    if (adopted.empty() && to_add.empty() && has_record_) return {};
    ours_.insert(adopted.begin(), adopted.end());
    // Recorded before they are added: a crash between leaves a record of an address not there
    // (added next time, as ours), never an address of ours taken for the host's own.
    ours_.insert(to_add.begin(), to_add.end());
    return save_record();
  }
  // Adds ip/prefix unless the interface has it; counts what it added.
  Status ensure(const std::string& ip, int prefix, int& added) {
    if (skipped(ip)) return {};
    if (have_.count(canonical(ip))) return {};
    auto r = add_address(index_, ip, prefix);
    if (!r) {
      // Not ours after all: whoever takes it later must not be taken for slapnode.
      ours_.erase(canonical(ip));
      (void)save_record();
      return make_error(r.error().code, r.error().detail + " on " + iface_);
    }
    added += *r ? 1 : 0;
    have_.insert(canonical(ip));
    return {};
  }

 private:
  // One text per address whatever its spelling (2001:DB8::1 and 2001:db8:0::1 are the same).
  static std::string canonical(const std::string& ip) {
    const bool v6 = ip.find(':') != std::string::npos;
    unsigned char b[16];
    char text[INET6_ADDRSTRLEN] = {};
    if (inet_pton(v6 ? AF_INET6 : AF_INET, ip.c_str(), b) != 1) return ip;
    inet_ntop(v6 ? AF_INET6 : AF_INET, b, text, sizeof text);
    return text;
  }
  // 127.0.0.0/8 is routed to lo already: nothing to add there, nothing to check.
  bool skipped(const std::string& ip) const { return ip.empty() || (ip.rfind("127.", 0) == 0 && iface_ == "lo"); }
  Status load_record() {
    std::error_code ec;
    if (!fs::exists(record_, ec)) return {};
    has_record_ = true;
    auto text = read_file(record_, 16 << 20);
    if (!text) return text.error();
    boost::system::error_code jec;
    auto v = boost::json::parse(*text, jec);
    const auto* boot = !jec && v.is_object() ? v.as_object().if_contains("boot_id") : nullptr;
    const auto* list = !jec && v.is_object() ? v.as_object().if_contains("added") : nullptr;
    if (boot == nullptr || list == nullptr || !boot->is_string() || !list->is_array()) {
      return make_error(Errc::kInvalid, record_ + ": not a record of the addresses slapnode added (remove it to start again)");
    }
    if (boot->as_string() != boot_) return {};  // another boot's: those addresses are gone
    for (const auto& a : list->as_array()) {
      if (a.is_string()) ours_.insert(canonical(std::string(a.as_string())));
    }
    return {};
  }
  Status save_record() {
    boost::json::array list;
    for (const auto& a : ours_) list.emplace_back(a);
    has_record_ = true;
    return write_file_atomic(record_, boost::json::serialize(boost::json::object{{"boot_id", boot_}, {"added", std::move(list)}}) + "\n", 0600);
  }
  int index_ = 0;
  std::string iface_;
  std::set<std::string> have_;
  std::string record_, boot_;
  bool has_record_ = false;
  std::set<std::string> ours_;  // what slapnode added, this boot
};

}  // namespace

Result<FormatReport> format_partitions(const NodeConfig& cfg) {
  if (auto st = validate_config(cfg, false); !st) return st.error();
  FormatReport rep;
  bool created = false;
  for (const auto* dir : {&cfg.instance_root, &cfg.software_root, &cfg.run_dir}) {
    created = false;
    if (auto st = ensure_dir(*dir, 0755, created); !st) return st.error();
  }
  // The node's own records (config.h): root's (slapnode's) alone, whatever the partitions' users do.
  if (auto st = ensure_private_dir(cfg.state_root()); !st) return st.error();
  auto range = parse_ipv4_range(cfg.ipv4_range);
  bool priv = cfg.privileged();
  if (!priv && cfg.tap) spdlog::warn("format: tap = yes needs root (CAP_NET_ADMIN); no tap interface is created");
  InterfaceAddresses addresses(cfg.state_root() + "/addresses.json");
  const auto layouts = partition_layout(cfg);
  if (priv) {
    if (auto st = addresses.load(cfg.interface_name); !st) return st.error();
    // The whole plan is checked against the host's addresses before any partition is made.
    auto formatted_before = [](const PartitionLayout& l) {
      std::error_code ec;
      return fs::is_directory(l.path, ec);
    };
    if (auto s = addresses.check_plan(layouts, formatted_before); !s) return s.error();
  }
  if (priv && cfg.ipv6 && !layouts.empty() && layouts.front().ipv6.empty()) {
    spdlog::info("format: {} has no global IPv6 prefix (/{} or shorter): partitions get IPv4 only", cfg.interface_name,
                 Ipv6Prefix::kLongestPrefix);
  }
  for (const auto& p : layouts) {
    created = false;
    if (auto st = ensure_dir(p.path, 0750, created); !st) return st.error();
    rep.created_dirs += created ? 1 : 0;
    if (!priv) continue;
    created = false;
    if (auto st = ensure_user(p.user, p.path, created); !st) return st.error();
    rep.created_users += created ? 1 : 0;
    auto id = lookup_user(p.user);
    if (!id) return make_error(Errc::kIo, "user " + p.user + " missing after useradd");
    struct stat st;
    if (::stat(p.path.c_str(), &st) == 0) {
      if (st.st_uid != id->uid || st.st_gid != id->gid) {
        if (::chown(p.path.c_str(), id->uid, id->gid) != 0) return make_error(Errc::kIo, "chown " + p.path);
      }
      if ((st.st_mode & 07777) != 0750) ::chmod(p.path.c_str(), 0750);
    }
    if (!p.tap.empty()) {
      auto t = ensure_tap(p.tap, *id);
      if (!t) return t.error();
      rep.created_taps += *t ? 1 : 0;
    }
    if (auto s = addresses.ensure(p.ipv4, range->prefix, rep.added_addresses); !s) return s.error();
    if (!p.ipv6.empty()) {
      if (auto s = addresses.ensure(p.ipv6, p.ipv6_prefix, rep.added_addresses); !s) return s.error();
    }
  }
  spdlog::info("format: {} partitions, created {} directories, {} users, {} taps, {} addresses", cfg.partition_count,
               rep.created_dirs, rep.created_users, rep.created_taps, rep.added_addresses);
  return rep;
}

std::vector<PartitionDeclaration> format_declaration(const NodeConfig& cfg) {
  std::vector<PartitionDeclaration> out;
  auto range = parse_ipv4_range(cfg.ipv4_range);
  for (const auto& p : partition_layout(cfg)) {
    PartitionDeclaration d;
    d.partition_id = p.id;
    const std::string iface = p.tap.empty() ? cfg.interface_name : p.tap;
    PartitionDeclaration::Ip ip;
    ip.address = p.ipv4;
    ip.interface_name = iface;
    if (range) {
      ip.netmask = range->netmask();
      ip.network = range->network();
    }
    d.ips.push_back(ip);
    if (!p.ipv6.empty()) {
      auto prefix = parse_ipv6_prefix(p.ipv6 + "/" + std::to_string(p.ipv6_prefix));
      PartitionDeclaration::Ip v6;
      v6.address = p.ipv6;
      v6.interface_name = iface;
      if (prefix) {
        v6.netmask = prefix->netmask();
        v6.network = prefix->address(0);
      }
      d.ips.push_back(v6);
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace slap::node
