#include "node/cpu_groups.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <chrono>
#include <thread>
#include <filesystem>
#include <sstream>

#include <spdlog/spdlog.h>

#include "node/sys.h"

namespace slap::node {
namespace {

bool is_file(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A name for the node's directory that two nodes of one host never share: its instance root's
// hash (the root is what tells two nodes apart; a computer guid is not, tests reuse them).
std::string node_dir_name(const std::string& instance_root) { return "slapnode-" + sha256_hex(instance_root).substr(0, 16); }

// The group this process is in, in the v2 hierarchy or in v1's cpuacct ("/" at the root): the
// node's groups go below it, so that what limits slapnode (a systemd unit, a container) still
// limits the partitions' processes once they are moved. "" when /proc/self/cgroup does not say.
std::string own_group(bool v2) {
  auto text = read_file("/proc/self/cgroup", 1 << 16);
  if (!text) return {};
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), where = line.substr(b + 1);
    if (v2 && line.compare(0, a, "0") == 0 && controllers.empty()) return where;
    if (!v2) {
      std::istringstream list(controllers);
      std::string c;
      while (std::getline(list, c, ',')) {
        if (c == "cpuacct") return where;
      }
    }
  }
  return {};
}

Status make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return {};
  return make_error(Errc::kIo, "mkdir " + dir + ": " + std::strerror(errno));
}

// A group's directory goes once it holds no process (rmdir refuses it otherwise); gone already is fine.
Status remove_dir(const std::string& dir) {
  if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
  return make_error(Errc::kIo, "rmdir " + dir + ": " + std::strerror(errno));
}

}  // namespace

std::unique_ptr<CpuGroups> CpuGroups::open_at(const std::string& hierarchy, bool v2, const std::string& instance_root) {
  const std::string dir = hierarchy + "/" + node_dir_name(instance_root);
  if (!make_dir(dir)) return nullptr;
  auto boot = read_file("/proc/sys/kernel/random/boot_id", 256);
  std::unique_ptr<CpuGroups> g(new CpuGroups(dir, v2, boot ? *boot : std::string()));
  // Usable only if a group made here counts: a probe group of this process's own (another
  // slapnode of the node may be probing beside it), read once.
  const std::string probe = ".probe-" + std::to_string(::getpid());
  if (!g->ensure(probe) || !g->read(probe)) return nullptr;
  (void)g->remove(probe);
  return g;
}

std::unique_ptr<CpuGroups> CpuGroups::open(const std::string& instance_root) {
  if (!running_as_root()) return nullptr;
  struct Candidate {
    std::string hierarchy;
    const char* marker;  // a file only that kind of hierarchy's root has
    bool v2;
  };
  for (const Candidate& c : {Candidate{"/sys/fs/cgroup", "cgroup.controllers", true}, Candidate{"/sys/fs/cgroup/unified", "cgroup.controllers", true},
                            Candidate{"/sys/fs/cgroup/cpuacct", "cpuacct.usage", false},
                            Candidate{"/sys/fs/cgroup/cpu,cpuacct", "cpuacct.usage", false}}) {
    if (!is_file(c.hierarchy + "/" + c.marker)) continue;
    std::string below = own_group(c.v2);
    if (below == "/") below.clear();
    // A group not visible from here (a container without a cgroup namespace of its own sees the
    // host's paths): the hierarchy's root as it is mounted here.
    if (!below.empty() && !is_file(c.hierarchy + below + "/cgroup.procs")) below.clear();
    if (auto g = open_at(c.hierarchy + below, c.v2, instance_root)) {
      spdlog::info("CPU accounting per partition in {}", g->directory());
      return g;
    }
  }
  spdlog::warn("no writable cgroup hierarchy: CPU is sampled per process (processes that exit between two reports are not billed)");
  return nullptr;
}

Status CpuGroups::ensure(const std::string& partition) { return make_dir(path(partition)); }

Result<size_t> CpuGroups::adopt(const std::string& partition, const std::set<pid_t>& pids) {
  if (pids.empty()) return size_t{0};
  if (auto s = ensure(partition); !s) return s.error();
  const std::string procs = path(partition) + "/cgroup.procs";
  size_t moved = 0;
  for (pid_t pid : pids) {
    // One write per process: the kernel takes one pid per write(2).
    const int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return make_error(Errc::kIo, "open " + procs + ": " + std::strerror(errno));
    const std::string text = std::to_string(pid);
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    const int err = errno;
    ::close(fd);
    if (ok) {
      ++moved;
    } else if (err != ESRCH) {
      spdlog::warn("partition {}: process {} not moved into {}: {}", partition, pid, path(partition), std::strerror(err));
    }
  }
  return moved;
}

std::set<pid_t> CpuGroups::members(const std::string& partition) const {
  std::set<pid_t> out;
  auto text = read_file(path(partition) + "/cgroup.procs", 1 << 20);
  if (!text) return out;
  std::istringstream in(*text);
  long pid = 0;
  while (in >> pid) {
    if (pid > 0) out.insert(static_cast<pid_t>(pid));
  }
  return out;
}

std::optional<GroupReading> CpuGroups::read(const std::string& partition) const {
  struct stat st{};
  if (::stat(path(partition).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  GroupReading r;
  r.id = std::stoull(sha256_hex(boot_id_ + ":" + std::to_string(st.st_ino)).substr(0, 15), nullptr, 16);
  if (v2_) {
    auto text = read_file(path(partition) + "/cpu.stat", 1 << 16);
    if (!text) return std::nullopt;
    std::istringstream in(*text);
    std::string key;
    unsigned long long value = 0;
    while (in >> key >> value) {
      if (key == "usage_usec") {
        r.usage_us = value;
        return r;
      }
    }
    return std::nullopt;
  }
  auto text = read_file(path(partition) + "/cpuacct.usage", 1 << 10);
  if (!text) return std::nullopt;
  try {
    r.usage_us = std::stoull(*text) / 1000;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return r;
}

Status CpuGroups::kill_all(const std::string& partition) {
  const std::string kill_file = path(partition) + "/cgroup.kill";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    const std::set<pid_t> left = members(partition);
    if (left.empty()) return {};
    if (std::chrono::steady_clock::now() > deadline) {
      return make_error(Errc::kIo, std::to_string(left.size()) + " process(es) still in " + path(partition) + " after SIGKILL");
    }
    bool killed = false;
    if (v2_ && is_file(kill_file)) {
      const int fd = ::open(kill_file.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        killed = ::write(fd, "1", 1) == 1;
        ::close(fd);
      }
    }
    if (!killed) {
      for (pid_t pid : left) (void)::kill(pid, SIGKILL);
    }
    // A killed process leaves the group once the kernel has torn it down (its parent reaps it
    // later): a short wait, then the group is asked again.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Status CpuGroups::remove(const std::string& partition) { return remove_dir(path(partition)); }

Status CpuGroups::remove_all() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    if (!e.is_directory(ec)) continue;
    if (auto s = remove(e.path().filename().string()); !s) return s;
  }
  return remove_dir(dir_);
}

}  // namespace slap::node
