#include "node/node.h"

#include "node/usage_outbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <thread>
#include <tuple>

#include "node/format.h"
#include "node/net_usage.h"
#include "node/usage.h"

namespace slap::node {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
ExitCode worst(ExitCode a, ExitCode b) {
  auto rank = [](ExitCode e) {
    switch (e) {
      case ExitCode::kOk: return 0;
      case ExitCode::kPromiseFailed: return 1;
      case ExitCode::kFailure: return 2;
      case ExitCode::kMasterUnreachable: return 3;
    }
    return 0;
  };
  return rank(a) >= rank(b) ? a : b;
}
ExitCode from_error(const Error& e) { return e.code == Errc::kUnreachable ? ExitCode::kMasterUnreachable : ExitCode::kFailure; }
int64_t wall_now() { return static_cast<int64_t>(std::time(nullptr)); }
// An instance's consumption files: at most this many per partition per pass, this large each, and
// this much in all per pass (files beyond it wait for the next pass): a journal stays well under
// what the master accepts in one request, whatever the instances write.
constexpr size_t kMaxConsumptionFiles = 100;
constexpr size_t kMaxConsumptionFileBytes = 256 << 10;
constexpr size_t kMaxConsumptionBytesPerPass = 512 << 10;
constexpr int64_t kClockStepSeconds = 300;  // a baseline dated further ahead than this is a clock set back
}  // namespace

Node::Node(NodeConfig cfg) : cfg_(std::move(cfg)), supervisor_(cfg_.run_dir) {
  HttpOptions http;
  http.ca_file = cfg_.ca;
  http.cert_file = cfg_.cert;
  http.key_file = cfg_.key;
  http.timeout = std::chrono::seconds(cfg_.http_timeout_s);
  // A long poll of the view waits up to a minute: a stop does not wait for it (what was being
  // sent is sent again: the usage outbox and the passes are made for answers that never came).
  http.cancelled = [] { return stop_requested(); };
  RetryPolicy retry;
  retry.attempts = cfg_.retries;
  ViewLimits limits;
  limits.partition_count = cfg_.partition_count;
  client_ = std::make_unique<SlapClient>(cfg_.master_url, cfg_.computer_guid, http, retry, limits);
  HttpOptions downloads;
  // A release's download may take as long as its build may; it fails when it stalls (nothing for
  // http_timeout, at least 60 s). A fixed 120 s cut a 200 MiB tarball below ~14 Mbit/s every pass.
  downloads.timeout = std::chrono::seconds(cfg_.build_timeout_s);
  downloads.idle_timeout = std::chrono::seconds(std::max(cfg_.http_timeout_s, 60));
  downloads.cancelled = [] { return stop_requested(); };
  downloads.max_body = 256u << 20;
  fetcher_ = std::make_unique<Fetcher>(downloads);
  SoftwareOptions so;
  so.software_root = cfg_.software_root;
  so.build_timeout = std::chrono::seconds(cfg_.build_timeout_s);
  Fetcher* f = fetcher_.get();
  builder_ = std::make_unique<SoftwareBuilder>(so, [f](const std::string& url) { return f->fetch(url); });
  instances_ = std::make_unique<InstanceManager>(cfg_, supervisor_, *client_);
  // Whenever slapnode runs as root (what moving a process into a group needs), privileged
  // partitions or not: the groups only count.
  cpu_groups_ = CpuGroups::open(cfg_.instance_root);
  instances_->cpu_groups = cpu_groups_.get();
  if (cpu_groups_) instances_->launcher = usable_launcher(cfg_.launcher);
}

Result<ComputerView> Node::view() {
  auto r = client_->fetch_view("", 0);
  if (!r) {
    spdlog::error("cannot read the computer view: {}", r.error().to_string());
    return r.error();
  }
  etag_ = r->etag;
  return std::move(r->view);
}

ExitCode Node::format_pass() {
  auto r = format_partitions(cfg_);
  if (!r) {
    spdlog::error("format: {}", r.error().to_string());
    return ExitCode::kFailure;
  }
  if (cfg_.master_url.empty()) return ExitCode::kOk;
  auto st = client_->declare_format(format_declaration(cfg_));
  if (!st) {
    spdlog::error("format: declaring partitions to the master failed: {}", st.error().to_string());
    return from_error(st.error());
  }
  return ExitCode::kOk;
}

