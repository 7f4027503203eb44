#pragma once
// Privileged test environments, for tests that run as root: a network namespace of the test's
// own (created with `ip netns add`, entered by the calling thread — children it forks inherit it
// — left and deleted on destruction, also when an assertion fails), and system users deleted
// again if the test created them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "node/sys.h"

namespace slap::node::testing {

class NetnsGuard {
 public:
  explicit NetnsGuard(std::string name) : name_(std::move(name)) {
    using namespace std::chrono_literals;
    home_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    auto add = run_command(Command{.argv = {"ip", "netns", "add", name_}, .capture = true, .timeout = 10s});
    if (!add || add->exit_code != 0) {
      why_ = "ip netns add failed: " + (add ? add->output : add.error().detail);
      return;
    }
    created_ = true;
    const int fd = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      why_ = "setns into " + name_ + " failed";
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    entered_ = true;
    auto up = run_command(Command{.argv = {"ip", "link", "set", "lo", "up"}, .capture = true, .timeout = 10s});
    if (!up || up->exit_code != 0) why_ = "ip link set lo up failed in " + name_;
  }
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;
  ~NetnsGuard() {
    using namespace std::chrono_literals;
    if (entered_ && home_ >= 0) (void)::setns(home_, CLONE_NEWNET);
    if (home_ >= 0) ::close(home_);
    // Deleting the namespace deletes every interface in it (the taps too).
    if (created_) (void)run_command(Command{.argv = {"ip", "netns", "del", name_}, .capture = true, .timeout = 10s});
  }
  bool ok() const { return why_.empty(); }
  const std::string& why() const { return why_; }

 private:
  std::string name_, why_;
  int home_ = -1;
  bool created_ = false, entered_ = false;
};

// Deletes, on destruction, the system users that did not exist when it was made.
class UsersGuard {
 public:
  explicit UsersGuard(std::vector<std::string> names) {
    for (auto& n : names) {
      if (!lookup_user(n)) fresh_.push_back(std::move(n));
    }
  }
  UsersGuard(const UsersGuard&) = delete;
  UsersGuard& operator=(const UsersGuard&) = delete;
  ~UsersGuard() {
    using namespace std::chrono_literals;
    for (const auto& n : fresh_) {
      if (lookup_user(n)) (void)run_command(Command{.argv = {"userdel", n}, .capture = true, .timeout = 30s});
    }
  }

 private:
  std::vector<std::string> fresh_;
};

// Attaches to a tap as its "guest" would (a VM) and writes `frames` Ethernet frames of `size`
// bytes: the host receives them, so the tap's rx_bytes grows by frames * size.
inline ::testing::AssertionResult inject_tap_frames(const std::string& tap, int frames, size_t size) {
  const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return ::testing::AssertionFailure() << "open /dev/net/tun: " << std::strerror(errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, tap.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
    const int err = errno;
    ::close(fd);
    return ::testing::AssertionFailure() << "attach " << tap << ": " << std::strerror(err);
  }
  std::string frame(size, '\0');
  // Broadcast destination, a locally administered source, ethertype 0x88b5 (local experimental).
  const unsigned char head[14] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x51, 0x70, 0, 0, 1, 0x88, 0xb5};
  std::memcpy(frame.data(), head, sizeof head);
  for (int i = 0; i < frames; ++i) {
    if (::write(fd, frame.data(), frame.size()) != static_cast<ssize_t>(frame.size())) {
      const int err = errno;
      ::close(fd);
      return ::testing::AssertionFailure() << "write to " << tap << ": " << std::strerror(err);
    }
  }
  ::close(fd);
  return ::testing::AssertionSuccess();
}

}  // namespace slap::node::testing
