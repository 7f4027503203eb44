#include "node/supervisor.h"

#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <pugixml.hpp>
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

// supervisord reads its configuration with Python's configparser, for which ';' or '#' after a
// whitespace character starts a comment: the rest of the line was dropped, so `sh -c "a ; b"` ran
// `sh -c "a` (and failed to parse). Such a space or tab is written as an expansion of
// supervisord's own environment instead (kSpaceVariable, kTabVariable: declared in its
// configuration, write_config), which supervisord expands after the comments are stripped. A value is refused if it holds
// other control characters, or a Unicode space right before ';' or '#' (Python counts those as
// whitespace too, and they cannot be written that way).
constexpr const char* kSpaceVariable = "SLAPNODE_SPACE";
constexpr const char* kTabVariable = "SLAPNODE_TAB";
// A literal % too: supervisord replaces the text %(here)s before it expands anything, even in a
// %%(here)s meant literally, and the line no longer parses (every reload then fails).
constexpr const char* kPercentVariable = "SLAPNODE_PERCENT";
Result<std::string> config_value(const std::string& s) {
  std::string out;
  for (size_t k = 0; k < s.size(); ++k) {
    const unsigned char c = static_cast<unsigned char>(s[k]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return make_error(Errc::kInvalid, "a control character in '" + s + "'");
    const bool comment_next = k + 1 < s.size() && (s[k + 1] == ';' || s[k + 1] == '#');
    if (comment_next && (c == ' ' || c == '\t')) {
      out += std::string("%(ENV_") + (c == ' ' ? kSpaceVariable : kTabVariable) + ")s";
      continue;
    }
    if (c == '%') out += std::string("%(ENV_") + kPercentVariable + ")s";
    else out += static_cast<char>(c);
  }
  // The UTF-8 of the Unicode spaces Python's str.isspace() knows, right before ';' or '#'.
  static const char* const kUnicodeSpaces[] = {"\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",
                                               "\xe2\x81\x9f", "\xe3\x80\x80"};
  for (size_t k = 0; k < s.size(); ++k) {
    if (s[k] != ';' && s[k] != '#') continue;
    const std::string_view before = std::string_view(s).substr(0, k);
    bool space = false;
    for (const char* u : kUnicodeSpaces) space = space || before.ends_with(u);
    // U+2000..U+200A: e2 80 80..8a
    if (before.size() >= 3 && before.substr(before.size() - 3, 2) == "\xe2\x80" &&
        static_cast<unsigned char>(before.back()) >= 0x80 && static_cast<unsigned char>(before.back()) <= 0x8a) {
      space = true;
    }
    if (space) return make_error(Errc::kInvalid, "a Unicode space before '" + std::string(1, s[k]) + "' (supervisord would cut the line there)");
  }
  return out;
}

}  // namespace

bool valid_program_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

Supervisor::Supervisor(std::string run_dir) : run_dir_(std::move(run_dir)), conf_(run_dir_ + "/supervisord.conf") {}

// A decoded XML-RPC value.
struct XValue {
  enum Kind { kString, kInt, kBool, kArray, kStruct, kOther } kind = kOther;
  std::string text;
  long number = 0;
  std::vector<XValue> items;
  std::map<std::string, XValue> members;
  const XValue* member(const std::string& k) const {
    auto it = members.find(k);
    return it == members.end() ? nullptr : &it->second;
  }
};

namespace {
XValue decode(const pugi::xml_node& value) {
  XValue v;
  pugi::xml_node typed = value.first_child();
  if (!typed || typed.type() == pugi::node_pcdata) {
    v.kind = XValue::kString;
    v.text = value.child_value();
    return v;
  }
  std::string_view t = typed.name();
  if (t == "string") {
    v.kind = XValue::kString;
    v.text = typed.child_value();
  } else if (t == "int" || t == "i4" || t == "i8") {
    v.kind = XValue::kInt;
    v.number = std::strtol(typed.child_value(), nullptr, 10);
  } else if (t == "boolean") {
    v.kind = XValue::kBool;
    v.number = std::strtol(typed.child_value(), nullptr, 10);
  } else if (t == "array") {
    v.kind = XValue::kArray;
    for (auto item : typed.child("data").children("value")) v.items.push_back(decode(item));
  } else if (t == "struct") {
    v.kind = XValue::kStruct;
    for (auto m : typed.children("member")) v.members[m.child_value("name")] = decode(m.child("value"));
  }
  return v;
}
}  // namespace

struct Supervisor::Reply {
  bool fault = false;
  long fault_code = 0;
  std::string fault_string;
  XValue value;
};

