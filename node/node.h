#pragma once
// The node: one object wiring configuration, the SLAP client, the software builder, supervisord
// and the instance manager, with one method per pass and the daemon loop. Single-threaded.
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "node/config.h"
#include "node/cpu_groups.h"
#include "node/fetch.h"
#include "node/instance.h"
#include "node/slap_client.h"
#include "node/software.h"
#include "node/supervisor.h"
#include "node/usage.h"
#include "node/usage_outbox.h"

namespace slap::node {

enum class ExitCode : int { kOk = 0, kFailure = 1, kPromiseFailed = 2, kMasterUnreachable = 3 };

class Node {
 public:
  explicit Node(NodeConfig cfg);

  ExitCode format_pass();
  ExitCode software_pass();
  ExitCode instance_pass();
  ExitCode report_pass();
  // Runs every pass on its schedule until `stop` is set; passes also run as soon as the
  // long-poll reports a new view version.
  ExitCode run(const std::atomic<bool>& stop);

  SlapClient& client() { return *client_; }
  Supervisor& supervisor() { return supervisor_; }
  const NodeConfig& config() const { return cfg_; }

 private:
  Result<ComputerView> view();
  ExitCode software_pass_with(const ComputerView& v);
  std::set<std::string> releases_in_use(const ComputerView& v) const;
  ExitCode instance_pass_with(const ComputerView& v);
  ExitCode report_pass_with(const ComputerView& v);
  ExitCode deliver_usage(const std::string& path, UsageOutbox box, const ComputerView& v);
  bool flush_outbox(const ComputerView& v, ExitCode& code);
  void measure(const PartitionView& p, const PartitionLayout& layout, const std::map<std::string, ProcessStatus>& status, int64_t now,
               size_t& budget, UsageOutbox& box);
  ExitCode send_usage(UsageOutbox box, const ComputerView& v);
  std::map<std::string, ProcessStatus> process_status();
  // A partition's processes: what supervisord runs for it, their descendants, and whatever is in
  // its CPU group (a daemon that double-forked away from its parent is still there).
  std::set<pid_t> partition_processes(const std::string& partition, const std::map<std::string, ProcessStatus>& status,
                                      const ProcessChildren& children) const;
  // After each instance pass: moves every partition's processes outside its group (programs just
  // (re)started by supervisord begin in supervisord's group) into it, carrying what they used
  // since their last sample (usage.h adopt_with_carry). Called only with groups (instance_pass_with
  // checks).
  void adopt_processes(const std::map<std::string, ProcessStatus>& status);
  bool final_usage(const ComputerView& v, const PartitionView& p, const PartitionLayout& layout);
  std::string outbox_path() const { return cfg_.state_root() + "/usage-outbox.json"; }
  bool outbox_waiting() const;
  class FinalUsage;
  bool baseline_current(const UsageOutbox::Baseline& b, const std::vector<PartitionLayout>& layouts, const ComputerView& v) const;
  ExitCode complete_destroys(const ComputerView& v);

  NodeConfig cfg_;
  std::unique_ptr<SlapClient> client_;
  std::unique_ptr<Fetcher> fetcher_;
  std::unique_ptr<SoftwareBuilder> builder_;
  Supervisor supervisor_;
  std::unique_ptr<InstanceManager> instances_;
  std::unique_ptr<CpuGroups> cpu_groups_;  // nullptr: CPU sampled per process (cpu_groups.h)
  int supervisord_pid_ = 0;  // as process_status() last read it (0: not answering)
  std::map<std::string, std::string> software_reported_;  // daemon mode: states already sent
  std::string etag_;
  size_t report_turn_ = 0;  // the partition a report pass reads consumption files of first
};

}  // namespace slap::node
