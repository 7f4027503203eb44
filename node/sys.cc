#include "node/sys.h"

#include <atomic>

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace slap::node {
namespace fs = std::filesystem;

namespace {
std::string hex(const unsigned char* d, unsigned n) {
  static const char* k = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) {
    out += k[d[i] >> 4];
    out += k[d[i] & 15];
  }
  return out;
}
}  // namespace

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  return hex(md, n);
}

Result<std::string> sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::kIo, "cannot open " + path);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  return hex(md, n);
}

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::kNotFound, "cannot open " + path);
  std::string out;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    out.append(buf.data(), static_cast<size_t>(in.gcount()));
    if (out.size() > max_bytes) return make_error(Errc::kInvalid, path + " is larger than the limit");
  }
  return out;
}

Status write_synced(int fd, std::string_view content, mode_t mode, const std::string& what) {
  for (size_t off = 0; off < content.size();) {
    const ssize_t w = ::write(fd, content.data() + off, content.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return make_error(Errc::kIo, "write " + what + ": " + std::strerror(errno));
    off += static_cast<size_t>(w);
  }
  (void)::fchmod(fd, mode);
  // On disk before the caller renames it into place: otherwise a power cut can leave the new name
  // on an empty or truncated file (ext4 delayed allocation), e.g. a release's installed marker
  // beside half-written files, or a usage baseline of zero bytes.
  if (::fsync(fd) != 0) return make_error(Errc::kIo, "fsync " + what + ": " + std::strerror(errno));
  return {};
}

Status write_file_atomic(const std::string& path, std::string_view content, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return make_error(Errc::kIo, "open " + tmp + ": " + std::strerror(errno));
  if (auto st = write_synced(fd, content, mode, tmp); !st) {
    ::close(fd);
    return st;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return make_error(Errc::kIo, "rename " + tmp + ": " + std::strerror(errno));
  }
  const std::string dir = fs::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || ::fsync(dfd) != 0) {
    const int e = errno;
    if (dfd >= 0) ::close(dfd);
    return make_error(Errc::kIo, "fsync directory of " + path + ": " + std::strerror(e));
  }
  ::close(dfd);
  return {};
}

std::optional<Identity> lookup_user(const std::string& name) {
  struct passwd pw;
  struct passwd* res = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) != 0 || res == nullptr) return std::nullopt;
  return Identity{pw.pw_uid, pw.pw_gid};
}

bool running_as_root() { return ::geteuid() == 0; }

namespace {
std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");
}  // namespace

void request_stop() noexcept { g_stop_requested.store(true, std::memory_order_relaxed); }
bool stop_requested() noexcept { return g_stop_requested.load(std::memory_order_relaxed); }

