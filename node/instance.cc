#include "node/instance.h"

#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string_view>
#include <thread>

#include "node/beneath.h"
#include "node/net_usage.h"
#include "node/usage.h"
#include "node/slap_client.h"
#include "node/software.h"
#include "node/sys.h"

namespace slap::node {

// How long a promise may fail right after its instance was (re)started before it counts as failed.
constexpr std::chrono::seconds kPromiseGrace{10};

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

bool valid_rel_path(const std::string& rel) {
  if (rel.empty() || rel.size() > 1024 || rel[0] == '/') return false;
  for (const auto& part : fs::path(rel)) {
    if (part == ".." || part == ".") return false;
  }
  return rel.find_first_of("\n\r") == std::string::npos;
}

std::string current_user_name() {
  struct passwd pw;
  struct passwd* res = nullptr;
  char buf[4096];
  if (getpwuid_r(::geteuid(), &pw, buf, sizeof buf, &res) == 0 && res != nullptr) return pw.pw_name;
  return std::to_string(::geteuid());
}

}  // namespace

Status write_inside(const std::string& root, const std::string& rel, const std::string& content, mode_t mode,
                    const std::optional<Identity>& owner) {
  if (!valid_rel_path(rel)) return make_error(Errc::kInvalid, "refused path '" + rel + "'");
  // The partition belongs to its user, who may swap any directory in it for a symlink at any
  // moment: a path checked first and opened after would let that swap land root's write (and its
  // chown) anywhere, /etc included. So the directory is reached by descriptor (beneath.h).
  const fs::path relp(rel);
  auto dir = open_dir_beneath(root, relp.parent_path().string(), true, owner);
  if (!dir) return dir.error();
  const std::string name = relp.filename().string();
  const std::string path = root + "/" + rel;
  struct stat st;
  if (::fstatat(dir->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
    return make_error(Errc::kInvalid, path + " exists and is not a regular file");
  }
  // A fresh temporary file beside it (whatever the user left under that name goes first: unlinking
  // a link removes the link), then one rename within the same directory descriptor.
  const std::string tmp = name + ".slapnode-tmp";
  (void)::unlinkat(dir->get(), tmp.c_str(), 0);
  UniqueFd out(::openat(dir->get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (out.get() < 0) return make_error(Errc::kIo, "create " + path + ".slapnode-tmp: " + std::strerror(errno));
  if (owner) (void)::fchown(out.get(), owner->uid, owner->gid);
  if (auto written = write_synced(out.get(), content, mode, path); !written) return written;
  if (::renameat(dir->get(), tmp.c_str(), dir->get(), name.c_str()) != 0) {
    const int e = errno;
    (void)::unlinkat(dir->get(), tmp.c_str(), 0);
    return make_error(Errc::kIo, "rename " + path + ": " + std::strerror(e));
  }
  (void)::fsync(dir->get());
  return {};
}

Result<RenderedInstance> render_instance(const Profile& profile, const PartitionView& pv,
                                         const PartitionLayout& layout, const NodeConfig& cfg) {
  std::string section = "instance-" + pv.software_type;
  if (!profile.has(section)) section = "instance";
  if (!profile.has(section)) return make_error(Errc::kNotFound, "the release has no [instance] section");

  SectionMap literal;
  auto& part = literal["partition"];
  part["id"] = layout.id;
  part["path"] = layout.path;
  part["ipv4"] = layout.ipv4;
  // The IPv6 format added here; else the first one the master lists (a node that does not add
  // addresses itself, e.g. when the operator manages them).
  part["ipv6"] = layout.ipv6;
  for (const auto& [iface, addr] : pv.ip_list) {
    if (addr.find(':') != std::string::npos && part["ipv6"].empty()) part["ipv6"] = addr;
  }
  part["tap"] = layout.tap;
  part["user"] = layout.user;
  part["process-user"] = layout.user.empty() ? current_user_name() : layout.user;
  part["instance-guid"] = pv.instance_guid;
  part["title"] = pv.title;
  part["root-title"] = pv.root_instance_title;
  part["software-type"] = pv.software_type;
  part["software-release-url"] = pv.software_release_uri;
  part["certificate-file"] = layout.path + "/.slapnode/certificate.pem";
  part["key-file"] = layout.path + "/.slapnode/key.pem";
  part["shared-file"] = layout.path + "/.slapnode/shared.json";
  auto& conn = literal["slap-connection"];
  conn["computer-id"] = cfg.computer_guid;
  conn["partition-id"] = layout.id;
  conn["server-url"] = cfg.master_url;
  conn["cert-file"] = part["certificate-file"];
  conn["key-file"] = part["key-file"];
  auto& shared = literal["shared"];
  shared["count"] = std::to_string(pv.shared_instances.size());
  std::string guids;
  for (const auto& s : pv.shared_instances) guids += (guids.empty() ? "" : " ") + s.instance_guid;
  shared["guids"] = guids;

  // Parameter defaults from the profile, then the requester's values.
  auto& params = literal["parameters"];
  {
    SectionMap none;
    Substituter defaults(profile, none);
    if (auto d = profile.sections.find("default-parameters"); d != profile.sections.end()) {
      for (const auto& [k, v] : d->second) {
        auto e = defaults.value("default-parameters", k);
        if (!e) return e.error();
        params[k] = *e;
      }
    }
  }
  for (const auto& [k, v] : pv.parameters) params[k] = v;

  Substituter plain(profile, literal);
  Substituter quoted(profile, literal);
  quoted.set_quote(shell_quote);
  RenderedInstance out;
  int startsecs = 1;
  if (const auto* s = profile.get(section, "startsecs"); s != nullptr) {
    if (s->empty() || s->size() > 3 || s->find_first_not_of("0123456789") != std::string::npos) {
      return make_error(Errc::kInvalid, "startsecs must be a small integer");
    }
    startsecs = std::stoi(*s);
  }
  for (const auto& [key, raw] : profile.sections.at(section)) {
    auto dot = key.find('.');
    if (dot == std::string::npos) continue;
    std::string kind = key.substr(0, dot);
    std::string name = key.substr(dot + 1);
    if (kind == "program" || kind == "promise") {
      if (!valid_program_name(name)) return make_error(Errc::kInvalid, "bad " + kind + " name '" + name + "'");
      auto cmd = quoted.value(section, key);
      if (!cmd) return Error{cmd.error().code, key + ": " + cmd.error().detail};
      if (cmd->find_first_of("\n\r") != std::string::npos) return make_error(Errc::kInvalid, key + ": a command is one line");
      if (kind == "promise") {
        out.promises.emplace_back(name, *cmd);
        continue;
      }
      ProgramSpec ps;
      ps.name = name;
      ps.command = *cmd;
      ps.directory = layout.path;
      ps.user = layout.user;
      ps.startsecs = startsecs;
      ps.environment = {{"HOME", layout.path}, {"SLAPNODE_PARTITION", layout.id}};
      out.programs.push_back(std::move(ps));
    } else if (kind == "connection") {
      auto v = plain.value(section, key);
      if (!v) return Error{v.error().code, key + ": " + v.error().detail};
      out.connection[name] = *v;
    } else if (kind == "file") {
      if (!valid_rel_path(name) || name.rfind(".slapnode", 0) == 0) return make_error(Errc::kInvalid, "refused file path '" + name + "'");
      auto v = plain.value(section, key);
      if (!v) return Error{v.error().code, key + ": " + v.error().detail};
      std::string content = *v;
      if (!content.empty() && content.back() != '\n') content += '\n';
      out.files.emplace_back(name, std::move(content));
    }
  }
  return out;
}

constexpr const char* kRecord = "state.json";
constexpr const char* kFilesDigest = "files.sha256";  // of the file.* outputs the programs run with
std::string record_path(const PartitionLayout& layout) { return layout.state_dir + "/" + kRecord; }

Result<PartitionRecord> read_record(const PartitionLayout& layout) {
  auto text = read_file(record_path(layout), 64 * 1024);
  if (!text) return text.error();
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object()) return make_error(Errc::kInvalid, "partition record is not JSON");
  PartitionRecord r;
  const auto& o = v.as_object();
  auto str = [&](const char* k, std::string& out) {
    if (auto* x = o.if_contains(k); x != nullptr && x->is_string()) out = std::string(x->as_string());
  };
  str("instance_guid", r.instance_guid);
  str("timestamp", r.timestamp);
  str("state", r.state);
  str("software_release_uri", r.software_release_uri);
  if (auto* x = o.if_contains("programs"); x != nullptr && x->is_int64()) r.programs = static_cast<int>(x->as_int64());
  str("launcher", r.launcher);
  return r;
}

Status write_record(const PartitionLayout& layout, const PartitionRecord& r) {
  json::object o{{"instance_guid", r.instance_guid},
                 {"timestamp", r.timestamp},
                 {"state", r.state},
                 {"software_release_uri", r.software_release_uri},
                 {"programs", r.programs}};
  if (!r.launcher.empty()) o["launcher"] = r.launcher;
  // In the state directory, not the partition: its user must not rewrite what was applied (nor
  // mark it destroyed so that a later destroy skips it), and nothing there is chowned to it.
  return write_state_file(layout.state_dir, kRecord, json::serialize(o) + "\n");
}

InstanceManager::InstanceManager(const NodeConfig& cfg, Supervisor& supervisor, SlapClient& client)
    : cfg_(cfg), supervisor_(supervisor), client_(client) {}

bool InstanceManager::running(const PartitionLayout& layout, int programs,
                              const std::map<std::string, ProcessStatus>& status) const {
  int up = 0;
  for (auto it = status.lower_bound(layout.id + ":"); it != status.end() && it->first.rfind(layout.id + ":", 0) == 0; ++it) {
    if (it->second.state == "RUNNING" || it->second.state == "STARTING") ++up;
    else return false;
  }
  return up == programs;
}

void InstanceManager::note_error(const PartitionView& p, const Error& e, InstancePassResult& res) {
  if (e.code == Errc::kDeferred) {
    // Waiting, not failing: the master is not told, and the pass is not a failure for it.
    spdlog::warn("instance {} in {}: {}", p.instance_guid, p.partition_id, e.detail);
    return;
  }
  ++res.failed;
  if (e.code == Errc::kCancelled || stop_requested()) {
    // An artifact of stopping, not the instance's error: the master is not told.
    spdlog::warn("instance {} in {}: interrupted, slapnode is stopping", p.instance_guid, p.partition_id);
    return;
  }
  spdlog::error("instance {} in {}: {}", p.instance_guid, p.partition_id, e.to_string());
  if (e.code == Errc::kUnreachable) res.master_unreachable = true;
  auto st = client_.instance_error(p.instance_guid, e.to_string());
  if (!st && st.error().code == Errc::kUnreachable) res.master_unreachable = true;
}

namespace {
// When a PEM certificate becomes valid and stops being so (seconds since the epoch); nullopt when it
// does not parse.
std::optional<std::pair<int64_t, int64_t>> validity(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return std::nullopt;
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (x == nullptr) return std::nullopt;
  std::tm from{}, to{};
  const bool ok = ASN1_TIME_to_tm(X509_get0_notBefore(x), &from) == 1 && ASN1_TIME_to_tm(X509_get0_notAfter(x), &to) == 1;
  X509_free(x);
  if (!ok) return std::nullopt;
  return std::pair<int64_t, int64_t>{static_cast<int64_t>(timegm(&from)), static_cast<int64_t>(timegm(&to))};
}
constexpr const char* kCertificateRecord = "certificate.json";
}  // namespace

// The master keeps one valid certificate per instance and revokes the others when it issues one:
// fetching at every processing (a partition reprocessed each pass while its promise fails, or
// while a program keeps exiting) revoked the certificate its running programs had loaded. So the
// one installed is kept while it names this instance, is still in the partition, and has two
// thirds of its life ahead; a fetched one changes the digest that restarts the programs.
std::string InstanceManager::fetch_certificate(const PartitionView& p, const PartitionLayout& layout) {
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (auto text = read_file(layout.state_dir + "/" + kCertificateRecord, 4096)) {
    boost::system::error_code ec;
    json::value v = json::parse(*text, ec);
    const auto* o = !ec && v.is_object() ? &v.as_object() : nullptr;
    auto field = [&](const char* k) { return o != nullptr ? o->if_contains(k) : nullptr; };
    const auto *guid = field("instance_guid"), *renew = field("renew_at"), *digest = field("sha256");
    struct stat st;
    auto dir = open_dir_beneath(layout.path, ".slapnode", false, std::nullopt);
    const bool installed = dir && ::fstatat(dir->get(), "certificate.pem", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
                           ::fstatat(dir->get(), "key.pem", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    if (installed && guid != nullptr && guid->is_string() && guid->as_string() == p.instance_guid && renew != nullptr &&
        renew->is_int64() && now < renew->as_int64() && digest != nullptr && digest->is_string()) {
      return std::string(digest->as_string());
    }
  }
  auto cert = client_.instance_certificate(p.instance_guid);
  if (!cert) {
    spdlog::warn("instance {}: no certificate from the master: {}", p.instance_guid, cert.error().to_string());
    return {};
  }
  auto a = write_inside(layout.path, ".slapnode/certificate.pem", cert->certificate, 0600, layout.identity);
  auto b = write_inside(layout.path, ".slapnode/key.pem", cert->key, 0600, layout.identity);
  if (!a || !b) {
    spdlog::error("instance {}: cannot write its certificate", p.instance_guid);
    return {};
  }
  const std::string digest = sha256_hex(cert->certificate);
  if (auto life = validity(cert->certificate)) {  // one that does not parse is fetched again next time
    const int64_t renew_at = life->first + (life->second - life->first) * 2 / 3;
    json::object rec{{"instance_guid", p.instance_guid}, {"renew_at", renew_at}, {"sha256", digest}};
    (void)write_state_file(layout.state_dir, kCertificateRecord, json::serialize(rec) + "\n");
  }
  return digest;
}

Status InstanceManager::destroy(const PartitionView* p, const PartitionLayout& layout, InstancePassResult& res) {
  if (p != nullptr && before_destroy && !before_destroy(*p, layout)) {
    return make_error(Errc::kDeferred, "its last usage is not delivered yet: destroyed once it is");
  }
  if (auto st = supervisor_.remove_group(layout.id); !st) return st;
  if (layout.identity) kill_user_processes(layout.identity->uid);
  // Whatever escaped supervisord (a daemon that double-forked) is still in the partition's group,
  // partition user or not: it goes too, or the next instance would run beside it, billed for it.
  if (cpu_groups != nullptr) {
    // One that will not die (stuck in the kernel) does not hold the destroy, which frees the
    // partition: it is logged, and the next destroy of the partition tries again.
    if (auto st = cpu_groups->kill_all(layout.id); !st) spdlog::warn("partition {}: {}", layout.id, st.error().to_string());
  }
  if (auto st = wipe_directory_contents(layout.path); !st) return st;
  // The node's records of the partition go with it (record, CPU and network baselines, CPU carry): the next
  // instance starts from none; a completed destroy writes its own record below.
  if (auto st = wipe_directory_contents(layout.state_dir); !st) return st;
  if (p != nullptr) {
    if (auto st = client_.instance_state(p->instance_guid, "destroyed"); !st) {
      if (st.error().code == Errc::kUnreachable) res.master_unreachable = true;
      return st;
    }
    PartitionRecord rec{p->instance_guid, p->timestamp, "destroyed", p->software_release_uri, 0};
    if (auto st = write_record(layout, rec); !st) return st;
  }
  ++res.destroyed;
  spdlog::info("partition {}: destroyed and emptied", layout.id);
  return {};
}

Status InstanceManager::process(const PartitionView& p, const PartitionLayout& layout, InstancePassResult& res) {
  // Its first measured period starts here, whether or not this processing succeeds (usage.h).
  // Made here if need be: a baseline with no reading of the group would bill none of it.
  if (cpu_groups != nullptr) (void)cpu_groups->ensure(p.partition_id);
  const auto group = cpu_groups != nullptr ? read_group(*cpu_groups, p.partition_id, layout.state_dir) : std::nullopt;
  start_cpu_baseline(layout.state_dir, p.instance_guid, static_cast<int64_t>(std::time(nullptr)), group ? &*group : nullptr);
  auto profile = installed_profile(cfg_.software_root, p.software_release_uri);
  if (!profile) return make_error(Errc::kNotFound, "software release not installed yet: " + p.software_release_uri);
  auto rendered = render_instance(*profile, p, layout, cfg_);
  if (!rendered) return rendered.error();
  const std::string certificate = fetch_certificate(p, layout);
  json::array shared;
  for (const auto& s : p.shared_instances) {
    json::object params, conn;
    for (const auto& [k, v] : s.parameters) params[k] = v;
    for (const auto& [k, v] : s.connection_parameters) conn[k] = v;
    shared.push_back(json::object{{"instance_guid", s.instance_guid}, {"title", s.title}, {"state", s.state},
                                  {"parameters", std::move(params)}, {"connection_parameters", std::move(conn)}});
  }
  if (auto st = write_inside(layout.path, ".slapnode/shared.json", json::serialize(shared) + "\n", 0640, layout.identity); !st) return st;
  // Network bytes are billed from here on, not from the tap's creation (net_usage.h).
  if (auto bytes = tap_bytes(layout.tap)) net_baseline(layout.state_dir, p.instance_guid, *bytes);
  for (const auto& [rel, content] : rendered->files) {
    if (auto st = write_inside(layout.path, rel, content, 0640, layout.identity); !st) return st;
  }
  const bool started = p.state == InstanceState::kStarted;
  const std::string through = launcher_in_use();
  Status cannot_run;  // a program that cannot start: its group is still applied (and stopped)
  if (!through.empty()) {
    for (auto& ps : rendered->programs) {
      // supervisord checks a command before it forks and refuses to start one it cannot find;
      // through the launcher it would start the launcher instead, and the failure came only as an
      // exit, which a program with startsecs = 0 reports as a success.
      if (auto st = runnable_command(ps.command, ps.directory); !st && cannot_run.ok()) {
        cannot_run = Error{st.error().code, "program " + ps.name + ": " + st.error().detail};
      }
      std::string wrapped = shell_quote(through) + " --group " + shell_quote(cpu_groups->path(p.partition_id));
      if (!ps.user.empty()) wrapped += " --user " + shell_quote(ps.user);
      ps.command = wrapped + " -- " + ps.command;
      ps.user.clear();  // supervisord starts the launcher as root; the launcher becomes the user
    }
  }
  if (auto st = supervisor_.apply_group(layout.id, rendered->programs); !st) return st;
  if (started && !cannot_run.ok()) {
    // As supervisord did for a command it could not find: nothing of the group runs.
    if (auto st = supervisor_.stop_group(layout.id); !st) return st;
    return cannot_run;
  }
  // Programs read their files when they start: a file that changed (a parameter it renders moved)
  // while the program lines did not would otherwise leave them running on the old content.
  // Compared with the digest of the files the programs last started with (kept in the state
  // directory, out of the partition user's reach). None recorded counts as changed: a partition
  // processed for the first time has nothing running to stop, and one set up by an older slapnode
  // is processed only because something changed.
  std::string files;
  for (const auto& [rel, content] : rendered->files) files += std::to_string(rel.size()) + ":" + rel + std::to_string(content.size()) + ":" + content;
  files += "certificate:" + certificate;  // programs load it when they start, as their files
  const std::string files_digest = sha256_hex(files) + "\n";
  const auto previous = read_file(layout.state_dir + "/" + kFilesDigest, 128);
  const bool files_changed = !previous.ok() || *previous != files_digest;
  if (started && !rendered->programs.empty()) {
    if (files_changed) {
      spdlog::info("partition {}: its files changed; restarting its programs", layout.id);
      if (auto st = supervisor_.stop_group(layout.id); !st) return st;
    }
    if (auto st = supervisor_.start_group(layout.id); !st) return st;
  } else if (!started) {
    if (auto st = supervisor_.stop_group(layout.id); !st) return st;
  }
  // Stopped programs start later on these same files: they are what the programs run with.
  if (auto st = write_state_file(layout.state_dir, kFilesDigest, files_digest); !st) return st;
  bool promise_ok = true;
  if (started) {
    for (const auto& [name, cmd] : rendered->promises) {
      Command c;
      c.argv = {"/bin/sh", "-c", cmd};
      c.cwd = layout.path;
      c.capture = true;
      c.capture_limit = 4096;
      c.timeout = std::chrono::seconds(30);
      c.as = layout.identity;
      c.env = {"HOME=" + layout.path};
      // A promise may need a moment after a (re)start: the process has to come up and write what
      // the promise checks. Retry until it holds or the grace period ends.
      const auto deadline = std::chrono::steady_clock::now() + kPromiseGrace;
      auto r = run_command(c);
      while ((!r || r->exit_code != 0) && std::chrono::steady_clock::now() < deadline && !stop_requested()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        r = run_command(c);
      }
      if (!r || r->exit_code != 0) {
        promise_ok = false;
        res.promise_failed = true;
        note_error(p, make_error(Errc::kPromise, "promise " + name + " failed: " + (r ? r->output : r.error().detail)), res);
        --res.failed;  // counted as a promise failure, not a processing failure
      }
    }
  }
  if (!rendered->connection.empty()) {
    if (auto st = client_.connection_parameters(p.instance_guid, rendered->connection); !st) return st;
  }
  if (auto st = client_.instance_state(p.instance_guid, started ? "started" : "stopped"); !st) return st;
  if (!promise_ok) return {};  // reprocessed next pass
  PartitionRecord rec{p.instance_guid, p.timestamp, started ? "started" : "stopped", p.software_release_uri,
                      started ? static_cast<int>(rendered->programs.size()) : 0, through};
  return write_record(layout, rec);
}

InstancePassResult InstanceManager::run_pass(const ComputerView& view) {
  InstancePassResult res;
  // supervisord's status is the one round trip a pass over unchanged partitions needs (bench/
  // node_bench.cc): ask it first, and start supervisord only when it does not answer.
  auto status = supervisor_.status();
  if (!status) {
    if (auto st = supervisor_.ensure_running(); !st) {
      spdlog::error("instance pass: {}", st.error().to_string());
      res.failed = 1;
      return res;
    }
    status = supervisor_.status();
  }
  if (!status) {
    spdlog::error("instance pass: {}", status.error().to_string());
    res.failed = 1;
    return res;
  }
  auto layouts = partition_layout(cfg_);
  std::map<std::string, const PartitionView*> by_id;
  for (const auto& p : view.partitions) by_id[p.partition_id] = &p;
  for (const auto& layout : layouts) {
    if (stop_requested()) break;  // the rest waits for the next slapnode
    struct stat st;
    if (::stat(layout.path.c_str(), &st) != 0) {
      if (by_id.count(layout.id)) spdlog::error("partition {} is not formatted: run slapnode format", layout.id);
      continue;
    }
    auto rec = read_record(layout);
    auto it = by_id.find(layout.id);
    const PartitionView* p = it == by_id.end() ? nullptr : it->second;
    if (p == nullptr && (view.refused_partitions.count(layout.id) || view.unnamed_refusal)) {
      // Absent because its entry was refused, not because it was freed: left as it is.
      if (rec && rec->state != "destroyed") spdlog::warn("partition {}: the master's entry was refused; left untouched", layout.id);
      continue;
    }
    if (p == nullptr || p->state == InstanceState::kFree) {
      // Freed behind our back (or never used): clean what an earlier instance left.
      if (rec && rec->state != "destroyed") {
        InstancePassResult ignored;
        if (auto s = destroy(nullptr, layout, ignored); !s) spdlog::error("partition {}: {}", layout.id, s.error().to_string());
      }
      continue;
    }
    if (p->state == InstanceState::kDestroyed) {
      if (rec && rec->state == "destroyed" && rec->instance_guid == p->instance_guid) {
        ++res.unchanged;
        continue;
      }
      if (auto s = destroy(p, layout, res); !s) note_error(*p, s.error(), res);
      continue;
    }
    std::string want = instance_state_name(p->state);
    // A launcher other than the one the programs were set up with (slapnode moved, or CPU groups
    // gained or lost): processed again, so that supervisord never runs a path it should not.
    bool same = rec && rec->instance_guid == p->instance_guid && rec->timestamp == p->timestamp && rec->state == want &&
                rec->software_release_uri == p->software_release_uri && rec->launcher == launcher_in_use();
    if (same && (p->state != InstanceState::kStarted || running(layout, rec->programs, *status))) {
      ++res.unchanged;
      continue;
    }
    if (rec && rec->instance_guid != p->instance_guid && rec->state != "destroyed") {
      // Another instance now owns this partition: start from an empty directory.
      InstancePassResult ignored;
      if (auto s = destroy(nullptr, layout, ignored); !s) {
        note_error(*p, s.error(), res);
        continue;
      }
    }
    ++res.processed;
    if (auto s = process(*p, layout, res); !s) note_error(*p, s.error(), res);
  }
  return res;
}

InstancePassResult InstanceManager::complete_destroys(const ComputerView& view) {
  InstancePassResult res;
  auto layouts = partition_layout(cfg_);
  for (const auto& p : view.partitions) {
    if (p.state != InstanceState::kDestroyed) continue;
    for (const auto& layout : layouts) {
      if (layout.id != p.partition_id) continue;
      auto rec = read_record(layout);
      if (rec && rec->state == "destroyed" && rec->instance_guid == p.instance_guid) continue;
      if (auto st = supervisor_.ensure_running(); !st) {
        note_error(p, st.error(), res);
        continue;
      }
      if (auto s = destroy(&p, layout, res); !s) note_error(p, s.error(), res);
    }
  }
  return res;
}

namespace {
// The first word of a command as supervisord splits it (Python's shlex, POSIX mode): quotes and
// backslashes; nullopt when it has none or a quote is not closed.
std::optional<std::string> first_word(std::string_view s) {
  size_t i = s.find_first_not_of(" \t");
  if (i == std::string_view::npos) return std::nullopt;
  std::string w;
  while (i < s.size() && s[i] != ' ' && s[i] != '\t') {
    const char c = s[i];
    if (c == '\'') {
      const size_t end = s.find('\'', i + 1);
      if (end == std::string_view::npos) return std::nullopt;
      w.append(s.substr(i + 1, end - i - 1));
      i = end + 1;
    } else if (c == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '"' || s[i + 1] == '\\')) ++i;
        w += s[i];
      }
      if (i >= s.size()) return std::nullopt;
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= s.size()) return std::nullopt;
      w += s[i + 1];
      i += 2;
    } else {
      w += c;
      ++i;
    }
  }
  if (w.empty()) return std::nullopt;
  return w;
}
}  // namespace

