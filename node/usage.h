#pragma once
// Usage collection: CPU seconds and RSS of a partition's processes (from /proc, the supervised
// processes and all their descendants), disk bytes of its directory, plus the movements the
// instance writes itself in partition_consumption.xsd format under var/xml_report/*.xml.
// Output: a TioXML journal (computer_consumption.xsd), one transaction per partition.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "node/cpu_groups.h"
#include "node/status.h"

namespace slap::node {

struct ProcessSample {
  pid_t pid = 0;
  uint64_t start_ticks = 0;  // identifies the process across pid reuse
  uint64_t cpu_ticks = 0;    // utime + stime
  uint64_t rss_bytes = 0;
  bool in_group = false;     // in its partition's CPU group: its CPU is the group's (cpu_groups.h)
  // Exited, not reaped yet. A group no longer lists it, whether it died there or not: its CPU is
  // neither carried nor billed on its own (the group's counter has it if it died there).
  bool zombie = false;
};

Result<ProcessSample> sample_process(pid_t pid);
// `roots` and every descendant (by /proc/<pid>/stat ppid), each once.
std::vector<pid_t> process_tree(const std::vector<pid_t>& roots);
// The same from a scan of /proc made once (process_children) for several trees.
using ProcessChildren = std::multimap<pid_t, pid_t>;  // parent -> child
ProcessChildren process_children();
std::vector<pid_t> process_tree(const std::vector<pid_t>& roots, const ProcessChildren& children);
long clock_ticks_per_second();

struct UsageMovement {
  std::string resource;   // usage/cpu_s, usage/ram_byte_s, usage/disk_byte_s or the instance's own
  std::string title;
  std::string reference;  // the instance guid
  std::string quantity;   // decimal text
  std::vector<std::string> categories;
};

struct PartitionUsage {
  std::string partition_id;
  std::string instance_guid;
  std::string title;
  int64_t start = 0;  // period, seconds since the epoch
  int64_t stop = 0;
  std::vector<UsageMovement> movements;
};

// Dates are "YYYY-MM-DD HH:MM:SS" UTC; `start`/`stop` are seconds since the epoch.
std::string tio_date(int64_t epoch_s);
std::string build_tioxml(const std::string& computer_guid, const std::vector<PartitionUsage>& partitions);
// One journal holding the transactions of several (each as build_tioxml wrote it).
std::string merge_tioxml(const std::vector<std::string>& journals);
// Movements from an instance's consumption file (partition_consumption.xsd); refuses other shapes.
Result<std::vector<UsageMovement>> parse_partition_consumption(std::string_view xml);
std::string format_quantity(double q);

// CPU since the previous sample, kept in <state_dir>/usage.json, state_dir being
// the partition's state directory (layout.state_dir: slapnode's, out of the partition user's reach,
// so an instance cannot rewrite its own baseline to be billed nothing). Created when persisting.
struct CpuDelta {
  double cpu_seconds = 0;
  uint64_t rss_bytes = 0;
  int64_t previous_time = 0;  // 0 when there was no previous sample
  std::string baseline;       // what usage.json becomes once this delta is reported (kCpuBaselineFile)
};
inline constexpr const char* kCpuBaselineFile = "usage.json";
// `instance_guid`: the instance measured; a baseline of another instance is ignored (and the new
// one names it), as net.json's are: a partition's next instance never starts from its predecessor's.
// Where an instance's first measured period starts: when it is first processed here (`now`), with
// no process yet. Nothing when the partition's baseline is already this instance's. Before, the
// first period was the report interval before the first report: memory and disk were billed for
// up to an hour the instance did not exist, overlapping its predecessor's last period.
// `group`: the partition's CPU group as read now (nullptr: it has none), kept in the baseline.
void start_cpu_baseline(const std::string& state_dir, const std::string& instance_guid, int64_t now,
                        const GroupReading* group = nullptr);
// The CPU since the baseline: the group's counter since the baseline's reading of it, plus what
// was carried in since, plus the ticks of the processes outside it (per process, since their own
// previous sample). A group read in the baseline under another id was made again since (or the
// host rebooted): its whole counter is new, the carry only since. A baseline with no reading of a
// group (written where there was none, or by an older slapnode) bills none of its counter (it may
// hold a predecessor's CPU): the processes in it are billed on their own.
CpuDelta cpu_since_last(const std::string& state_dir, const std::vector<ProcessSample>& now_samples,
                        int64_t now, bool persist, const std::string& instance_guid = {},
                        const GroupReading* group = nullptr);
// A partition's CPU group as the baselines count it: the kernel's counter, and what the node
// carried into it (<state_dir>/cpu_carry, µs, only ever added to until a destroy empties the
// state directory): the CPU that processes moved in
// between two measurements had used since their last sample, which the counter never saw.
inline constexpr const char* kCpuCarryFile = "cpu_carry";
std::optional<GroupReading> read_group(const CpuGroups& groups, const std::string& partition, const std::string& state_dir);
// Adds to cpu_carry what each sampled process used since its sample in the partition's baseline
// (or since its start): for processes now in the group whose samples will not be billed.
Status carry_since_baseline(const std::string& state_dir, const std::vector<ProcessSample>& samples);
// Moves `pids` (those already in the group are left alone) into the partition's group and
// carries what the ones now inside used since their last sample. Moved first, then carried: a crash
// between bills less, never twice. Zombies are skipped.
Status adopt_with_carry(CpuGroups& groups, const std::string& partition, const std::string& state_dir, const std::set<pid_t>& pids);

// The instance a baseline file of a state directory names; "" when none (or none recorded).
std::string baseline_instance(const std::string& state_dir, const std::string& name);

}  // namespace slap::node
