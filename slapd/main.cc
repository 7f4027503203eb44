// slapmaster: the master daemon.
//   slapmaster init  --state-dir DIR
//   slapmaster serve --state-dir DIR --listen 127.0.0.1:8443 [--listen [::1]:8443] ...
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>

#include "slapd/master.h"

namespace {

using slap::slapd::Master;
using slap::slapd::MasterOptions;

// "HOST:PORT" or "[V6]:PORT".
std::optional<boost::asio::ip::tcp::endpoint> parse_endpoint(const std::string& s) {
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    const auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  unsigned p = 0;
  auto [end, err] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec || err != std::errc() || end != port.data() + port.size() || p > 65535) return std::nullopt;
  return boost::asio::ip::tcp::endpoint(address, static_cast<unsigned short>(p));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"slapmaster — the slapledger master: ledger, marketplace and SLAP API over mutual TLS"};
  app.require_subcommand(1);
  std::string state_dir;
  std::vector<std::string> listen;
  unsigned io_threads = std::max(1u, std::thread::hardware_concurrency());
  size_t max_body = 1 << 20;
  double rate = 5'000;
  unsigned max_wait = 60;
  unsigned checkpoint_interval = 60;
  std::string port_file;
  size_t sequencer_batch = MasterOptions{}.sequencer_batch;
  uint64_t projection_checkpoint_every = MasterOptions{}.projection_checkpoint_every;

  auto* init = app.add_subcommand("init", "Create the ledger, the CA and the administrator identity in DIR");
  init->add_option("--state-dir", state_dir, "State directory")->required();
  auto* serve = app.add_subcommand("serve", "Run the daemon (initialises an empty DIR first)");
  serve->add_option("--state-dir", state_dir, "State directory")->required();
  serve->add_option("--listen", listen, "HOST:PORT or [V6]:PORT (repeatable)")->required();
  serve->add_option("--io-threads", io_threads, "I/O threads")->check(CLI::Range(1u, 64u));
  serve->add_option("--max-body", max_body, "Largest request body (bytes)")->check(CLI::Range(size_t{1024}, size_t{64} << 20));
  serve->add_option("--rate", rate, "Requests per second per identity")->check(CLI::Range(1.0, 1e7));
  serve->add_option("--max-wait", max_wait, "Longest long poll (seconds)")->check(CLI::Range(1u, 3600u));
  serve->add_option("--checkpoint-interval", checkpoint_interval, "Seconds between signed checkpoints of the ledger head (none when idle)")
      ->check(CLI::Range(1u, 86'400u));
  serve->add_option("--sequencer-batch", sequencer_batch,
                    "Most commands decided and appended together (smaller: more, shorter batches in flight, more fsyncs)")
      ->check(CLI::Range(size_t{1}, size_t{1000}));
  serve->add_option("--projection-checkpoint-every", projection_checkpoint_every,
                    "Ledger entries between checkpoints of the projections, at least (more when the last checkpoint was large; "
                    "a restart replays at most that many)")
      ->check(CLI::Range(uint64_t{1000}, uint64_t{1'000'000'000}));
  std::vector<std::string> server_names;
  for (auto* cmd : {init, serve}) {
    cmd->add_option("--server-name", server_names,
                    "A DNS name or IP address nodes reach the master by, put in its server certificate beside localhost (repeatable)");
  }
  serve->add_option("--port-file", port_file, "Write the bound ports here, one per line, once listening (port 0 picks free ports)");
  CLI11_PARSE(app, argc, argv);

  MasterOptions options;
  options.state_dir = state_dir;
  for (const auto& l : listen) {
    auto ep = parse_endpoint(l);
    if (!ep) {
      std::fprintf(stderr, "slapmaster: --listen %s: expected HOST:PORT or [V6]:PORT\n", l.c_str());
      return 2;
    }
    options.listen.push_back(*ep);
  }
  options.server.io_threads = io_threads;
  options.server.max_body_bytes = max_body;
  options.api.requests_per_second = rate;
  options.api.burst = rate * 2;
  options.api.max_wait = std::chrono::seconds(max_wait);
  options.checkpoint_interval = std::chrono::seconds(checkpoint_interval);
  options.sequencer_batch = sequencer_batch;
  options.projection_checkpoint_every = projection_checkpoint_every;
  for (const auto& n : server_names) {
    const bool plain = !n.empty() && n.size() <= 253 && std::all_of(n.begin(), n.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':';
    });
    if (!plain) {
      std::fprintf(stderr, "slapmaster: --server-name '%s': expected a DNS name or an IP address\n", n.c_str());
      return 2;
    }
  }
  options.server_names = server_names;

  // Signals are taken by sigwait below, not by whichever thread they hit.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto master = Master::open(options);
  if (!master) {
    spdlog::error("{}", master.error().to_string());
    return 1;
  }
  if (init->parsed()) {
    spdlog::info("initialised {} (ca.crt, admin.crt, admin.key)", state_dir);
    return 0;
  }
  if (auto s = (*master)->serve(); !s) {
    spdlog::error("{}", s.error().to_string());
    return 1;
  }
  if (!port_file.empty()) {
    std::string ports;
    for (const auto& ep : (*master)->endpoints()) ports += std::to_string(ep.port()) + "\n";
    if (auto s = slap::ca::write_file(port_file, ports, std::filesystem::perms(0644)); !s) {
      spdlog::error("{}", s.error().to_string());
      return 1;
    }
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: draining", sig);
  (*master)->stop();
  return 0;
}
