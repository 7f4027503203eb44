#include "node/software.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "node/ini.h"
#include "node/slap_client.h"

namespace slap::node {
namespace fs = std::filesystem;

namespace {

// The node's records of each release live outside the release directory, in
// <software root>/.meta/<sha256 of URL>/ (root's when privileged, mode 0755): url, installed,
// profile.cfg, build.log, downloads/. The release directory itself belongs to the build user, so
// nothing slapnode writes as root may go through a path inside it: whatever must land there is
// written by a child running as the build user (or directly when there is no build user).
constexpr const char* kMetaRoot = "/.meta";

std::string meta_dir(const std::string& software_root, const std::string& url) {
  return software_root + kMetaRoot + "/" + sha256_hex(url);
}

// A directory of the node's own (never inside a release directory), mode 0755 whatever the umask.
Status make_node_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return make_error(Errc::kIo, "cannot create " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return make_error(Errc::kIo, path + " is not a directory");
  ::chmod(path.c_str(), 0755);
  return {};
}

// Removes `name` in the directory open as `parent`, never following a symlink: every step goes
// through a descriptor opened with O_NOFOLLOW, so a build user swapping a directory for a link
// while this runs cannot send it outside the tree.
bool remove_at(int parent, const char* name) {
  if (::unlinkat(parent, name, 0) == 0 || errno == ENOENT) return true;
  if (errno != EISDIR && errno != EPERM) return false;
  int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return false;
  }
  bool ok = true;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    ok = remove_at(::dirfd(d), e->d_name) && ok;
  }
  ::closedir(d);
  if (::unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT) return false;
  return ok;
}

// `path`'s parent is trusted (the software root or .meta, both the node's).
Status remove_tree(const std::string& path) {
  fs::path p(path);
  int parent = ::open(p.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (parent < 0) {
    if (errno == ENOENT) return {};
    return make_error(Errc::kIo, "cannot open " + p.parent_path().string() + ": " + std::strerror(errno));
  }
  bool ok = remove_at(parent, p.filename().c_str());
  ::close(parent);
  if (!ok) return make_error(Errc::kIo, "cannot remove " + path);
  return {};
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) {
    while (!l.empty() && (l.back() == ' ' || l.back() == '\t')) l.pop_back();
    size_t b = l.find_first_not_of(" \t");
    if (b != std::string::npos) out.push_back(l.substr(b));
  }
  return out;
}

bool inside(const std::string& dir, const std::string& path) {
  std::string d = fs::path(dir).lexically_normal().string();
  std::string p = fs::path(path).lexically_normal().string();
  return p == d || p.rfind(d + "/", 0) == 0;
}

bool valid_sha256(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string basename_of(const std::string& url) {
  std::string name = url.substr(url.rfind('/') + 1);
  if (name.empty() || name == "." || name == ".." || name.find_first_of("?#") != std::string::npos) name = "download";
  return name;
}

}  // namespace

std::string software_dir(const std::string& software_root, const std::string& url) {
  return software_root + "/" + sha256_hex(url);
}

bool software_installed(const std::string& software_root, const std::string& url) {
  return fs::exists(meta_dir(software_root, url) + "/installed");
}

Result<Profile> installed_profile(const std::string& software_root, const std::string& url) {
  if (!software_installed(software_root, url)) return make_error(Errc::kNotFound, "release not installed: " + url);
  auto text = read_file(meta_dir(software_root, url) + "/profile.cfg", kMaxIniBytes);
  if (!text) return text.error();
  return parse_flat_profile(*text, url);
}

std::string SoftwareBuilder::log_path(const std::string& url) const {
  return meta_dir(opts_.software_root, url) + "/build.log";
}

std::map<std::string, std::string> SoftwareBuilder::known_releases() const {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(opts_.software_root + kMetaRoot, ec)) {
    std::string name = e.path().filename().string();
    if (!valid_sha256(name)) continue;
    auto url = read_file(e.path().string() + "/url", 8192);
    if (url && sha256_hex(*url) == name) out[*url] = software_dir(opts_.software_root, *url);
  }
  return out;
}

Status SoftwareBuilder::tree_mkdirs(const std::string& path, const std::string& dir, const std::string& log) {
  if (opts_.build_as) return run({"mkdir", "-p", "--", path}, dir, log, "mkdir");
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return make_error(Errc::kIo, "cannot create " + path + ": " + ec.message());
  return {};
}