Result<CommandResult> run_command(const Command& cmd) {
  if (cmd.argv.empty()) return make_error(Errc::kInvalid, "empty command");
  if (stop_requested()) return make_error(Errc::kCancelled, "slapnode is stopping: '" + cmd.argv[0] + "' not started");
  // Everything the child needs is prepared before fork.
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    std::string_view key = kv.substr(0, kv.find('='));
    bool replaced = false;
    for (const auto& add : cmd.env) {
      if (std::string_view(add).substr(0, add.find('=')) == key) replaced = true;
    }
    if (!replaced) env_store.emplace_back(kv);
  }
  for (const auto& add : cmd.env) env_store.push_back(add);
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_store = cmd.argv;
  std::vector<char*> argv;
  for (auto& s : argv_store) argv.push_back(s.data());
  argv.push_back(nullptr);

  int out_fd = -1;
  int pipe_fds[2] = {-1, -1};
  if (cmd.capture) {
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return make_error(Errc::kIo, "pipe failed");
    out_fd = pipe_fds[1];
  } else if (!cmd.log_path.empty()) {
    out_fd = ::open(cmd.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (out_fd < 0) return make_error(Errc::kIo, "cannot open log " + cmd.log_path);
    if (cmd.as) (void)::fchown(out_fd, cmd.as->uid, cmd.as->gid);
  } else {
    out_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  }
  int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out_fd);
    if (pipe_fds[0] >= 0) ::close(pipe_fds[0]);
    ::close(null_in);
    return make_error(Errc::kIo, "fork failed");
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(null_in, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    // Nothing else of slapnode's reaches the child: its TLS connection to the master, supervisord's
    // control socket, open state files. Asio and libraries open some descriptors without
    // O_CLOEXEC, so closing every one above stderr is the only complete rule.
    if (::close_range(3, ~0U, 0) != 0) {  // kernels before 5.9
      rlimit lim{};
      const rlim_t top = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY ? lim.rlim_cur : 65536;
      for (rlim_t fd = 3; fd < top; ++fd) ::close(static_cast<int>(fd));
    }
    if (!cmd.cwd.empty() && ::chdir(cmd.cwd.c_str()) != 0) _exit(126);
    if (cmd.as) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(cmd.as->gid) != 0 || ::setuid(cmd.as->uid) != 0) _exit(126);
    }
    ::signal(SIGPIPE, SIG_DFL);
    ::execvpe(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  // The parent sets the group too (either call may come first): a stop right after fork must find
  // the group to signal, or the child would run the whole grace period.
  (void)::setpgid(pid, pid);
  ::close(null_in);
  if (cmd.capture) ::close(pipe_fds[1]);
  else ::close(out_fd);

  CommandResult result;
  auto deadline = std::chrono::steady_clock::now() + cmd.timeout;
  int status = 0;
  bool done = false;
  bool pipe_open = cmd.capture;
  while (!done) {
    if (pipe_open) {
      pollfd p{pipe_fds[0], POLLIN, 0};
      int r = ::poll(&p, 1, 50);
      if (r > 0) {
        char buf[8192];
        ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
        if (n > 0) {
          if (result.output.size() < cmd.capture_limit) {
            result.output.append(buf, std::min(static_cast<size_t>(n), cmd.capture_limit - result.output.size()));
          }
        } else if (n == 0) {
          pipe_open = false;
        }
      }
    }
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      done = true;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      if (cmd.capture) ::close(pipe_fds[0]);
      return make_error(Errc::kTimeout, "command '" + cmd.argv[0] + "' passed its deadline");
    }
    if (stop_requested()) {
      // The whole group: a build's make and compilers, a promise's children.
      ::kill(-pid, SIGTERM);
      const auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (::waitpid(pid, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() < grace) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      ::kill(-pid, SIGKILL);  // what ignored SIGTERM, and what the leader left behind
      ::waitpid(pid, &status, 0);
      if (cmd.capture) ::close(pipe_fds[0]);
      return make_error(Errc::kCancelled, "slapnode is stopping: '" + cmd.argv[0] + "' interrupted");
    }
    if (!pipe_open) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (cmd.capture) {
    // Drain what remains (a grandchild may keep the pipe open: read without blocking only).
    ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    char buf[8192];
    ssize_t n;
    while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) {
      if (result.output.size() < cmd.capture_limit) {
        result.output.append(buf, std::min(static_cast<size_t>(n), cmd.capture_limit - result.output.size()));
      }
    }
    ::close(pipe_fds[0]);
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string file_tail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  auto size = static_cast<size_t>(in.tellg());
  size_t start = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(start));
  std::string out(size - start, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

Status ensure_private_dir(const std::string& dir) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return make_error(Errc::kIo, "stat " + dir + ": " + std::strerror(errno));
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return make_error(Errc::kIo, "mkdir " + dir + ": " + std::strerror(errno));
    }
    if (::lstat(dir.c_str(), &st) != 0) return make_error(Errc::kIo, "stat " + dir + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return make_error(Errc::kInvalid, dir + " is not a plain directory");
  if (st.st_uid != ::geteuid()) {
    return make_error(Errc::kInvalid, dir + " belongs to uid " + std::to_string(st.st_uid) + ", not to slapnode's");
  }
  if ((st.st_mode & 07777) != 0700 && ::chmod(dir.c_str(), 0700) != 0) {
    return make_error(Errc::kIo, "chmod " + dir + ": " + std::strerror(errno));
  }
  return {};
}

Status lock_exclusive(const std::string& path, const std::function<bool()>& keep_waiting) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return make_error(Errc::kIo, "lock " + path + ": " + std::strerror(errno));
  bool told = false;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    if (e != EWOULDBLOCK) {
      ::close(fd);
      return make_error(Errc::kIo, "lock " + path + ": " + std::strerror(e));
    }
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    const std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("?");
    const std::string who = "another slapnode (pid " + holder.substr(0, holder.find('\n')) + ") is working on this computer (" + path + ")";
    if (!keep_waiting) {
      ::close(fd);
      return make_error(Errc::kInvalid, who);
    }
    if (!told) spdlog::warn("{}: waiting for it to finish", who);
    told = true;
    if (!keep_waiting()) {
      ::close(fd);
      return make_error(Errc::kInvalid, who);
    }
    // A poll, not flock's blocking wait: that one would not end when the daemon is told to stop.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) (void)::pwrite(fd, pid.data(), pid.size(), 0);
  return {};  // fd deliberately left open: the lock lasts as long as the process
}

