// slapnode: the node daemon. `slapnode format|software|instance|report` run one pass and exit
// (0 ok, 1 failure, 2 a promise failed, 3 master unreachable); `slapnode run` is the daemon.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <functional>

#include "node/config.h"
#include "node/node.h"
#include "node/sys.h"

namespace {
std::atomic<bool> g_stop{false};
// First SIGINT or SIGTERM: stop (the running command's process group is terminated, no new one
// starts, the daemon leaves its loop). A second one: die at once, as without a handler.
void on_signal(int sig) {
  if (g_stop.exchange(true)) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  slap::node::request_stop();
}
}  // namespace

int main(int argc, char** argv) {
  using namespace slap::node;
  CLI::App app{"slapnode: formats partitions, builds software releases, runs instances, reports usage"};
  app.require_subcommand(1, 1);
  app.fallthrough();  // options may follow the subcommand
  std::string config_path = "/etc/slapledger/node.conf";
  std::string master_url, guid, cert, key, ca, instance_root, software_root, run_dir, ipv4_range, iface, privileged, tap, ipv6;
  int partitions = -1;
  bool verbose = false;
  app.add_option("-c,--config", config_path, "configuration file (INI key = value)");
  app.add_option("--master-url", master_url, "master URL, e.g. https://master:8443");
  app.add_option("--computer-guid", guid, "this computer's id");
  app.add_option("--cert", cert, "the computer's certificate (PEM)");
  app.add_option("--key", key, "its private key (PEM)");
  app.add_option("--ca", ca, "the master's CA certificate (PEM)");
  app.add_option("--instance-root", instance_root, "where partitions live");
  app.add_option("--software-root", software_root, "where releases are built");
  app.add_option("--run-dir", run_dir, "supervisord configuration, socket and logs");
  app.add_option("--partitions", partitions, "partition count");
  app.add_option("--ipv4-range", ipv4_range, "address plan, e.g. 127.1.0.0/24");
  app.add_option("--interface", iface, "interface the partition addresses go on");
  app.add_option("--privileged", privileged, "auto|yes|no: create users, chown, add addresses");
  app.add_option("--tap", tap, "yes|no: a tap interface slaptapN per partition (privileged only)");
  app.add_option("--ipv6", ipv6, "yes|no: an IPv6 per partition from the interface's prefix (privileged only)");
  app.add_flag("-v,--verbose", verbose, "debug logging");
  app.add_subcommand("format", "create partitions and declare them to the master (one pass)");
  app.add_subcommand("software", "build available releases, remove the others (one pass)");
  app.add_subcommand("instance", "render, start, stop and destroy instances (one pass)");
  app.add_subcommand("report", "post usage and complete destroys (one pass)");
  app.add_subcommand("run", "the daemon: every pass on its schedule and on view changes");
  CLI11_PARSE(app, argc, argv);
  if (verbose) spdlog::set_level(spdlog::level::debug);

  NodeConfig cfg;
  bool explicit_config = app.get_option("--config")->count() > 0;
  if (explicit_config || std::filesystem::exists(config_path)) {
    if (auto st = load_config_file(cfg, config_path); !st) {
      spdlog::error("{}", st.error().to_string());
      return 1;
    }
  }
  auto over = [](std::string& dst, const std::string& v) {
    if (!v.empty()) dst = v;
  };
  over(cfg.master_url, master_url);
  over(cfg.computer_guid, guid);
  over(cfg.cert, cert);
  over(cfg.key, key);
  over(cfg.ca, ca);
  over(cfg.instance_root, instance_root);
  over(cfg.software_root, software_root);
  over(cfg.run_dir, run_dir);
  over(cfg.ipv4_range, ipv4_range);
  over(cfg.interface_name, iface);
  if (partitions >= 0) cfg.partition_count = partitions;
  for (const auto& [name, value] : {std::pair<const char*, const std::string&>{"privileged", privileged}, {"tap", tap}, {"ipv6", ipv6}}) {
    if (value.empty()) continue;
    if (auto st = apply_config_text(cfg, std::string(name) + " = " + value, std::string("--") + name); !st) {
      spdlog::error("{}", st.error().to_string());
      return 1;
    }
  }
  std::string cmd = app.get_subcommands().front()->get_name();
  if (auto st = validate_config(cfg, cmd != "format"); !st) {
    spdlog::error("configuration: {}", st.error().to_string());
    return 1;
  }
  // All that a slapnode works on: its supervisord (run_dir), its partitions with their records and
  // usage baselines (instance_root) and its releases (software_root). Another slapnode naming any
  // of them is refused.
  // The daemon waits for a manual command to finish (under systemd, failing at once would burn
  // its restart budget); a manual command beside the daemon is refused at once.
  const bool daemon = cmd == "run";
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::function<bool()> keep_waiting;
  if (daemon) keep_waiting = [] { return !g_stop.load(); };
  if (running_as_root() && !cfg.privileged()) {
    spdlog::warn("privileged = no while running as root: builds, instances and promises run as root, with no user per "
                 "partition and nothing between them; fine for a machine of one tenant, never on a shared one "
                 "(privileged = yes or auto there)");
  }
  // The software root too: another slapnode sharing it would remove this one's releases as no
  // longer listed in its own view, and build the same trees at the same time.
  for (const auto& dir : {cfg.run_dir, cfg.instance_root, cfg.software_root}) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (auto st = lock_exclusive(dir + "/.slapnode.lock", keep_waiting); !st) {
      spdlog::error("{}", st.error().to_string());
      return 1;
    }
  }
  Node node(cfg);
  ExitCode code = ExitCode::kOk;
  if (cmd == "format") code = node.format_pass();
  else if (cmd == "software") code = node.software_pass();
  else if (cmd == "instance") code = node.instance_pass();
  else if (cmd == "report") code = node.report_pass();
  else code = node.run(g_stop);
  return static_cast<int>(code);
}