Result<Supervisor::Reply> Supervisor::call(const std::string& method, const std::vector<Param>& params, int timeout_s) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  pugi::xml_document doc;
  auto mc = doc.append_child("methodCall");
  mc.append_child("methodName").text() = method.c_str();
  auto ps = mc.append_child("params");
  for (const auto& p : params) {
    auto v = ps.append_child("param").append_child("value");
    if (p.is_bool) v.append_child("boolean").text() = p.flag ? "1" : "0";
    else v.append_child("string").text() = p.text.c_str();
  }
  std::ostringstream body;
  body << "<?xml version=\"1.0\"?>";
  doc.save(body, "", pugi::format_raw | pugi::format_no_declaration);

  asio::io_context ioc;
  asio::local::stream_protocol::socket sock(ioc);
  boost::system::error_code ec;
  sock.connect(asio::local::stream_protocol::endpoint(run_dir_ + "/supervisord.sock"), ec);
  if (ec) return make_error(Errc::kIo, "supervisord socket: " + ec.message());
  http::request<http::string_body> req{http::verb::post, "/RPC2", 11};
  req.set(http::field::host, "localhost");
  req.set(http::field::content_type, "text/xml");
  req.body() = body.str();
  req.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(16u << 20);
  boost::beast::flat_buffer buf;
  boost::system::error_code result = asio::error::timed_out;
  asio::steady_timer deadline(ioc);
  deadline.expires_after(std::chrono::seconds(timeout_s));
  deadline.async_wait([&](boost::system::error_code e) {
    if (!e) sock.close();
  });
  http::async_write(sock, req, [&](boost::system::error_code e, size_t) {
    if (e) {
      result = e;
      deadline.cancel();
      return;
    }
    http::async_read(sock, buf, parser, [&](boost::system::error_code e2, size_t) {
      result = e2;
      deadline.cancel();
    });
  });
  ioc.run();
  if (result) return make_error(Errc::kIo, "supervisord " + method + ": " + result.message());
  auto& res = parser.get();
  if (res.result_int() != 200) return make_error(Errc::kIo, "supervisord " + method + ": HTTP " + std::to_string(res.result_int()));
  pugi::xml_document reply;
  if (!reply.load_string(res.body().c_str())) return make_error(Errc::kIo, "supervisord " + method + ": bad XML-RPC reply");
  Reply out;
  auto mr = reply.child("methodResponse");
  if (auto fault = mr.child("fault")) {
    XValue f = decode(fault.child("value"));
    out.fault = true;
    if (const auto* c = f.member("faultCode")) out.fault_code = c->number;
    if (const auto* s = f.member("faultString")) out.fault_string = s->text;
    return out;
  }
  auto value = mr.child("params").child("param").child("value");
  if (!value) return make_error(Errc::kIo, "supervisord " + method + ": reply without a value");
  out.value = decode(value);
  return out;
}

bool Supervisor::answers() { return pid().ok(); }

Result<int> Supervisor::pid() {
  if (!fs::exists(run_dir_ + "/supervisord.sock")) return make_error(Errc::kIo, "supervisord is not running");
  auto r = call("supervisor.getPID", {}, 10);
  if (!r) return r.error();
  if (r->fault || r->value.kind != XValue::kInt || r->value.number <= 0) return make_error(Errc::kIo, "supervisord getPID: no pid");
  return static_cast<int>(r->value.number);
}

// supervisord.conf, rewritten when it differs. Its [supervisord] environment declares the
// variables config_value() writes through; supervisord re-reads that section on every
// reloadConfig, so one started by an older slapnode learns them at the next apply_group. (That
// value is %-expanded twice: a literal % is written %%%%.)
Status Supervisor::write_config() {
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
       << "environment=" << kSpaceVariable << "=\" \"," << kTabVariable << "=\"\t\"," << kPercentVariable << "=\"%%%%\"\n"
       << (running_as_root() ? "user=root\n" : "") << "\n"
       << "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
       << "[supervisorctl]\nserverurl=unix://" << escape(run_dir_) << "/supervisord.sock\n\n"
       << "[include]\nfiles=" << escape(run_dir_) << "/programs/*.conf\n";
  auto old = read_file(conf_, 1 << 20);
  if (!old || *old != conf.str()) {
    if (auto st = write_file_atomic(conf_, conf.str(), 0600); !st) return st;
  }
  return {};
}