Status runnable_command(const std::string& command, const std::string& directory) {
  const auto word = first_word(command);
  if (!word) return make_error(Errc::kInvalid, "no command in '" + command + "'");
  auto executable = [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
  };
  std::vector<std::string> candidates;
  if (word->find('/') != std::string::npos) {
    candidates.push_back(word->front() == '/' ? *word : directory + "/" + *word);  // the launcher runs it from there
  } else {
    // The launcher's execvp searches the PATH supervisord gives it: slapnode's own, when this
    // slapnode started supervisord (one started by an earlier slapnode may have another); an empty
    // entry is the program's directory, and no PATH at all is glibc's default.
    const char* env = std::getenv("PATH");
    std::string_view path = env != nullptr ? env : "/bin:/usr/bin";
    for (size_t at = 0; at <= path.size();) {
      const size_t colon = std::min(path.find(':', at), path.size());
      const std::string dir(path.substr(at, colon - at));
      candidates.push_back((dir.empty() ? directory : dir) + "/" + *word);
      at = colon + 1;
    }
  }
  for (const auto& c : candidates) {
    if (executable(c)) return {};
  }
  return make_error(Errc::kNotFound, "can't find an executable command '" + *word + "'");
}

std::string usable_launcher(const std::string& configured) {
  std::string path = configured;
  if (path.empty()) {
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    path = (self.parent_path() / "slapnode-launch").string();
  }
  auto refuse = [&](const std::string& why) {
    spdlog::warn("launcher {}: {}; programs supervisord restarts run outside their partition's CPU group until the next pass", path, why);
    return std::string();
  };
  // Symbolic links resolved: what is checked is what supervisord will run.
  std::error_code ec;
  const fs::path real = fs::canonical(path, ec);
  if (ec) return refuse("not found");
  struct stat file {};
  if (::stat(real.c_str(), &file) != 0) return refuse("cannot be read");
  if (!S_ISREG(file.st_mode) || (file.st_mode & S_IXUSR) == 0) return refuse("not an executable file");
  if (file.st_uid != 0 || (file.st_mode & (S_IWGRP | S_IWOTH)) != 0) return refuse("it can be changed by someone other than root");
  // Every directory above it too: whoever may rename an entry of one could put another file there.
  // A sticky directory (/tmp) lets others add entries, not rename or remove root's.
  for (fs::path dir = real.parent_path();; dir = dir.parent_path()) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return refuse(dir.string() + " cannot be read");
    if (st.st_uid != 0 || ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)) {
      return refuse(dir.string() + " can be changed by someone other than root");
    }
    if (dir == dir.root_path()) break;
  }
  return real.string();
}

}  // namespace slap::node
