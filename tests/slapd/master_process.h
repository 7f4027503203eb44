#pragma once
// A real slapmaster process for tests: started on a free loopback port (port 0 + --port-file),
// stopped with SIGTERM or killed with SIGKILL.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/slapd/tls_client.h"

namespace slap::test {

// A TioXML date ("YYYY-MM-DD HH:MM:SS", UTC) `minutes` from now: journals posted to a real master
// must cover the time their partitions were held, and end no further ahead than the master allows
// a node's clock to run (kUsageClockAllowanceNs, ten minutes).
inline std::string tio_date_from_now(int minutes) {
  const std::time_t t = std::time(nullptr) + minutes * 60;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls `f` until true or the deadline: synchronisation on an observed condition.
template <typename F>
bool wait_until(F f, std::chrono::milliseconds deadline = std::chrono::milliseconds(30'000)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!f()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

class MasterProcess {
 public:
  MasterProcess(std::filesystem::path state, std::vector<std::string> extra = {}) : state_(std::move(state)), extra_(std::move(extra)) { start(); }
  ~MasterProcess() { kill(SIGKILL); }

  void start() {
    const auto port_file = state_.parent_path() / (state_.filename().string() + ".port");
    std::filesystem::remove(port_file);
    pid_ = fork();
    if (pid_ == 0) {
      const std::string log = (state_.parent_path() / (state_.filename().string() + ".log")).string();
      FILE* f = freopen(log.c_str(), "a", stderr);
      (void)f;
      std::vector<std::string> args = {SLAPMASTER, "serve", "--state-dir", state_.string(), "--listen", "127.0.0.1:0", "--port-file", port_file.string()};
      for (auto& e : extra_) args.push_back(e);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(SLAPMASTER, argv.data());
      _exit(127);
    }
    ready_ = wait_until([&] { return std::filesystem::exists(port_file) && !read_file(port_file).empty(); });
    if (ready_) port_ = static_cast<unsigned short>(std::stoi(read_file(port_file)));
  }

  // Sends `sig` and waits for the process to end.
  int kill(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  bool ready() const { return ready_; }
  unsigned short port() const { return port_; }
  std::string ca() const { return read_file(state_ / "ca.crt"); }
  ClientCert admin() const { return {read_file(state_ / "admin.crt"), read_file(state_ / "admin.key")}; }
  TlsClient client(std::optional<ClientCert> cert) const { return TlsClient("127.0.0.1", port_, ca(), std::move(cert)); }
  // The same, built in place (a client holds its stream, which refers to its own context: it
  // cannot move): for fixtures keeping clients as members.
  void connect(std::optional<TlsClient>& into, ClientCert cert) const { into.emplace("127.0.0.1", port_, ca(), std::move(cert)); }

 private:
  std::filesystem::path state_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  bool ready_ = false;
  unsigned short port_ = 0;
};

inline boost::json::object parse_object(const std::string& s) {
  boost::system::error_code ec;
  auto v = boost::json::parse(s, ec);
  if (ec || !v.is_object()) return {};
  return v.as_object();
}

inline std::string str(const boost::json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

inline ClientCert cert_of(const boost::json::object& o) { return {str(o, "certificate"), str(o, "key")}; }

}  // namespace slap::test
