#pragma once
// Local system helpers: hashing, whole-file I/O, and running a command with a deadline, an
// optional identity drop and its output sent to a log file or captured (bounded).
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "node/status.h"

namespace slap::node {

std::string sha256_hex(std::string_view bytes);
Result<std::string> sha256_file(const std::string& path);

inline constexpr size_t kMaxReadBytes = 64u << 20;
Result<std::string> read_file(const std::string& path, size_t max_bytes = kMaxReadBytes);
// Writes to path.tmp then renames; mode applied before the rename.
Status write_file_atomic(const std::string& path, std::string_view content, mode_t mode = 0644);
// Writes all of `content` to `fd`, sets `mode` and fsyncs: a temporary file ready to be renamed
// into place. `what` names it in errors.
Status write_synced(int fd, std::string_view content, mode_t mode, const std::string& what);

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
};
// The uid/gid of a system user, or nullopt.
std::optional<Identity> lookup_user(const std::string& name);
bool running_as_root();

struct Command {
  std::vector<std::string> argv;
  std::string cwd;                       // empty: inherit
  std::vector<std::string> env;          // "KEY=VALUE" added to (or replacing in) the environment
  std::string log_path;                  // stdout+stderr appended here; empty: /dev/null or capture
  bool capture = false;                  // collect stdout+stderr into CommandResult::output
  size_t capture_limit = 1 << 20;        // bytes kept when capturing
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};
  std::optional<Identity> as;            // drop to this identity before exec (needs root)
};

struct CommandResult {
  int exit_code = -1;  // exit status, or 128+signal
  std::string output;  // when capture
};

// kTimeout when the deadline passes (the whole process group is killed), kIo when it cannot start,
// kCancelled once a stop was requested (the group gets SIGTERM, then SIGKILL after 5 s; no new
// command starts).
Result<CommandResult> run_command(const Command& cmd);

// Asks every running and future run_command to stop (async-signal-safe: slapnode's SIGINT and
// SIGTERM handler calls it). A child runs in a process group of its own, so a terminal's Ctrl-C
// never reaches it: without this, an interrupted `slapnode software` left its build running as
// an orphan, writing into the tree the next build wipes and rebuilds.
void request_stop() noexcept;
bool stop_requested() noexcept;

// Last `max_bytes` of a file (for build error reports).
std::string file_tail(const std::string& path, size_t max_bytes);

// Creates `dir` if missing (mode 0700) and checks that it is a directory, not a symlink, owned by
// this process's effective uid; its mode is reset to 0700. kInvalid when it is anything else.
Status ensure_private_dir(const std::string& dir);

// One slapnode at a time per computer: an exclusive flock(2) on `path` (created 0600), held until
// the process ends (the descriptor is never closed). When another process holds it (two report
// passes would measure from the same baselines and bill twice, two software passes build into the
// same directories): fails at once, naming the holder's pid, or, with `keep_waiting`, waits for it
// as long as keep_waiting() says so (the daemon, beside a manual command).
Status lock_exclusive(const std::string& path, const std::function<bool()>& keep_waiting = {});
// ensure_private_dir on a partition's state directory (NodeConfig::partition_state_path) and on
// its parent, the state root: what slapnode writes there no partition user can alter.
Status ensure_state_dir(const std::string& dir);
// Writes `name` in a partition's state directory (ensured first), mode 0600, never chowned to the
// partition's user: the one way the node keeps its per-partition records.
Status write_state_file(const std::string& state_dir, const std::string& name, std::string_view content);

// Removes everything inside `dir`, keeping `dir` itself. Never follows symlinks.
Status wipe_directory_contents(const std::string& dir);

// Kills (SIGKILL) every process whose real, effective or saved uid is `uid`, non-dumpable ones
// included, scanning /proc again until a scan finds none (privileged mode: a destroyed partition's
// user keeps nothing running; unprivileged partitions share slapnode's uid and rely on supervisord).
void kill_user_processes(uid_t uid);

// Sum of the allocated bytes of the files under `dir` (st_blocks * 512), not following symlinks.
uint64_t disk_usage_bytes(const std::string& dir);

}  // namespace slap::node
