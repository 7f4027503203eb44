#pragma once
// Paths inside a directory that another user owns (a partition), reached by descriptor: the walk
// goes one component at a time with O_NOFOLLOW from the directory root, so that user swapping a
// directory on the way for a symlink, at any moment, makes root's operation fail instead of
// redirecting it (to /etc, say). Each operation then works relative to the directory descriptor.
#include <sys/stat.h>

#include <optional>
#include <string>

#include "node/status.h"
#include "node/sys.h"

namespace slap::node {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// `rel_dir` relative to `root` ("" for root itself), each component a plain directory. With
// `create`, missing ones are made (0750, chowned to `owner` when given); otherwise kNotFound.
Result<UniqueFd> open_dir_beneath(const std::string& root, const std::string& rel_dir, bool create, const std::optional<Identity>& owner);

// A regular file's identity, to tell it from a new file later written under the same name.
struct FileId {
  uint64_t ino = 0, size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileId&) const = default;
};
FileId file_id(const struct stat& st);

}  // namespace slap::node