Status ensure_state_dir(const std::string& dir) {
  if (dir.empty() || dir[0] != '/' || fs::path(dir).parent_path() == "/") {
    return make_error(Errc::kInvalid, "refused state directory '" + dir + "'");
  }
  if (auto st = ensure_private_dir(fs::path(dir).parent_path().string()); !st) return st;
  return ensure_private_dir(dir);
}

Status write_state_file(const std::string& state_dir, const std::string& name, std::string_view content) {
  if (auto st = ensure_state_dir(state_dir); !st) return st;
  return write_file_atomic(state_dir + "/" + name, content, 0600);
}

Status wipe_directory_contents(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return {};
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::error_code rec;
    fs::remove_all(entry.path(), rec);  // remove_all does not follow symlinks
    if (rec) return make_error(Errc::kIo, "cannot remove " + entry.path().string() + ": " + rec.message());
  }
  if (ec) return make_error(Errc::kIo, "cannot list " + dir + ": " + ec.message());
  return {};
}

namespace {
uint64_t allocated(const struct stat& st) { return static_cast<uint64_t>(st.st_blocks) * 512; }
// Directory `name` in `parent`, never through a link (nullptr: not a plain directory, or gone).
DIR* open_subdir(int parent, const char* name) {
  const int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return nullptr;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) ::close(fd);
  return d;
}
}  // namespace

