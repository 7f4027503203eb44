#pragma once
// Drives the real supervisord (Debian `supervisor`): slapnode writes its configuration and one
// file per partition group under the run directory, starts it if its socket does not answer, and
// talks to it with its XML-RPC interface on the unix socket (what `supervisorctl -c <conf>`
// uses; no Python start-up per call). supervisord daemonizes, so instances keep running while
// slapnode restarts.
#include <map>
#include <string>
#include <vector>

#include "node/status.h"

namespace slap::node {

struct ProgramSpec {
  std::string name;       // [A-Za-z0-9_-]+, unique in its group
  std::string command;    // one line, shell-quoted arguments
  std::string directory;
  std::string user;       // empty: supervisord's own user
  std::map<std::string, std::string> environment;
  int startsecs = 1;
};

struct ProcessStatus {
  std::string state;  // RUNNING, STARTING, STOPPED, EXITED, FATAL, BACKOFF, ...
  int pid = 0;
};

class Supervisor {
 public:
  explicit Supervisor(std::string run_dir);

  const std::string& config_path() const { return conf_; }
  // Writes supervisord.conf if needed and starts supervisord unless it answers.
  Status write_config();
  Status ensure_running();
  bool answers();
  // supervisord's own pid (its programs are its children).
  Result<int> pid();

  // Writes programs/<group>.conf (replacing it) and applies it like `supervisorctl update
  // <group>`: a changed group is stopped and re-added, an unchanged one is left running.
  Status apply_group(const std::string& group, const std::vector<ProgramSpec>& programs);
  // Removes the group's file and applies (stops its processes).
  Status remove_group(const std::string& group);
  Status start_group(const std::string& group);
  Status stop_group(const std::string& group);
  // "group:program" -> status for everything supervisord runs.
  Result<std::map<std::string, ProcessStatus>> status();
  // Stops supervisord and every process (tests, and `slapnode` never does this on its own).
  Status shutdown();

 private:
  struct Param {
    std::string text;
    bool is_bool = false;
    bool flag = false;
  };
  struct Reply;
  Result<Reply> call(const std::string& method, const std::vector<Param>& params, int timeout_s = 60);

  std::string run_dir_;
  std::string conf_;
};

bool valid_program_name(const std::string& s);

}  // namespace slap::node