ExitCode Node::software_pass() {
  auto v = view();
  if (!v) return from_error(v.error());
  return software_pass_with(*v);
}

// Releases a partition runs or must run: the view's allocated partitions, and every partition
// whose own record says it was set up and not destroyed since (the instance pass, which runs after
// the software pass, may still have to stop its processes). A record that cannot be read keeps
// nothing: the partition was never set up, or its state directory is gone with it.
std::set<std::string> Node::releases_in_use(const ComputerView& v) const {
  std::set<std::string> in_use;
  for (const auto& p : v.partitions) {
    if (p.state != InstanceState::kFree && !p.software_release_uri.empty()) in_use.insert(p.software_release_uri);
  }
  for (const auto& layout : partition_layout(cfg_)) {
    auto rec = read_record(layout);
    if (rec.ok() && rec->state != "destroyed" && !rec->software_release_uri.empty()) in_use.insert(rec->software_release_uri);
  }
  return in_use;
}

ExitCode Node::software_pass_with(const ComputerView& v) {
  std::error_code ec;
  fs::create_directories(cfg_.software_root, ec);
  if (cfg_.privileged()) {
    // Builds run as the software user, never as root.
    auto id = lookup_user(cfg_.software_user);
    if (!id) {
      auto r = run_command(Command{.argv = {"useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
                                            cfg_.software_root, "--shell", "/usr/sbin/nologin", cfg_.software_user},
                                   .capture = true,
                                   .timeout = std::chrono::seconds(30)});
      id = lookup_user(cfg_.software_user);
    }
    if (id && id->uid == 0) {
      spdlog::error("software: user {} is root: builds never run as root", cfg_.software_user);
      return ExitCode::kFailure;
    }
    if (!id) {
      spdlog::error("software: no user {} to build as", cfg_.software_user);
      return ExitCode::kFailure;
    }
    SoftwareOptions so = builder_->options();
    so.build_as = id;
    Fetcher* f = fetcher_.get();
    builder_ = std::make_unique<SoftwareBuilder>(so, [f](const std::string& url) { return f->fetch(url); });
  }
  auto r = run_software_pass(v, *builder_, *client_, &software_reported_, releases_in_use(v));
  if (r.master_unreachable) return ExitCode::kMasterUnreachable;
  return r.failed > 0 ? ExitCode::kFailure : ExitCode::kOk;
}

ExitCode Node::instance_pass() {
  auto v = view();
  if (!v) return from_error(v.error());
  return instance_pass_with(*v);
}

// Installs final_usage as the instance manager's last step before a destroy, for one pass over
// `v`: a journal that cannot be delivered stops every later destroy of the pass at once (each
// would try the master again) and is tried again next pass.
class Node::FinalUsage {
 public:
  FinalUsage(Node& node, const ComputerView& v) : node_(node) {
    node_.instances_->before_destroy = [this, &v](const PartitionView& p, const PartitionLayout& l) {
      if (blocked_) return false;
      blocked_ = !node_.final_usage(v, p, l);
      return !blocked_;
    };
  }
  ~FinalUsage() { node_.instances_->before_destroy = nullptr; }
  FinalUsage(const FinalUsage&) = delete;
  FinalUsage& operator=(const FinalUsage&) = delete;

 private:
  Node& node_;
  bool blocked_ = false;
};

