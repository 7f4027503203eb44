#include "node/format.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "node/net.h"

namespace slap::node {

std::vector<PartitionLayout> partition_layout(const NodeConfig& cfg) {
  std::vector<PartitionLayout> out;
  auto range = parse_ipv4_range(cfg.ipv4_range);
  bool priv = cfg.privileged();
  for (int i = 0; i < cfg.partition_count; ++i) {
    PartitionLayout p;
    p.index = i;
    p.id = "slappart" + std::to_string(i);
    p.path = cfg.partition_path(i);
    p.ipv4 = range ? range->address(static_cast<uint32_t>(i + 1)) : "";
    if (priv) {
      p.user = "slapuser" + std::to_string(i);
      p.identity = lookup_user(p.user);
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

Status ensure_address(const std::string& iface, const std::string& ip, int prefix, bool& added) {
  // 127.0.0.0/8 is routed to lo already: nothing to add there.
  if (ip.rfind("127.", 0) == 0 && iface == "lo") return {};
  auto show = run_command(Command{.argv = {"ip", "-4", "-o", "addr", "show", "dev", iface}, .capture = true,
                                  .timeout = std::chrono::seconds(10)});
  if (!show) return show.error();
  if (show->output.find(" " + ip + "/") != std::string::npos) return {};
  auto add = run_command(Command{.argv = {"ip", "addr", "add", ip + "/" + std::to_string(prefix), "dev", iface},
                                 .capture = true,
                                 .timeout = std::chrono::seconds(10)});
  if (!add) return add.error();
  if (add->exit_code != 0) return make_error(Errc::kIo, "ip addr add " + ip + ": " + add->output);
  added = true;
  return {};
}

}  // namespace

Result<FormatReport> format_partitions(const NodeConfig& cfg) {
  if (auto st = validate_config(cfg, false); !st) return st.error();
  FormatReport rep;
  bool created = false;
  for (const auto* dir : {&cfg.instance_root, &cfg.software_root, &cfg.run_dir}) {
    created = false;
    if (auto st = ensure_dir(*dir, 0755, created); !st) return st.error();
  }
  auto range = parse_ipv4_range(cfg.ipv4_range);
  bool priv = cfg.privileged();
  for (auto& p : partition_layout(cfg)) {
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
    bool added = false;
    if (auto s = ensure_address(cfg.interface_name, p.ipv4, range->prefix, added); !s) return s.error();
    rep.added_addresses += added ? 1 : 0;
  }
  spdlog::info("format: {} partitions, created {} directories, {} users, {} addresses", cfg.partition_count,
               rep.created_dirs, rep.created_users, rep.added_addresses);
  return rep;
}

std::vector<PartitionDeclaration> format_declaration(const NodeConfig& cfg) {
  std::vector<PartitionDeclaration> out;
  auto range = parse_ipv4_range(cfg.ipv4_range);
  for (const auto& p : partition_layout(cfg)) {
    PartitionDeclaration d;
    d.partition_id = p.id;
    PartitionDeclaration::Ip ip;
    ip.address = p.ipv4;
    ip.interface_name = cfg.interface_name;
    if (range) {
      ip.netmask = range->netmask();
      ip.network = range->network();
    }
    d.ips.push_back(ip);
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace slap::node
