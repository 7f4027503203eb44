#pragma once
// The instance pass: for each partition whose (guid, timestamp, requested state, release) changed
// since its last successful pass — recorded in <instance root>/.slapnode-state/<partition>/state.json,
// out of the partition user's reach (NodeConfig::partition_state_path) — or whose
// processes are not all running, render the release's instance section into supervisord programs,
// files and connection parameters, start or stop them and report. Destroyed partitions are
// stopped, emptied and reported. One thread; unchanged partitions cost one status lookup.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "node/config.h"
#include "node/cpu_groups.h"
#include "node/format.h"
#include "node/profile.h"
#include "node/supervisor.h"
#include "node/view.h"

namespace slap::node {

class SlapClient;

struct RenderedInstance {
  std::vector<ProgramSpec> programs;
  std::map<std::string, std::string> connection;
  std::vector<std::pair<std::string, std::string>> files;     // path relative to the partition, content
  std::vector<std::pair<std::string, std::string>> promises;  // name, command
};

// Renders the `[instance-<software type>]` (or `[instance]`) section of an installed profile.
Result<RenderedInstance> render_instance(const Profile& profile, const PartitionView& partition,
                                         const PartitionLayout& layout, const NodeConfig& cfg);

// Whether the command's first word (split as supervisord splits `command=`: Python's shlex)
// names an executable file: a path (relative to `directory`, where the launcher runs it), or a
// name found in PATH. supervisord checked as much before starting a command itself.
Status runnable_command(const std::string& command, const std::string& directory);

// The slapnode-launch to give InstanceManager::launcher: `configured`, or the one beside this
// executable when empty, if supervisord may run it as root: a regular executable file, links
// resolved, that only root can change, below directories only root can change (whoever could
// replace it would run as root at the next restart of any program). Its real path; empty, with a
// warning, otherwise.
std::string usable_launcher(const std::string& configured);

// The record slapnode keeps of each partition, in its state directory (layout.state_dir, mode 0700,
// slapnode's uid; never in the partition directory, which the partition's user owns). A destroy
// empties that directory with the partition, then writes the "destroyed" record.
struct PartitionRecord {
  std::string instance_guid;
  std::string timestamp;
  std::string state;  // started | stopped | destroyed
  std::string software_release_uri;
  int programs = 0;
  std::string launcher;  // the slapnode-launch its programs run through; empty: none
};
std::string record_path(const PartitionLayout& layout);
Result<PartitionRecord> read_record(const PartitionLayout& layout);
Status write_record(const PartitionLayout& layout, const PartitionRecord& r);

struct InstancePassResult {
  int processed = 0, unchanged = 0, failed = 0, destroyed = 0;
  bool promise_failed = false;
  bool master_unreachable = false;
};

class InstanceManager {
 public:
  InstanceManager(const NodeConfig& cfg, Supervisor& supervisor, SlapClient& client);
  InstancePassResult run_pass(const ComputerView& view);
  // Completes destroys the master requested (the report pass calls this too).
  InstancePassResult complete_destroys(const ComputerView& view);
  // Called before a destroy the master requested empties a partition whose instance still runs
  // there: the node's last chance to measure its usage. False: not now (the destroy waits for a
  // later pass; nothing is emptied or reported).
  std::function<bool(const PartitionView&, const PartitionLayout&)> before_destroy;
  // The partitions' CPU groups, where the node has them (their reading starts an instance's
  // first period beside its time; at a destroy, whatever is left in the group is killed);
  // nullptr otherwise.
  CpuGroups* cpu_groups = nullptr;
  // slapnode-launch (node/launch_main.cc), when usable with cpu_groups: supervisord runs every
  // program through it, so each (re)start, supervisord's own restarts included, is born in its
  // partition's group as its user. Empty: programs start in supervisord's group (as `user=`) and
  // are moved after each pass.
  std::string launcher;

 private:
  // The launcher programs run through: `launcher` where the node keeps CPU groups, else none.
  std::string launcher_in_use() const { return cpu_groups != nullptr ? launcher : std::string(); }
  Status process(const PartitionView& p, const PartitionLayout& layout, InstancePassResult& res);
  Status destroy(const PartitionView* p, const PartitionLayout& layout, InstancePassResult& res);
  bool running(const PartitionLayout& layout, int programs, const std::map<std::string, ProcessStatus>& status) const;
  // The digest of the instance's certificate in place ("" when there is none).
  std::string fetch_certificate(const PartitionView& p, const PartitionLayout& layout);
  void note_error(const PartitionView& p, const Error& e, InstancePassResult& res);

  const NodeConfig& cfg_;
  Supervisor& supervisor_;
  SlapClient& client_;
};

// Writes `content` at `rel` inside `root`, creating directories; refuses absolute paths, `..` and
// symlinks on the way; chowns what it creates to `owner` when given.
Status write_inside(const std::string& root, const std::string& rel, const std::string& content, mode_t mode,
                    const std::optional<Identity>& owner);

}  // namespace slap::node