ExitCode Node::instance_pass_with(const ComputerView& v) {
  auto start = Clock::now();
  FinalUsage final_usage_first(*this, v);
  auto r = instances_->run_pass(v);
  if (cpu_groups_) adopt_processes(process_status());
  spdlog::info("instance pass: {} processed, {} unchanged, {} failed, {} destroyed in {} ms", r.processed,
               r.unchanged, r.failed, r.destroyed,
               std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
  if (r.master_unreachable) return ExitCode::kMasterUnreachable;
  if (r.failed > 0) return ExitCode::kFailure;
  return r.promise_failed ? ExitCode::kPromiseFailed : ExitCode::kOk;
}

ExitCode Node::report_pass() {
  auto v = view();
  if (!v) return from_error(v.error());
  return report_pass_with(*v);
}

// Whether a baseline of the outbox may be written: only for the instance the master's view gives
// the partition to now (started, stopped, or destroyed but not yet here: its last measurement),
// and not once that instance was destroyed here (its state directory was emptied with it). A
// partition given to another instance (or freed) while the journal waited keeps none of the old
// instance's baselines: written into the new instance's state directory, the old one's CPU
// baseline made every later pass bill the new instance's processes from their start, and the new
// one's own was refused over it, for good. A partition absent because its entry was refused is
// left as it is.
bool Node::baseline_current(const UsageOutbox::Baseline& b, const std::vector<PartitionLayout>& layouts, const ComputerView& v) const {
  for (const auto& layout : layouts) {
    if (layout.state_dir != b.state_dir) continue;
    // Not once its instance was destroyed here: its state directory was emptied with it.
    auto rec = read_record(layout);
    if (rec.ok() && rec->state == "destroyed" && rec->instance_guid == b.instance) return false;
    auto p = std::find_if(v.partitions.begin(), v.partitions.end(), [&](const PartitionView& x) { return x.partition_id == layout.id; });
    if (p == v.partitions.end() && (v.refused_partitions.count(layout.id) || v.unnamed_refusal)) {
      // Absent because its entry was refused, not freed (MASTER_CONTRACT.md): left as it is, its
      // instance keeps its baselines (dropped, the next measurement would cover this journal's
      // period again), unless another instance's are there.
      const std::string holder = baseline_instance(b.state_dir, b.name);
      return holder.empty() || holder == b.instance;
    }
    // Started, stopped, or destroyed (its last measurement, final_usage, kept if its journal waits).
    return p != v.partitions.end() && p->instance_guid == b.instance && p->state != InstanceState::kFree;
  }
  return false;
}

// Posts an outbox's transactions (saved first), and removes it once the master answered for all
// of them: taken, or refused for good. While the master cannot be reached, what is left of it is
// kept for the next pass.
ExitCode Node::deliver_usage(const std::string& path, UsageOutbox box, const ComputerView& v) {
  const auto layouts = partition_layout(cfg_);
  auto current = [&](const UsageOutbox::Baseline& b) { return baseline_current(b, layouts, v); };
  if (!apply_outbox(box, current)) {
    // Posting with a baseline left behind would have the next pass measure that time again.
    spdlog::error("report: the usage baselines could not be written; the journal waits for the next pass");
    return ExitCode::kFailure;
  }
  std::vector<std::string> parts;
  for (const auto& t : box.transactions) parts.push_back(t.current());
  auto st = client_->post_usage(merge_tioxml(parts));  // one journal per computer, as SlapOS posts them
  if (st) {
    (void)remove_outbox(path);
    spdlog::info("report: usage of {} partitions posted", box.transactions.size());
    return ExitCode::kOk;
  }
  if (st.error().code != Errc::kInvalid) {
    spdlog::error("report: posting usage failed ({}); the same journal goes again next pass", st.error().to_string());
    return from_error(st.error());
  }
  // Refused. One partition's transaction is the likely cause (its instance destroyed since, a file
  // of its own with a unit the master does not take): each goes alone, so that it cannot stop the
  // usage of the others; a refused one goes again without the instance's own movements (its
  // files are set aside as .refused) and is dropped only if that is refused too.
  spdlog::warn("report: usage refused ({}); posting each partition's alone", st.error().to_string());
  ExitCode code = ExitCode::kOk;
  for (size_t k = 0; k < box.transactions.size(); ++k) {
    auto& t = box.transactions[k];
    auto one = client_->post_usage(t.current());
    if (!one && one.error().code == Errc::kInvalid && !t.refused_full && !t.measured_only.empty()) {
      spdlog::warn("report: {}; posting the node's measurements of that partition alone", one.error().to_string());
      t.refused_full = true;
      if (auto saved = save_outbox(path, box); !saved) spdlog::error("report: {}", saved.error().to_string());
      for (const auto& f : t.files) rename_consumed(f, ".reported", ".refused");
      one = client_->post_usage(t.current());
    }
    if (!one && one.error().code != Errc::kInvalid) {
      // Unreachable again: what is left goes next pass.
      box.transactions.erase(box.transactions.begin(), box.transactions.begin() + static_cast<std::ptrdiff_t>(k));
      if (auto saved = save_outbox(path, box); !saved) spdlog::error("report: {}", saved.error().to_string());
      spdlog::error("report: posting usage failed ({}); {} transactions go again next pass", one.error().to_string(), box.transactions.size());
      return from_error(one.error());
    }
    if (!one) {
      spdlog::error("report: the master refused a usage transaction ({}); dropped", one.error().to_string());
      code = ExitCode::kFailure;
    }
  }
  (void)remove_outbox(path);
  return code;
}

// Reads an instance's consumption files by descriptor (beneath.h: its user may swap the directory
// for a link to anywhere at any moment), at most `max_files`, within a byte budget shared by the
// whole pass (files beyond it wait for the next one). A file that does not parse is set aside.
static std::vector<std::pair<ConsumedFile, std::vector<UsageMovement>>> read_consumption(const std::string& partition, const std::string& id,
                                                                                   size_t max_files, size_t& budget) {
  std::vector<std::pair<ConsumedFile, std::vector<UsageMovement>>> out;
  auto dir = open_dir_beneath(partition, kConsumptionDir, false, std::nullopt);
  if (!dir) return out;
  std::vector<std::string> names;
  if (DIR* d = ::fdopendir(::dup(dir->get()))) {
    while (auto* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".xml") == 0) names.push_back(name);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  if (names.size() > max_files) names.resize(max_files);
  for (const auto& name : names) {
    UniqueFd fd(::openat(dir->get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st;
    if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const auto size = static_cast<size_t>(st.st_size);
    if (size > kMaxConsumptionFileBytes || size > budget) continue;  // too large: never read; over budget: next pass
    std::string text(size, '\0');
    size_t got = 0;
    while (got < size) {
      const ssize_t n = ::read(fd.get(), text.data() + got, size - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got != size) continue;
    budget -= size;
    auto m = parse_partition_consumption(text);
    if (!m) {
      spdlog::warn("partition {}: {} refused: {}", id, name, m.error().to_string());
      (void)::renameat(dir->get(), name.c_str(), dir->get(), (name + ".refused").c_str());
      continue;
    }
    out.emplace_back(ConsumedFile{partition, name, file_id(st)}, std::move(*m));
  }
  return out;
}

// Delivers the journal an earlier pass measured and did not see taken, exactly as it was. True
// when none is left (delivered, refused for good, or none): while one is left nothing more may be
// measured, as the baselines it moved keep the time since.
bool Node::flush_outbox(const ComputerView& v, ExitCode& code) {
  const std::string outbox = outbox_path();
  auto pending = load_outbox(outbox);
  if (!pending) {
    spdlog::error("report: {}; set aside as .unreadable", pending.error().to_string());
    std::error_code ec;
    fs::rename(outbox, outbox + ".unreadable", ec);
    return true;
  }
  if (!*pending) return true;
  code = worst(code, deliver_usage(outbox, std::move(**pending), v));
  return !outbox_waiting();
}

bool Node::outbox_waiting() const {
  std::error_code ec;
  return fs::exists(fs::symlink_status(outbox_path(), ec));
}

// Measures one partition's instance since its last measurement (CPU, memory, disk, network, and
// the consumption files it wrote) into `box`: one transaction, and the baselines it moves.
void Node::measure(const PartitionView& p, const PartitionLayout& layout, const std::map<std::string, ProcessStatus>& status,
                   int64_t now, size_t& budget, UsageOutbox& box) {
  std::vector<ProcessSample> samples;
  for (pid_t pid : partition_processes(p.partition_id, status, process_children())) {
    if (auto s = sample_process(pid)) samples.push_back(*s);
  }
  // Who is in the group, asked after sampling: a process born inside meanwhile is then taken as
  // inside (the group's counter has it), never as outside as well (billed from its start twice).
  // The others are moved in now, sampled first: what they used so far is billed by their own
  // sample, what they use from now on by the group's counter, read after the move. (Moved at any
  // other time, after an instance pass, what they used since their last sample is carried:
  // adopt_processes, adopt_with_carry.)
  std::optional<GroupReading> group;
  std::vector<ProcessSample> moved_in;  // outside when sampled, inside now
  if (cpu_groups_) {
    const std::set<pid_t> members = cpu_groups_->members(p.partition_id);
    std::set<pid_t> outside;
    for (auto& s : samples) {
      s.in_group = members.count(s.pid) > 0;
      if (!s.in_group && !s.zombie) outside.insert(s.pid);
    }
    if (auto moved = cpu_groups_->adopt(p.partition_id, outside); !moved) spdlog::warn("partition {}: {}", p.partition_id, moved.error().to_string());
    const std::set<pid_t> inside = outside.empty() ? members : cpu_groups_->members(p.partition_id);
    for (const auto& s : samples) {
      if (outside.count(s.pid) && inside.count(s.pid)) moved_in.push_back(s);
    }
    group = read_group(*cpu_groups_, p.partition_id, layout.state_dir);
  }
  CpuDelta d = cpu_since_last(layout.state_dir, samples, now, false, p.instance_guid, group ? &*group : nullptr);
  // Measured within this second already: a period starting where the last one stopped would be
  // empty, and one starting earlier would be counted twice. The next pass covers this time. A
  // baseline far in the future is a clock that was wrong and was set right: measured afresh.
  if (d.previous_time > now + kClockStepSeconds) {
    spdlog::warn("partition {}: its last measurement is dated in the future; measuring afresh", p.partition_id);
    d.previous_time = 0;
  }
  if (d.previous_time == 0) {
    // Never measured (its processing failed before its first period started), or measured afresh
    // after a clock set right: its period starts now, and nothing before is billed (a period
    // reaching back would overlap its predecessor's last one, or periods billed already).
    (void)write_state_file(layout.state_dir, kCpuBaselineFile, d.baseline);
    if (auto bytes = tap_bytes(layout.tap)) net_baseline(layout.state_dir, p.instance_guid, *bytes);
    return;
  }
  if (d.previous_time >= now) {
    // Nothing measured (no baseline moves): what the processes just moved in used since their
    // last sample is carried, or the group's counter would have them only from now on.
    if (!moved_in.empty()) {
      if (auto st = carry_since_baseline(layout.state_dir, moved_in); !st) spdlog::warn("partition {}: {}", p.partition_id, st.error().to_string());
    }
    return;
  }
  const int64_t start = d.previous_time;
  double period = static_cast<double>(now - start);
  uint64_t disk = disk_usage_bytes(layout.path);
  PartitionUsage u;
  u.partition_id = p.partition_id;
  u.instance_guid = p.instance_guid;
  u.title = p.title;
  u.start = start;
  u.stop = now;
  u.movements.push_back({"usage/cpu_s", "CPU seconds", p.instance_guid, format_quantity(d.cpu_seconds), {}});
  u.movements.push_back({"usage/ram_byte_s", "Resident memory (bytes x seconds)", p.instance_guid,
                         format_quantity(static_cast<double>(d.rss_bytes) * period), {}});
  u.movements.push_back({"usage/disk_byte_s", "Disk (bytes x seconds)", p.instance_guid,
                         format_quantity(static_cast<double>(disk) * period), {}});
  box.baselines.push_back({layout.state_dir, kCpuBaselineFile, std::move(d.baseline), p.instance_guid});
  if (auto bytes = tap_bytes(layout.tap)) {
    u.movements.push_back({"usage/net_bytes", "Network bytes received and sent through " + layout.tap, p.instance_guid,
                           std::to_string(net_since_last(layout.state_dir, p.instance_guid, *bytes, false)),
                           {"unit:net_byte"}});
    box.baselines.push_back({layout.state_dir, kNetBaselineFile, net_baseline_text(p.instance_guid, *bytes), p.instance_guid});
  }
  UsageOutbox::Transaction t;
  const size_t measured = u.movements.size();
  for (auto& [file, movements] : read_consumption(layout.path, p.partition_id, kMaxConsumptionFiles, budget)) {
    for (auto& mv : movements) {
      mv.reference = p.instance_guid;  // an instance reports only on itself
      u.movements.push_back(std::move(mv));
    }
    t.files.push_back(std::move(file));
  }
  t.journal = build_tioxml(cfg_.computer_guid, {u});
  if (!t.files.empty()) {
    u.movements.resize(measured);
    t.measured_only = build_tioxml(cfg_.computer_guid, {u});
  }
  box.transactions.push_back(std::move(t));
}

// Saves `box` (durable before anything moves: from then on its transactions, and only they, cover
// their periods), then delivers it.
ExitCode Node::send_usage(UsageOutbox box, const ComputerView& v) {
  if (box.transactions.empty()) return ExitCode::kOk;
  const std::string outbox = outbox_path();
  if (auto saved = save_outbox(outbox, box); !saved) {
    spdlog::error("report: cannot keep the usage journal ({}); nothing posted", saved.error().to_string());
    return ExitCode::kFailure;
  }
  return deliver_usage(outbox, std::move(box), v);
}

std::set<pid_t> Node::partition_processes(const std::string& partition, const std::map<std::string, ProcessStatus>& status,
                                          const ProcessChildren& children) const {
  // supervisord's programs are its children: a pid of its status that is not (the program exited
  // since, and the pid was given to another process) is nobody's to measure, move or kill.
  std::set<pid_t> supervised;
  if (supervisord_pid_ > 0) {
    auto [a, b] = children.equal_range(supervisord_pid_);
    for (auto it = a; it != b; ++it) supervised.insert(it->second);
  }
  std::vector<pid_t> roots;
  for (auto it = status.lower_bound(partition + ":"); it != status.end() && it->first.rfind(partition + ":", 0) == 0; ++it) {
    if (it->second.pid > 0 && supervised.count(it->second.pid)) roots.push_back(it->second.pid);
  }
  if (cpu_groups_) {
    for (pid_t pid : cpu_groups_->members(partition)) roots.push_back(pid);
  }
  const std::vector<pid_t> tree = process_tree(roots, children);
  return std::set<pid_t>(tree.begin(), tree.end());
}

void Node::adopt_processes(const std::map<std::string, ProcessStatus>& status) {
  const ProcessChildren children = process_children();  // one scan of /proc for every partition
  for (const auto& layout : partition_layout(cfg_)) {
    const std::set<pid_t> pids = partition_processes(layout.id, status, children);
    if (auto st = adopt_with_carry(*cpu_groups_, layout.id, layout.state_dir, pids); !st) {
      spdlog::warn("partition {}: {}", layout.id, st.error().to_string());
    }
  }
}

std::map<std::string, ProcessStatus> Node::process_status() {
  std::map<std::string, ProcessStatus> status;
  supervisord_pid_ = 0;
  if (auto pid = supervisor_.pid()) {  // answering
    supervisord_pid_ = *pid;
    if (auto s = supervisor_.status()) status = std::move(*s);
  }
  return status;
}

ExitCode Node::report_pass_with(const ComputerView& v) {
  ExitCode code = ExitCode::kOk;
  // The master keeps what nodes report of their software in memory (slapd/node_reports.h) and the
  // software pass reports a state only when it changes: after a restart of the master, releases
  // built long ago would show nothing reported, for good. Once per report interval, the next
  // software pass reports every state again.
  software_reported_.clear();
  // A journal an earlier pass measured and did not see taken goes first, exactly as it was. While
  // it cannot be delivered nothing more is measured: the baselines it moved keep the time since.
  if (!flush_outbox(v, code)) return worst(code, complete_destroys(v));
  int64_t now = wall_now();
  const auto status = process_status();
  auto layouts = partition_layout(cfg_);
  UsageOutbox box;
  size_t budget = kMaxConsumptionBytesPerPass;
  // The consumption budget is shared by the pass: each pass starts one partition further, so a
  // partition that fills it cannot keep the others' files waiting forever.
  std::vector<const PartitionView*> order;
  for (size_t k = 0; k < v.partitions.size(); ++k) order.push_back(&v.partitions[(k + report_turn_) % v.partitions.size()]);
  ++report_turn_;
  for (const PartitionView* pv : order) {
    const PartitionView& p = *pv;
    if (p.state != InstanceState::kStarted && p.state != InstanceState::kStopped) continue;
    auto lit = std::find_if(layouts.begin(), layouts.end(), [&](const PartitionLayout& l) { return l.id == p.partition_id; });
    if (lit == layouts.end() || !fs::is_directory(lit->path)) continue;
    measure(p, *lit, status, now, budget, box);
  }
  code = worst(code, send_usage(std::move(box), v));
  return worst(code, complete_destroys(v));
}

// An instance about to be destroyed, measured one last time while its processes still run and its
// consumption files are still there, and delivered before its partition is emptied (and reported
// destroyed: the master then still places it here and takes its usage). Before, the time since the
// last report pass and the files written since were never billed: destroying an instance just
// before the hourly report ran it for free. False (the destroy waits for a later pass) while a
// journal cannot be delivered.
bool Node::final_usage(const ComputerView& v, const PartitionView& p, const PartitionLayout& layout) {
  ExitCode code = ExitCode::kOk;
  if (!flush_outbox(v, code)) {
    // Out of reach, the master would not hear "destroyed" either: wait. Otherwise (refused for
    // now, say) the destroy goes on unmeasured rather than wait for good: a new journal may not
    // be measured while one waits, and a destroy is what frees the partition.
    if (code == ExitCode::kMasterUnreachable) return false;
    spdlog::warn("destroy of {}: a usage journal waits; its instance's last period is not measured", p.partition_id);
    return true;
  }
  // Measured if it ran here: recorded, or measured before (an instance whose promise still fails
  // is not recorded yet). Otherwise there is nothing of its own to measure.
  auto rec = read_record(layout);
  const bool ran = (rec && rec->instance_guid == p.instance_guid && rec->state != "destroyed") ||
                   baseline_instance(layout.state_dir, kCpuBaselineFile) == p.instance_guid;
  if (!ran) return true;
  UsageOutbox box;
  size_t budget = kMaxConsumptionBytesPerPass;
  measure(p, layout, process_status(), wall_now(), budget, box);
  // Kept when not taken: it goes with the next pass. Only a master out of reach holds the destroy;
  // a journal that cannot be saved (a full disk, say: the destroy is what frees it) is lost, and
  // send_usage says so.
  return !(send_usage(std::move(box), v) == ExitCode::kMasterUnreachable && outbox_waiting());
}

// The destroys the master requested, completed (the report pass's last step).
ExitCode Node::complete_destroys(const ComputerView& v) {
  FinalUsage final_usage_first(*this, v);
  auto d = instances_->complete_destroys(v);
  if (d.master_unreachable) return ExitCode::kMasterUnreachable;
  return d.failed > 0 ? ExitCode::kFailure : ExitCode::kOk;
}

ExitCode Node::run(const std::atomic<bool>& stop) {
  auto now = Clock::now();
  auto next_format = now, next_software = now, next_instance = now;
  auto next_report = now + std::chrono::seconds(std::min(cfg_.report_interval_s, 300));
  int failures = 0;
  auto nap = [&](std::chrono::milliseconds d) {
    auto until = Clock::now() + d;
    while (!stop.load() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  };
  while (!stop.load()) {
    now = Clock::now();
    ExitCode code = ExitCode::kOk;
    if (now >= next_format) {
      code = worst(code, format_pass());
      next_format = now + std::chrono::seconds(cfg_.format_interval_s);
    }
    bool sw = now >= next_software, inst = now >= next_instance, rep = now >= next_report;
    if (sw || inst || rep) {
      auto v = view();
      if (!v) {
        code = worst(code, from_error(v.error()));
      } else {
        if (sw) code = worst(code, software_pass_with(*v));
        if (inst) code = worst(code, instance_pass_with(*v));
        if (rep) code = worst(code, report_pass_with(*v));
      }
      if (sw) next_software = Clock::now() + std::chrono::seconds(cfg_.software_interval_s);
      if (inst) next_instance = Clock::now() + std::chrono::seconds(cfg_.instance_interval_s);
      if (rep) next_report = Clock::now() + std::chrono::seconds(cfg_.report_interval_s);
    } else if (!etag_.empty()) {
      auto due = std::min({next_software, next_instance, next_report, next_format});
      auto wait = std::chrono::duration_cast<std::chrono::seconds>(due - now).count();
      wait = std::clamp<long>(wait, 1, 30);
      auto r = client_->fetch_view(etag_, static_cast<int>(wait));
      if (!r) {
        code = worst(code, from_error(r.error()));
      } else if (!r->not_modified) {
        spdlog::info("computer view changed (etag {}): immediate software and instance passes", r->etag);
        etag_ = r->etag;
        code = worst(code, software_pass_with(r->view));
        code = worst(code, instance_pass_with(r->view));
        next_software = Clock::now() + std::chrono::seconds(cfg_.software_interval_s);
        next_instance = Clock::now() + std::chrono::seconds(cfg_.instance_interval_s);
      }
    } else {
      nap(std::chrono::duration_cast<std::chrono::milliseconds>(std::min({next_software, next_instance, next_report}) - now));
    }
    if (code == ExitCode::kMasterUnreachable) {
      // Instances keep running under supervisord; back off before asking again.
      ++failures;
      auto backoff = std::chrono::seconds(std::min(60, 1 << std::min(failures, 6)));
      spdlog::warn("master unreachable; next attempt in {} s", backoff.count());
      nap(backoff);
    } else {
      failures = 0;
    }
  }
  return ExitCode::kOk;
}

}  // namespace slap::node
