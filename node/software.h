#pragma once
// Software releases: each URL is built once into <software root>/<sha256 of URL>/ following its
// profile's [buildout] parts (node/RELEASE_FORMAT.md), then marked installed. A build without the
// marker is wiped and started again on the next pass. Builds never run as root: when `build_as`
// is set every command drops to that identity, and the release directory belongs to it. The
// node's records of a release (url, installed marker, profile.cfg, build.log, downloads/) are kept
// out of that directory, in <software root>/.meta/<sha256 of URL>/, which only slapnode writes.
#include <chrono>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "node/profile.h"
#include "node/sys.h"
#include "node/view.h"

namespace slap::node {

class SlapClient;

struct SoftwareOptions {
  std::string software_root;
  std::optional<Identity> build_as;
  std::chrono::seconds build_timeout{3600};
};

std::string software_dir(const std::string& software_root, const std::string& url);
bool software_installed(const std::string& software_root, const std::string& url);
// The merged profile stored at install time (instances never fetch the URL again).
Result<Profile> installed_profile(const std::string& software_root, const std::string& url);

class SoftwareBuilder {
 public:
  SoftwareBuilder(SoftwareOptions opts, FetchFn fetch) : opts_(std::move(opts)), fetch_(std::move(fetch)) {}

  // true: built now; false: already installed. On failure the directory stays unmarked.
  Result<bool> install(const std::string& url);
  Status remove(const std::string& url);
  std::string log_path(const std::string& url) const;
  // URL -> directory of every release directory slapnode made under the root.
  std::map<std::string, std::string> known_releases() const;
  const SoftwareOptions& options() const { return opts_; }

 private:
  Status build(const std::string& url, const std::string& dir);
  Status run_part(const Profile& p, const Substituter& sub, const std::string& part, const std::string& dir,
                  const std::string& meta, const std::string& log);
  Result<std::string> download(const std::string& url, const std::string& sha256, const std::string& dest);
  Status run(const std::vector<std::string>& argv, const std::string& cwd, const std::string& log,
             const std::string& what);
  // Inside the release directory: done by a child running as the build user (when set), so that
  // nothing runs as root through a path the build user controls.
  Status tree_mkdirs(const std::string& path, const std::string& dir, const std::string& log);
  Status tree_install(const std::string& src, const std::string& dest, mode_t mode, const std::string& dir,
                      const std::string& log);
  Status tree_remove(const std::string& path, const std::string& dir, const std::string& log);

  SoftwareOptions opts_;
  FetchFn fetch_;
};

// One software pass over the view: install what is available, remove what is destroyed or no
// longer listed, report states. `reported` remembers states already sent (daemon mode).
// A release in `in_use` (what partitions run here or were told to run) is never removed: its
// removal waits for the pass after the last partition running it was destroyed.
struct SoftwarePassResult {
  int built = 0, failed = 0, removed = 0, kept_in_use = 0;
  bool master_unreachable = false;
};
SoftwarePassResult run_software_pass(const ComputerView& view, SoftwareBuilder& builder, SlapClient& client,
                                     std::map<std::string, std::string>* reported, const std::set<std::string>& in_use = {});

}  // namespace slap::node
