#include "node/supervisor.h"

#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "node/sys.h"

namespace slap::node {
namespace fs = std::filesystem;

namespace {

// supervisord expands %(name)s in values: a literal % is written %%.
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%') out += "%%";
    else out += c;
  }
  return out;
}

bool one_line(const std::string& s) { return s.find_first_of("\n\r") == std::string::npos; }

}  // namespace

bool valid_program_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

Supervisor::Supervisor(std::string run_dir) : run_dir_(std::move(run_dir)), conf_(run_dir_ + "/supervisord.conf") {}

Result<std::string> Supervisor::ctl(const std::vector<std::string>& args, int timeout_s) {
  Command c;
  c.argv = {"supervisorctl", "-c", conf_};
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.capture = true;
  c.timeout = std::chrono::seconds(timeout_s);
  auto r = run_command(c);
  if (!r) return r.error();
  return std::move(r->output);
}

bool Supervisor::answers() {
  if (!fs::exists(run_dir_ + "/supervisord.sock")) return false;
  auto out = ctl({"pid"}, 10);
  if (!out) return false;
  std::string s = *out;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

Status Supervisor::ensure_running() {
  std::error_code ec;
  fs::create_directories(run_dir_ + "/programs", ec);
  fs::create_directories(run_dir_ + "/log", ec);
  if (ec) return make_error(Errc::kIo, "cannot create " + run_dir_ + ": " + ec.message());
  ::chmod(run_dir_.c_str(), 0700);
  std::ostringstream conf;
  conf << "# Written by slapnode; rebuilt on every start.\n"
       << "[unix_http_server]\nfile=" << escape(run_dir_) << "/supervisord.sock\nchmod=0700\n\n"
       << "[supervisord]\nlogfile=" << escape(run_dir_) << "/supervisord.log\n"
       << "pidfile=" << escape(run_dir_) << "/supervisord.pid\n"
       << "childlogdir=" << escape(run_dir_) << "/log\nlogfile_maxbytes=10MB\nlogfile_backups=2\n"
       << "loglevel=info\nnodaemon=false\n"
       << (running_as_root() ? "user=root\n" : "") << "\n"
       << "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
       << "[supervisorctl]\nserverurl=unix://" << escape(run_dir_) << "/supervisord.sock\n\n"
       << "[include]\nfiles=" << escape(run_dir_) << "/programs/*.conf\n";
  auto old = read_file(conf_, 1 << 20);
  if (!old || *old != conf.str()) {
    if (auto st = write_file_atomic(conf_, conf.str(), 0600); !st) return st;
  }
  if (answers()) return {};
  Command c;
  c.argv = {"supervisord", "-c", conf_};
  c.log_path = run_dir_ + "/supervisord.start.log";
  c.timeout = std::chrono::seconds(30);
  auto r = run_command(c);
  if (!r) return r.error();
  if (r->exit_code != 0) {
    return make_error(Errc::kIo, "supervisord failed to start: " + file_tail(c.log_path, 1000));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (answers()) {
      spdlog::info("supervisord started with {}", conf_);
      return {};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return make_error(Errc::kTimeout, "supervisord did not answer on its socket within 20 s");
}

Status Supervisor::apply_group(const std::string& group, const std::vector<ProgramSpec>& programs) {
  if (!valid_program_name(group)) return make_error(Errc::kInvalid, "bad group name " + group);
  std::ostringstream out;
  std::string names;
  for (const auto& p : programs) {
    if (!valid_program_name(p.name)) return make_error(Errc::kInvalid, "bad program name '" + p.name + "'");
    if (!one_line(p.command) || p.command.empty()) return make_error(Errc::kInvalid, "program " + p.name + ": command must be one non-empty line");
    if (!one_line(p.directory) || !one_line(p.user)) return make_error(Errc::kInvalid, "program " + p.name + ": bad directory or user");
    std::string full = group + "-" + p.name;
    names += (names.empty() ? "" : ",") + full;
    out << "[program:" << full << "]\n"
        << "command=" << escape(p.command) << "\n"
        << "directory=" << escape(p.directory) << "\n";
    if (!p.user.empty()) out << "user=" << p.user << "\n";
    out << "autostart=false\nautorestart=true\nstartsecs=" << p.startsecs << "\nstartretries=3\n"
        << "stopasgroup=true\nkillasgroup=true\nstopwaitsecs=10\nredirect_stderr=true\n"
        << "stdout_logfile=" << escape(run_dir_) << "/log/" << full << ".log\n"
        << "stdout_logfile_maxbytes=10MB\nstdout_logfile_backups=1\n";
    if (!p.environment.empty()) {
      out << "environment=";
      bool first = true;
      for (const auto& [k, v] : p.environment) {
        if (!valid_program_name(k) || !one_line(v)) return make_error(Errc::kInvalid, "bad environment entry " + k);
        std::string q;
        for (char ch : v) {
          if (ch == '"' || ch == '\\') q += '\\';
          q += ch;
        }
        out << (first ? "" : ",") << k << "=\"" << escape(q) << "\"";
        first = false;
      }
      out << "\n";
    }
    out << "\n";
  }
  std::string path = run_dir_ + "/programs/" + group + ".conf";
  if (programs.empty()) {
    std::error_code ec;
    fs::remove(path, ec);
  } else {
    std::string text = "[group:" + group + "]\nprograms=" + names + "\n\n" + out.str();
    auto old = read_file(path, 1 << 20);
    if (!old || *old != text) {
      if (auto st = write_file_atomic(path, text, 0600); !st) return st;
    }
  }
  auto r = ctl({"update", group});
  if (!r) return r.error();
  if (r->find("ERROR") != std::string::npos) return make_error(Errc::kIo, "supervisorctl update " + group + ": " + *r);
  return {};
}

Status Supervisor::remove_group(const std::string& group) { return apply_group(group, {}); }

Status Supervisor::start_group(const std::string& group) {
  auto r = ctl({"start", group + ":*"}, 120);
  if (!r) return r.error();
  std::istringstream in(*r);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("ERROR") != std::string::npos && line.find("already started") == std::string::npos) {
      return make_error(Errc::kIo, "start " + group + ": " + *r);
    }
  }
  return {};
}

Status Supervisor::stop_group(const std::string& group) {
  auto r = ctl({"stop", group + ":*"}, 120);
  if (!r) return r.error();
  std::istringstream in(*r);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("ERROR") != std::string::npos && line.find("not running") == std::string::npos &&
        line.find("no such group") == std::string::npos) {
      return make_error(Errc::kIo, "stop " + group + ": " + *r);
    }
  }
  return {};
}

Result<std::map<std::string, ProcessStatus>> Supervisor::status() {
  auto r = ctl({"status"});
  if (!r) return r.error();
  std::map<std::string, ProcessStatus> out;
  std::istringstream in(*r);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name, state, word;
    ls >> name >> state;
    if (name.empty() || state.empty() || name.find(':') == std::string::npos) continue;
    if (name.find("unix://") != std::string::npos) return make_error(Errc::kIo, "supervisord unreachable: " + line);
    ProcessStatus ps;
    ps.state = state;
    while (ls >> word) {
      if (word == "pid") {
        std::string pid;
        ls >> pid;
        if (!pid.empty() && pid.back() == ',') pid.pop_back();
        try {
          ps.pid = std::stoi(pid);
        } catch (const std::exception&) {
          ps.pid = 0;
        }
        break;
      }
    }
    out[name] = ps;
  }
  return out;
}

Status Supervisor::shutdown() {
  if (!answers()) return {};
  auto r = ctl({"shutdown"});
  if (!r) return r.error();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!fs::exists(run_dir_ + "/supervisord.pid")) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return make_error(Errc::kTimeout, "supervisord did not stop");
}

}  // namespace slap::node