Status SoftwareBuilder::tree_install(const std::string& src, const std::string& dest, mode_t mode,
                                     const std::string& dir, const std::string& log) {
  char m[8];
  std::snprintf(m, sizeof m, "%04o", static_cast<unsigned>(mode));
  if (opts_.build_as) return run({"install", "-m", m, "--", src, dest}, dir, log, "install");
  std::error_code ec;
  fs::copy_file(src, dest, fs::copy_options::overwrite_existing, ec);
  if (ec) return make_error(Errc::kIo, "copy: " + ec.message());
  ::chmod(dest.c_str(), mode);
  return {};
}

Status SoftwareBuilder::tree_remove(const std::string& path, const std::string& dir, const std::string& log) {
  if (opts_.build_as) return run({"rm", "-rf", "--", path}, dir, log, "rm");
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return make_error(Errc::kIo, "cannot remove " + path + ": " + ec.message());
  return {};
}

Status SoftwareBuilder::remove(const std::string& url) {
  std::string meta = meta_dir(opts_.software_root, url);
  // The marker first: a half-removed release is never taken for an installed one.
  if (::unlink((meta + "/installed").c_str()) != 0 && errno != ENOENT) {
    return make_error(Errc::kIo, "cannot remove " + meta + "/installed: " + std::strerror(errno));
  }
  if (auto st = remove_tree(software_dir(opts_.software_root, url)); !st) return st;
  return remove_tree(meta);
}