Status Supervisor::ensure_running() {
  if (auto st = write_config(); !st) return st;
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
  if (auto st = write_config(); !st) return st;  // the variables below may be new to a running supervisord
  std::ostringstream out;
  std::string names;
  for (const auto& p : programs) {
    if (!valid_program_name(p.name)) return make_error(Errc::kInvalid, "bad program name '" + p.name + "'");
    if (!one_line(p.command) || p.command.empty()) return make_error(Errc::kInvalid, "program " + p.name + ": command must be one non-empty line");
    if (!one_line(p.directory) || !one_line(p.user)) return make_error(Errc::kInvalid, "program " + p.name + ": bad directory or user");
    std::string full = group + "-" + p.name;
    names += (names.empty() ? "" : ",") + full;
    auto command = config_value(p.command);
    if (!command) return Error{command.error().code, "program " + p.name + ": " + command.error().detail};
    out << "[program:" << full << "]\n"
        << "command=" << *command << "\n"
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
        auto value = config_value(q);
        if (!value) return Error{value.error().code, "program " + p.name + ": environment " + k + ": " + value.error().detail};
        out << (first ? "" : ",") << k << "=\"" << *value << "\"";
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
  // `supervisorctl update <group>`: reload, then re-create the group if it was added or changed.
  auto reload = call("supervisor.reloadConfig", {});
  if (!reload) return reload.error();
  if (reload->fault) return make_error(Errc::kIo, "reloadConfig: " + reload->fault_string);
  auto listed = [&](size_t which) {
    const XValue& v = reload->value;
    if (v.items.empty() || v.items[0].items.size() < 3) return false;
    for (const auto& n : v.items[0].items[which].items) {
      if (n.text == group) return true;
    }
    return false;
  };
  bool added = listed(0), changed = listed(1), removed = listed(2);
  if (changed || removed) {
    auto stop = call("supervisor.stopProcessGroup", {{group}, {"", true, true}}, 120);
    if (!stop) return stop.error();
    auto rm = call("supervisor.removeProcessGroup", {{group}});
    if (!rm) return rm.error();
    if (rm->fault) return make_error(Errc::kIo, "removeProcessGroup " + group + ": " + rm->fault_string);
  }
  if (added || changed) {
    auto add = call("supervisor.addProcessGroup", {{group}});
    if (!add) return add.error();
    if (add->fault) return make_error(Errc::kIo, "addProcessGroup " + group + ": " + add->fault_string);
  }
  return {};
}

Status Supervisor::remove_group(const std::string& group) { return apply_group(group, {}); }

namespace {
constexpr long kSuccess = 80;  // supervisor.xmlrpc.Faults.SUCCESS
constexpr long kBadName = 10;  // Faults.BAD_NAME: no such group
}  // namespace

Status Supervisor::start_group(const std::string& group) {
  auto r = call("supervisor.startProcessGroup", {{group}, {"", true, true}}, 120);
  if (!r) return r.error();
  if (r->fault) return make_error(Errc::kIo, "start " + group + ": " + r->fault_string);
  for (const auto& item : r->value.items) {
    const auto* status = item.member("status");
    if (status != nullptr && status->number != kSuccess) {
      const auto* name = item.member("name");
      const auto* desc = item.member("description");
      return make_error(Errc::kIo, "start " + group + ":" + (name ? name->text : "?") + ": " + (desc ? desc->text : "failed"));
    }
  }
  return {};
}

Status Supervisor::stop_group(const std::string& group) {
  auto r = call("supervisor.stopProcessGroup", {{group}, {"", true, true}}, 120);
  if (!r) return r.error();
  if (r->fault && r->fault_code != kBadName) return make_error(Errc::kIo, "stop " + group + ": " + r->fault_string);
  return {};
}

Result<std::map<std::string, ProcessStatus>> Supervisor::status() {
  auto r = call("supervisor.getAllProcessInfo", {});
  if (!r) return r.error();
  if (r->fault) return make_error(Errc::kIo, "getAllProcessInfo: " + r->fault_string);
  std::map<std::string, ProcessStatus> out;
  for (const auto& item : r->value.items) {
    const auto* name = item.member("name");
    const auto* group = item.member("group");
    const auto* state = item.member("statename");
    const auto* pid = item.member("pid");
    if (name == nullptr || group == nullptr || state == nullptr) continue;
    out[group->text + ":" + name->text] = ProcessStatus{state->text, pid ? static_cast<int>(pid->number) : 0};
  }
  return out;
}

Status Supervisor::shutdown() {
  if (!answers()) return {};
  auto r = call("supervisor.shutdown", {});
  if (!r) return r.error();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!fs::exists(run_dir_ + "/supervisord.pid")) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return make_error(Errc::kTimeout, "supervisord did not stop");
}

}  // namespace slap::node
