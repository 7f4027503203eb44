#pragma once
// CPU accounting per partition in a control group. The kernel charges a group's CPU to it while
// its processes run, so the CPU of processes that exit between two measurements (short-lived
// children, double forks, a program restarted meanwhile) is billed too; sampling /proc per process
// sees only what still runs at the sample.
//
// Every group of a node lies under one directory of its own, <hierarchy><slapnode's own
// group>/slapnode-<hash of the instance root> (two nodes on one host, or tests beside each other, never share one), named after
// the partition, below the group slapnode itself runs in (what limits slapnode, a systemd unit or
// a container, still limits them). The hierarchy is the first writable one of: cgroup v2 at /sys/fs/cgroup, v2 at
// /sys/fs/cgroup/unified (hybrid hosts), v1's cpuacct. v2 counts in cpu.stat `usage_usec` whether
// or not the cpu controller is enabled; v1 in cpuacct.usage (ns).
//
// Programs are born in their group: supervisord runs them through slapnode-launch, which joins
// the group before it becomes the program (node/launch_main.cc), restarts included. What is
// outside anyway (a launcher that could not join, programs started by an older slapnode) enters
// when slapnode moves it (adopt): at each measurement of the partition, right after sampling it
// (what it used until then is billed by its samples), and after each instance pass (what it used
// since its last sample, or its start, is carried into the group's count: usage.h
// adopt_with_carry). From then on the group's counter has it and whatever it forks.
//
// Root only (moving another user's process into a group needs it): without it, or without a
// writable hierarchy, open() gives nothing and usage is sampled per process as before.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "node/status.h"

namespace slap::node {

// A group's counter as read now. `id` tells one group from another made under the same name:
// the counter of a group made again starts from zero. It is a hash of the directory's inode and
// of the boot's id (after a reboot every group is made again, and an inode number may repeat).
// Below 2^60: it is kept as a JSON integer.
struct GroupReading {
  uint64_t id = 0;
  uint64_t usage_us = 0;  // the kernel's counter
  uint64_t carry_us = 0;  // what the node carried into the group's count (usage.h read_group)
};

class CpuGroups {
 public:
  // The node's groups for `instance_root`; nullptr when no hierarchy can be used here.
  static std::unique_ptr<CpuGroups> open(const std::string& instance_root);
  // The same under a hierarchy given (tests): `v2` says how it counts.
  static std::unique_ptr<CpuGroups> open_at(const std::string& hierarchy, bool v2, const std::string& instance_root);

  const std::string& directory() const { return dir_; }  // <hierarchy><own group>/slapnode-<hash>
  // The partition's group's directory (what slapnode-launch joins; it may not exist yet).
  std::string path(const std::string& partition) const { return dir_ + "/" + partition; }
  // The partition's group, made when missing.
  Status ensure(const std::string& partition);
  // Moves the processes into the partition's group (made when missing); a process gone meanwhile
  // is skipped. The number moved.
  Result<size_t> adopt(const std::string& partition, const std::set<pid_t>& pids);
  // The processes in the partition's group now (empty when it has none or does not exist).
  std::set<pid_t> members(const std::string& partition) const;
  // The group's counter; nullopt when the group does not exist or cannot be read.
  std::optional<GroupReading> read(const std::string& partition) const;
  // Kills (SIGKILL) every process in the partition's group and waits until it holds none (a
  // destroyed partition keeps nothing running). v2 kills the group at once (cgroup.kill), where
  // the kernel has it; otherwise each member, again until none is left (bounded: kIo after 5 s).
  Status kill_all(const std::string& partition);
  // Removes a group that holds no process (the probe group; remove_all). A destroy keeps its
  // partition's group: the next instance's baseline reads its counter.
  Status remove(const std::string& partition);
  // Removes every group of the node, then its directory (tests; each must hold no process).
  Status remove_all();

 private:
  CpuGroups(std::string dir, bool v2, std::string boot_id) : dir_(std::move(dir)), v2_(v2), boot_id_(std::move(boot_id)) {}
  std::string dir_;
  bool v2_;
  std::string boot_id_;
};

}  // namespace slap::node