// Walked by descriptor, never by path: each directory opened in its parent with O_NOFOLLOW, so a
// partition's user swapping a directory for a link mid-walk cannot send root's walk (and the bill)
// outside the partition, and no path is ever too long. At most kMaxOpen directories are open at
// once; a subtree deeper than that is walked later, reached again one component at a time from
// the top (each at most kMaxOpen levels deeper than the last: a chain of D directories costs
// about D²/2·kMaxOpen opens). The walk stops after kMaxSteps entries and opens, and says so: a
// partition's user cannot stall the report pass with a tree built to be slow to walk. A
// directory that cannot be read is skipped, not the end of the walk. Before, a
// recursive iterator held a descriptor per level and stopped at its first error: a chain of
// directories deeper than the descriptors left to slapnode, or one vanishing mid-walk, hid
// everything not yet visited from billing.
uint64_t disk_usage_bytes(const std::string& dir) {
  constexpr size_t kMaxOpen = 128;
  constexpr uint64_t kMaxSteps = 8'000'000;
  uint64_t steps = 0;
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return 0;
  uint64_t total = allocated(st);
  if (!S_ISDIR(st.st_mode)) return total;
  const int root = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root < 0) return total;
  size_t unreadable = 0;
  std::vector<std::vector<std::string>> later{{}};  // subtrees still to walk: their components from `dir`
  while (!later.empty() && steps < kMaxSteps) {
    const std::vector<std::string> base = std::move(later.back());
    later.pop_back();
    int fd = ::dup(root);
    for (const auto& component : base) {
      ++steps;
      const int next = fd < 0 ? -1 : ::openat(fd, component.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) ::close(fd);
      fd = next;
    }
    DIR* top = fd < 0 ? nullptr : ::fdopendir(fd);
    if (top == nullptr) {
      if (fd >= 0) ::close(fd);
      ++unreadable;
      continue;
    }
    std::vector<DIR*> open{top};
    std::vector<std::string> names{""};  // names[k]: open[k]'s name in open[k - 1]
    while (!open.empty()) {
      if (++steps > kMaxSteps) {
        for (DIR* d : open) ::closedir(d);
        break;
      }
      const dirent* e = ::readdir(open.back());
      if (e == nullptr) {
        ::closedir(open.back());
        open.pop_back();
        names.pop_back();
        continue;
      }
      const std::string_view name(e->d_name);
      if (name == "." || name == "..") continue;
      if (::fstatat(::dirfd(open.back()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
      total += allocated(st);
      if (!S_ISDIR(st.st_mode)) continue;
      auto defer = [&] {
        std::vector<std::string> deeper = base;
        deeper.insert(deeper.end(), names.begin() + 1, names.end());
        deeper.emplace_back(name);
        later.push_back(std::move(deeper));
      };
      if (open.size() >= kMaxOpen) {
        defer();
        continue;
      }
      DIR* sub = open_subdir(::dirfd(open.back()), e->d_name);
      if (sub == nullptr) {
        // Out of descriptors: walked later, with those of this walk closed.
        if (errno == EMFILE || errno == ENFILE) defer();
        else ++unreadable;
        continue;
      }
      open.push_back(sub);
      names.emplace_back(name);
    }
  }
  ::close(root);
  if (steps >= kMaxSteps) spdlog::warn("disk usage of {}: the walk stopped after {} steps; what it did not reach is not counted", dir, steps);
  if (unreadable > 0) spdlog::warn("disk usage of {}: {} directories could not be read and are not counted", dir, unreadable);
  return total;
}

namespace {
// A process is the user's when any of its real, effective or saved uids is: read from the `Uid:`
// line of /proc/<pid>/status, not from the owner of /proc/<pid>, which shows root for a process
// that made itself non-dumpable (prctl PR_SET_DUMPABLE 0) and so would outlive its partition.
// Zombies are skipped: they run nothing, and killing one "succeeds" until its parent reaps it.
bool runs_as(const char* pid, uid_t uid) {
  std::ifstream status(std::string("/proc/") + pid + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("State:", 0) == 0 && line.find('Z') != std::string::npos) return false;
    if (line.rfind("Uid:", 0) != 0) continue;
    std::istringstream ids(line.substr(4));
    uid_t real = 0, effective = 0, saved = 0;
    if (!(ids >> real >> effective >> saved)) return false;
    return real == uid || effective == uid || saved == uid;
  }
  return false;
}
}  // namespace

// Kills every process of the user, scanning again while a scan found any: a process forked
// during a scan may be listed after the directory was read.
void kill_user_processes(uid_t uid) {
  for (int scan = 0; scan < 100; ++scan) {
    DIR* d = ::opendir("/proc");
    if (d == nullptr) return;
    int found = 0;
    while (dirent* e = ::readdir(d)) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (*end != '\0' || pid <= 1) continue;
      if (runs_as(e->d_name, uid) && ::kill(static_cast<pid_t>(pid), SIGKILL) == 0) ++found;
    }
    ::closedir(d);
    if (found == 0) return;
  }
  spdlog::error("uid {}: processes still appearing after 100 scans", uid);
}

}  // namespace slap::node