Result<bool> SoftwareBuilder::install(const std::string& url) {
  if (!url_scheme_allowed(url)) return make_error(Errc::kInvalid, "refused release URL");
  std::string dir = software_dir(opts_.software_root, url);
  std::string meta = meta_dir(opts_.software_root, url);
  if (software_installed(opts_.software_root, url)) return false;
  // An unfinished earlier attempt (or a tree of the old layout, which kept its records inside).
  if (auto st = remove_tree(dir); !st) return st.error();
  if (auto st = remove_tree(meta); !st) return st.error();
  std::error_code ec;
  fs::create_directories(opts_.software_root, ec);  // the configured root, as before
  if (auto st = make_node_dir(opts_.software_root + kMetaRoot); !st) return st.error();
  if (auto st = make_node_dir(meta); !st) return st.error();
  // The release directory: made by this process in the root-owned software root, so chowning it
  // is safe (the build user cannot put anything in its place); nothing inside it is touched here.
  if (::mkdir(dir.c_str(), 0755) != 0) return make_error(Errc::kIo, "cannot create " + dir + ": " + std::strerror(errno));
  ::chmod(dir.c_str(), 0755);
  if (opts_.build_as && ::lchown(dir.c_str(), opts_.build_as->uid, opts_.build_as->gid) != 0) {
    return make_error(Errc::kIo, "chown " + dir + ": " + std::strerror(errno));
  }
  if (auto st = write_file_atomic(meta + "/url", url); !st) return st.error();
  {
    int fd = ::open(log_path(url).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return make_error(Errc::kIo, "cannot create " + log_path(url) + ": " + std::strerror(errno));
    ::fchmod(fd, 0644);
    ::close(fd);
  }
  auto st = build(url, dir);
  if (!st) {
    std::ofstream(log_path(url), std::ios::app) << "slapnode: build failed: " << st.error().to_string() << "\n";
    return st.error();
  }
  if (auto w = write_file_atomic(meta + "/installed", url + "\n"); !w) return w.error();
  return true;
}

Status SoftwareBuilder::build(const std::string& url, const std::string& dir) {
  std::string log = log_path(url);
  auto profile = load_profile(url, fetch_);
  if (!profile) return profile.error();
  Profile p = std::move(*profile);
  p.sections["buildout"]["directory"] = dir;
  std::vector<std::string> parts = words(p.get("buildout", "parts") ? *p.get("buildout", "parts") : "");
  for (const auto& part : parts) {
    // Part names name directories (downloads/<part>, parts/<part>): no "." or "..".
    if (part == "." || part == ".." || part.find('/') != std::string::npos) {
      return make_error(Errc::kInvalid, "bad part name '" + part + "'");
    }
    if (!p.has(part)) return make_error(Errc::kNotFound, "part [" + part + "] is not defined");
    auto& sec = p.sections[part];
    if (!sec.count("location")) sec["location"] = dir + "/parts/" + part;
  }
  // Read back by every instance pass (installed_profile), which refuses more than kMaxIniBytes: a
  // larger one (64 extended files, substitutions) would be marked installed yet unusable. Checked
  // before any part runs (they only read the profile): a build would otherwise run whole, every
  // pass, to fail at its end.
  const std::string flat = dump_profile(p);
  if (flat.size() > kMaxIniBytes) {
    return make_error(Errc::kInvalid, "the merged profile is " + std::to_string(flat.size()) + " bytes, over the " +
                                          std::to_string(kMaxIniBytes) + " an instance pass reads");
  }
  SectionMap none;
  Substituter sub(p, none);
  for (const auto& part : parts) {
    std::ofstream(log, std::ios::app) << "slapnode: part [" << part << "]\n";
    if (auto st = run_part(p, sub, part, dir, meta_dir(opts_.software_root, url), log); !st) {
      return Error{st.error().code, "part [" + part + "]: " + st.error().detail};
    }
  }
  return write_file_atomic(meta_dir(opts_.software_root, url) + "/profile.cfg", flat);
}

Result<std::string> SoftwareBuilder::download(const std::string& url, const std::string& sha256,
                                              const std::string& dest) {
  if (!valid_sha256(sha256)) return make_error(Errc::kChecksum, "a sha256 (64 lower-case hex digits) is required for " + url);
  auto bytes = fetch_(url);
  if (!bytes) return bytes.error();
  std::string got = sha256_hex(*bytes);
  if (got != sha256) return make_error(Errc::kChecksum, url + ": sha256 " + got + " does not match " + sha256);
  // dest: <meta>/downloads/<sub>/<name>, the node's own directories (readable by the build user).
  fs::path sub = fs::path(dest).parent_path();
  if (auto st = make_node_dir(sub.parent_path().string()); !st) return st.error();
  if (auto st = make_node_dir(sub.string()); !st) return st.error();
  if (auto st = write_file_atomic(dest, *bytes, 0644); !st) return st.error();
  return dest;
}

Status SoftwareBuilder::run(const std::vector<std::string>& argv, const std::string& cwd, const std::string& log,
                            const std::string& what) {
  std::ofstream(log, std::ios::app) << "slapnode: $";
  {
    std::ofstream l(log, std::ios::app);
    for (const auto& a : argv) l << " " << a;
    l << "\n";
  }
  Command c;
  c.argv = argv;
  c.cwd = cwd;
  c.log_path = log;
  c.timeout = opts_.build_timeout;
  c.as = opts_.build_as;
  c.env = {"HOME=" + cwd};
  auto r = run_command(c);
  if (!r) return r.error();
  if (r->exit_code != 0) return make_error(Errc::kBuild, what + " exited with " + std::to_string(r->exit_code));
  return {};
}

// `meta`: the node's records of this release (meta_dir), where downloads and staged files go.
Status SoftwareBuilder::run_part(const Profile& p, const Substituter& sub, const std::string& part,
                                 const std::string& dir, const std::string& meta, const std::string& log) {
  auto get = [&](const std::string& key, bool required) -> Result<std::string> {
    if (p.get(part, key) == nullptr) {
      if (required) return make_error(Errc::kNotFound, "missing key '" + key + "'");
      return std::string();
    }
    return sub.value(part, key);
  };
  auto recipe = get("recipe", true);
  if (!recipe) return recipe.error();
  auto location = get("location", true);
  if (!location) return location.error();
  if (!inside(dir, *location)) return make_error(Errc::kInvalid, "location outside the software directory");
  if (auto st = tree_mkdirs(dir + "/parts", dir, log); !st) return st;

  auto fetch_source = [&](const std::string& subdir) -> Result<std::string> {
    auto url = get("url", true);
    if (!url) return url.error();
    auto sum = get("sha256", true);
    if (!sum) return sum.error();
    std::string resolved = resolve_url(p.url, *url);
    return download(resolved, *sum, meta + "/downloads/" + subdir + "/" + basename_of(resolved));
  };
  auto extract = [&](const std::string& archive, const std::string& into, const std::string& strip) -> Status {
    if (auto st = tree_mkdirs(into, dir, log); !st) return st;
    std::vector<std::string> argv{"tar", "-xf", archive, "-C", into, "--no-same-owner"};
    if (!strip.empty() && strip != "0") argv.push_back("--strip-components=" + strip);
    return run(argv, dir, log, "tar");
  };

  const std::string& r = *recipe;
  if (r == "download") {
    auto file = fetch_source(part);
    if (!file) return file.error();
    if (auto st = tree_mkdirs(*location, dir, log); !st) return st;
    return tree_install(*file, *location + "/" + fs::path(*file).filename().string(), 0644, dir, log);
  }
  if (r == "extract") {
    auto file = fetch_source(part);
    if (!file) return file.error();
    auto strip = get("strip-components", false);
    return extract(*file, *location, strip ? *strip : "");
  }
  if (r == "cmmi") {
    auto file = fetch_source(part);
    if (!file) return file.error();
    // The build tree is the build user's: inside the release directory, made and wiped as that user.
    std::string build = dir + "/.build/" + part;
    if (auto st = tree_remove(build, dir, log); !st) return st;
    auto strip = get("strip-components", false);
    if (auto st = extract(*file, build, strip && !strip->empty() ? *strip : "1"); !st) return st;
    auto patches = get("patches", false);
    if (!patches) return patches.error();
    auto patch_options = get("patch-options", false);
    std::vector<std::string> popts = words(patch_options && !patch_options->empty() ? *patch_options : "-p1");
    int n = 0;
    for (const auto& line : lines(*patches)) {
      // Each line: URL#sha256 (the checksum is required).
      size_t hash = line.rfind('#');
      if (hash == std::string::npos) return make_error(Errc::kChecksum, "patch '" + line + "' lacks #sha256");
      std::string purl = resolve_url(p.url, line.substr(0, hash));
      auto pf = download(purl, line.substr(hash + 1), meta + "/downloads/" + part + "-patch" + std::to_string(n++) + "/" + basename_of(purl));
      if (!pf) return pf.error();
      std::vector<std::string> argv{"patch", "--batch", "--forward"};
      argv.insert(argv.end(), popts.begin(), popts.end());
      argv.push_back("-i");
      argv.push_back(*pf);
      if (auto st = run(argv, build, log, "patch " + basename_of(purl)); !st) return st;
    }
    auto configure = get("configure-command", false);
    auto copts = get("configure-options", false);
    if (!copts) return copts.error();
    std::string cfg_cmd = configure && !configure->empty() ? *configure : "./configure";
    if (cfg_cmd != "none") {
      std::string line = cfg_cmd + " --prefix=" + shell_quote(*location);
      for (const auto& o : lines(*copts)) line += " " + o;
      if (auto st = run({"/bin/sh", "-c", line}, build, log, "configure"); !st) return st;
    }
    auto mopts = get("make-options", false);
    if (!mopts) return mopts.error();
    std::vector<std::string> make{"make"};
    for (const auto& w : words(*mopts)) make.push_back(w);
    if (auto st = run(make, build, log, "make"); !st) return st;
    auto targets = get("make-targets", false);
    make.push_back("PREFIX=" + *location);
    for (const auto& t : words(targets && !targets->empty() ? *targets : "install")) make.push_back(t);
    return run(make, build, log, "make install");
  }
  if (r == "command") {
    auto command = get("command", true);
    if (!command) return command.error();
    return run({"/bin/sh", "-c", *command}, dir, log, "command");
  }
  if (r == "template") {
    auto output = get("output", true);
    if (!output) return output.error();
    if (!inside(dir, *output)) return make_error(Errc::kInvalid, "template output outside the software directory");
    std::string text;
    if (p.get(part, "inline") != nullptr) {
      auto t = get("inline", true);
      if (!t) return t.error();
      text = *t;
      if (!text.empty() && text.back() != '\n') text += '\n';
    } else {
      auto url = get("url", true);
      if (!url) return url.error();
      auto sum = get("sha256", true);
      if (!sum) return sum.error();
      if (!valid_sha256(*sum)) return make_error(Errc::kChecksum, "template needs a sha256");
      auto bytes = fetch_(resolve_url(p.url, *url));
      if (!bytes) return bytes.error();
      if (sha256_hex(*bytes) != *sum) return make_error(Errc::kChecksum, "template " + *url + ": sha256 mismatch");
      auto t = sub.expand(*bytes, part);
      if (!t) return t.error();
      text = *t;
    }
    auto mode_s = get("mode", false);
    mode_t mode = 0644;
    if (mode_s && !mode_s->empty()) {
      if (mode_s->find_first_not_of("01234567") != std::string::npos || mode_s->size() > 4) {
        return make_error(Errc::kInvalid, "mode must be octal");
      }
      mode = static_cast<mode_t>(std::stoul(*mode_s, nullptr, 8) & 0755);
    }
    if (auto st = tree_mkdirs(fs::path(*output).parent_path().string(), dir, log); !st) return st;
    if (!opts_.build_as) return write_file_atomic(*output, text, mode);
    // Staged in the node's directory, then copied into place by the build user.
    std::string staged = meta + "/template.tmp";
    if (auto st = write_file_atomic(staged, text, 0644); !st) return st;
    auto st = tree_install(staged, *output, mode, dir, log);
    ::unlink(staged.c_str());
    return st;
  }
  return make_error(Errc::kInvalid, "unknown recipe '" + r + "'");
}

SoftwarePassResult run_software_pass(const ComputerView& view, SoftwareBuilder& builder, SlapClient& client,
                                     std::map<std::string, std::string>* reported, const std::set<std::string>& in_use) {
  SoftwarePassResult res;
  // Removing a release under a partition that still runs it would pull the binaries from under
  // its processes (and its next restart fails); the master refuses to unsupply a release in use,
  // but the node's own record of what runs is what counts here.
  auto still_used = [&](const std::string& url) {
    if (!in_use.count(url)) return false;
    spdlog::warn("software {}: not removed yet, a partition still runs it", url);
    ++res.kept_in_use;
    return true;
  };
  auto report = [&](const std::string& url, const std::string& state) {
    if (reported != nullptr) {
      auto it = reported->find(url);
      if (it != reported->end() && it->second == state) return;
    }
    auto st = client.software_state(url, state);
    if (!st) {
      spdlog::warn("software {}: reporting {} failed: {}", url, state, st.error().to_string());
      if (st.error().code == Errc::kUnreachable) res.master_unreachable = true;
      return;
    }
    if (reported != nullptr) (*reported)[url] = state;
  };
  std::map<std::string, bool> wanted;
  for (const auto& s : view.software) wanted[s.url] = s.state == SoftwareState::kAvailable;
  for (const auto& s : view.software) {
    if (s.state == SoftwareState::kDestroyed) {
      if (still_used(s.url)) continue;
      if (auto st = builder.remove(s.url); !st) {
        spdlog::error("software {}: {}", s.url, st.error().to_string());
        continue;
      }
      ++res.removed;
      report(s.url, "destroyed");
      continue;
    }
    if (!software_installed(builder.options().software_root, s.url)) {
      report(s.url, "building");
      if (reported != nullptr) reported->erase(s.url);
    }
    auto r = builder.install(s.url);
    if (!r && (r.error().code == Errc::kCancelled || stop_requested())) {
      // Interrupted, not failed: nothing to tell the master; the next pass builds it afresh.
      spdlog::warn("software {}: build interrupted, slapnode is stopping", s.url);
      ++res.failed;
      break;
    }
    if (!r) {
      ++res.failed;
      spdlog::error("software {}: build failed: {}", s.url, r.error().to_string());
      std::string tail = file_tail(builder.log_path(s.url), 4000);
      auto st = client.software_error(s.url, r.error().to_string() + "\n" + tail);
      if (!st && st.error().code == Errc::kUnreachable) res.master_unreachable = true;
      if (reported != nullptr) reported->erase(s.url);
      continue;
    }
    if (*r) {
      ++res.built;
      spdlog::info("software {}: built into {}", s.url, software_dir(builder.options().software_root, s.url));
    }
    report(s.url, "available");
  }
  // What the master no longer lists is removed (the list is a promise, not an action).
  if (stop_requested()) return res;
  for (const auto& [url, dir] : builder.known_releases()) {
    if (wanted.count(url) || still_used(url)) continue;
    if (auto st = builder.remove(url); !st) {
      spdlog::error("software {}: {}", url, st.error().to_string());
      continue;
    }
    spdlog::info("software {}: no longer listed, removed", url);
    ++res.removed;
    if (reported != nullptr) reported->erase(url);
  }
  return res;
}

}  // namespace slap::node
