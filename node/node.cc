#include "node/node.h"

#include "node/usage_outbox.h"

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
}  // namespace

Node::Node(NodeConfig cfg) : cfg_(std::move(cfg)), supervisor_(cfg_.run_dir) {
  HttpOptions http;
  http.ca_file = cfg_.ca;
  http.cert_file = cfg_.cert;
  http.key_file = cfg_.key;
  http.timeout = std::chrono::seconds(cfg_.http_timeout_s);
  RetryPolicy retry;
  retry.attempts = cfg_.retries;
  ViewLimits limits;
  limits.partition_count = cfg_.partition_count;
  client_ = std::make_unique<SlapClient>(cfg_.master_url, cfg_.computer_guid, http, retry, limits);
  HttpOptions downloads;
  downloads.timeout = std::chrono::seconds(std::max(cfg_.http_timeout_s, 120));
  downloads.max_body = 256u << 20;
  fetcher_ = std::make_unique<Fetcher>(downloads);
  SoftwareOptions so;
  so.software_root = cfg_.software_root;
  so.build_timeout = std::chrono::seconds(cfg_.build_timeout_s);
  Fetcher* f = fetcher_.get();
  builder_ = std::make_unique<SoftwareBuilder>(so, [f](const std::string& url) { return f->fetch(url); });
  instances_ = std::make_unique<InstanceManager>(cfg_, supervisor_, *client_);
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

ExitCode Node::instance_pass_with(const ComputerView& v) {
  auto start = Clock::now();
  auto r = instances_->run_pass(v);
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

// Posts the journal of an outbox (saved first), handles a refusal, and removes the outbox once the
// master answered: taken, or refused for good. An unreachable master keeps it for the next pass.
ExitCode Node::deliver_usage(const std::string& path, UsageOutbox box) {
  apply_outbox(box);
  auto st = client_->post_usage(box.journal);
  if (!st && st.error().code == Errc::kProtocol && !box.measured_only.empty()) {
    // The master refused the journal. The movements instances wrote themselves are the likely
    // cause (a unit or a quantity it does not take): the node's own measurements go again
    // without them, and their files are set aside as refused, so that one partition's file
    // cannot stop the usage of the whole computer from being billed.
    spdlog::warn("report: usage refused ({}); posting the node's measurements alone", st.error().to_string());
    box.journal = std::move(box.measured_only);
    box.measured_only.clear();
    box.refused_full = true;
    if (auto saved = save_outbox(path, box); !saved) spdlog::error("report: {}", saved.error().to_string());
    apply_outbox(box);
    st = client_->post_usage(box.journal);
  }
  if (!st && st.error().code != Errc::kProtocol) {
    spdlog::error("report: posting usage failed ({}); the same journal goes again next pass", st.error().to_string());
    return from_error(st.error());
  }
  (void)remove_outbox(path);
  if (!st) {
    spdlog::error("report: the master refused the usage journal ({}); dropped", st.error().to_string());
    return ExitCode::kFailure;
  }
  spdlog::info("report: usage journal posted");
  return ExitCode::kOk;
}

ExitCode Node::report_pass_with(const ComputerView& v) {
  ExitCode code = ExitCode::kOk;
  // A journal an earlier pass measured and did not see taken goes first, exactly as it was. While
  // it cannot be delivered nothing more is measured: the baselines it moved keep the time since.
  const std::string outbox = cfg_.state_root() + "/usage-outbox.json";
  bool measure = true;
  if (auto pending = load_outbox(outbox); !pending) {
    spdlog::error("report: {}; set aside as .unreadable", pending.error().to_string());
    std::error_code ec;
    fs::rename(outbox, outbox + ".unreadable", ec);
  } else if (*pending) {
    const ExitCode c = deliver_usage(outbox, std::move(**pending));
    code = worst(code, c);
    measure = c != ExitCode::kMasterUnreachable;
  }
  if (!measure) return worst(code, complete_destroys(v));
  int64_t now = wall_now();
  std::map<std::string, ProcessStatus> status;
  if (supervisor_.answers()) {
    if (auto s = supervisor_.status()) status = std::move(*s);
  }
  auto layouts = partition_layout(cfg_);
  std::vector<PartitionUsage> usages;
  std::vector<std::pair<std::string, std::string>> cpu_baselines;  // state dir, usage.json once reported
  std::vector<std::string> consumed_files;
  std::vector<size_t> measured;  // per usage: how many of its movements the node measured itself
  std::vector<std::tuple<std::string, std::string, uint64_t>> net_now;  // state dir, instance, counter
  for (const auto& p : v.partitions) {
    if (p.state != InstanceState::kStarted && p.state != InstanceState::kStopped) continue;
    auto lit = std::find_if(layouts.begin(), layouts.end(), [&](const PartitionLayout& l) { return l.id == p.partition_id; });
    if (lit == layouts.end() || !fs::is_directory(lit->path)) continue;
    std::vector<pid_t> roots;
    for (auto it = status.lower_bound(p.partition_id + ":"); it != status.end() && it->first.rfind(p.partition_id + ":", 0) == 0; ++it) {
      if (it->second.pid > 0) roots.push_back(it->second.pid);
    }
    std::vector<ProcessSample> samples;
    for (pid_t pid : process_tree(roots)) {
      if (auto s = sample_process(pid)) samples.push_back(*s);
    }
    CpuDelta d = cpu_since_last(lit->state_dir, samples, now, false);
    // Measured within this second already (or the clock went back): a period starting where the
    // last one stopped would be empty, and one starting earlier would be counted twice. The next
    // pass covers this time.
    if (d.previous_time >= now) continue;
    int64_t start = d.previous_time > 0 ? d.previous_time : now - cfg_.report_interval_s;
    double period = static_cast<double>(now - start);
    uint64_t disk = disk_usage_bytes(lit->path);
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
    if (auto bytes = tap_bytes(lit->tap)) {
      u.movements.push_back({"usage/net_bytes", "Network bytes received and sent through " + lit->tap, p.instance_guid,
                             std::to_string(net_since_last(lit->state_dir, p.instance_guid, *bytes, false)),
                             {"unit:net_byte"}});
      net_now.emplace_back(lit->state_dir, p.instance_guid, *bytes);
    }
    measured.push_back(u.movements.size());
    std::error_code ec;
    std::string reports = lit->path + "/var/xml_report";
    if (fs::is_directory(fs::symlink_status(reports, ec))) {
      int n = 0;
      for (const auto& e : fs::directory_iterator(reports, ec)) {
        if (++n > 100) break;
        if (!e.is_regular_file() || e.is_symlink() || e.path().extension() != ".xml") continue;
        auto text = read_file(e.path().string(), 1 << 20);
        if (!text) continue;
        auto m = parse_partition_consumption(*text);
        if (!m) {
          spdlog::warn("partition {}: {} refused: {}", p.partition_id, e.path().string(), m.error().to_string());
          fs::rename(e.path(), e.path().string() + ".refused", ec);
          continue;
        }
        for (auto& mv : *m) {
          mv.reference = p.instance_guid;  // an instance reports only on itself
          u.movements.push_back(std::move(mv));
        }
        consumed_files.push_back(e.path().string());
      }
    }
    usages.push_back(std::move(u));
    cpu_baselines.emplace_back(lit->state_dir, std::move(d.baseline));
  }
  if (!usages.empty()) {
    UsageOutbox box;
    box.journal = build_tioxml(cfg_.computer_guid, usages);
    if (!consumed_files.empty()) {
      for (size_t k = 0; k < usages.size(); ++k) usages[k].movements.resize(measured[k]);
      box.measured_only = build_tioxml(cfg_.computer_guid, usages);
    }
    for (const auto& [dir, content] : cpu_baselines) box.baselines.push_back({dir, kCpuBaselineFile, content});
    for (const auto& [dir, guid, bytes] : net_now) box.baselines.push_back({dir, kNetBaselineFile, net_baseline_text(guid, bytes)});
    box.instance_files = std::move(consumed_files);
    // Durable before anything moves: from here on this journal, and only it, covers the period.
    if (auto saved = save_outbox(outbox, box); !saved) {
      spdlog::error("report: cannot keep the usage journal ({}); nothing posted", saved.error().to_string());
      code = worst(code, ExitCode::kFailure);
    } else {
      code = worst(code, deliver_usage(outbox, std::move(box)));
    }
  }
  return worst(code, complete_destroys(v));
}

// The destroys the master requested, completed (the report pass's last step).
ExitCode Node::complete_destroys(const ComputerView& v) {
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
