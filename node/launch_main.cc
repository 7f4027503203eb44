// slapnode-launch: what supervisord runs in place of an instance's program when slapnode keeps CPU
// groups (node/cpu_groups.h). supervisord (root) starts it; it joins the partition's group, drops
// to the partition's user, and becomes the program (exec: same pid, so supervisord's signals and
// process-group kills reach the program as before).
//
//   slapnode-launch --group <cgroup dir> [--user <name>] -- <program> [args...]
//
// Why: supervisord restarts a program that exits (autorestart) on its own, in its own group. Until
// slapnode's next instance pass moved it, such a program and everything it forked ran outside its
// partition's group, and the CPU of whatever exited meanwhile was billed to nobody. Started through
// this, every (re)start is born in the group.
//
// Joining is best effort (the program runs whatever the kernel says; slapnode still moves strays
// after each pass); dropping privileges is not: if the user cannot be taken on exactly, nothing is
// run. libc only: it runs as root with the environment supervisord gives its programs (slapnode's
// own, plus HOME and SLAPNODE_PARTITION).
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

namespace {

constexpr int kUsage = 2;
constexpr int kCannotDrop = 126;  // as a shell says of a command it cannot run
constexpr int kCannotExec = 127;

int usage() {
  fprintf(stderr, "usage: slapnode-launch --group <cgroup dir> [--user <name>] -- <program> [args...]\n");
  return kUsage;
}

// Writes this process's pid into <dir>/cgroup.procs (v1 and v2 alike).
bool join(const char* dir) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= static_cast<int>(sizeof path)) return false;
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char pid[32];
  const int n = snprintf(pid, sizeof pid, "%d\n", static_cast<int>(getpid()));
  const bool ok = write(fd, pid, static_cast<size_t>(n)) == n;
  close(fd);
  return ok;
}

// The user's groups, gid and uid, in that order (after setuid nothing else may be changed), each
// checked: a half-dropped program would run with root's groups.
bool become(const char* name) {
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[16384];
  if (getpwnam_r(name, &pw, buf, sizeof buf, &found) != 0 || found == nullptr) {
    fprintf(stderr, "slapnode-launch: no user '%s'\n", name);
    return false;
  }
  if (initgroups(pw.pw_name, pw.pw_gid) != 0 || setgid(pw.pw_gid) != 0 || setuid(pw.pw_uid) != 0) {
    fprintf(stderr, "slapnode-launch: cannot become '%s': %s\n", name, strerror(errno));
    return false;
  }
  if (getuid() != pw.pw_uid || geteuid() != pw.pw_uid || getgid() != pw.pw_gid || getegid() != pw.pw_gid) {
    fprintf(stderr, "slapnode-launch: '%s' was not taken on exactly\n", name);
    return false;
  }
  if (pw.pw_uid != 0 && setuid(0) == 0) {  // the drop must be for good
    fprintf(stderr, "slapnode-launch: root could be taken back after becoming '%s'\n", name);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const char* group = nullptr;
  const char* user = nullptr;
  int k = 1;
  for (; k < argc; ++k) {
    if (strcmp(argv[k], "--") == 0) {
      ++k;
      break;
    }
    if (k + 1 >= argc) return usage();
    if (strcmp(argv[k], "--group") == 0) group = argv[++k];
    else if (strcmp(argv[k], "--user") == 0) user = argv[++k];
    else return usage();
  }
  if (group == nullptr || group[0] != '/' || k >= argc || argv[k][0] == '\0') return usage();
  if (user != nullptr && user[0] == '\0') return usage();
  if (!join(group)) fprintf(stderr, "slapnode-launch: cannot join %s (%s): slapnode moves it at its next pass\n", group, strerror(errno));
  if (user != nullptr && !become(user)) return kCannotDrop;
  execvp(argv[k], argv + k);
  fprintf(stderr, "slapnode-launch: cannot run %s: %s\n", argv[k], strerror(errno));
  return kCannotExec;
}
