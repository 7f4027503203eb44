#include "node/beneath.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace slap::node {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<UniqueFd> open_dir_beneath(const std::string& root, const std::string& rel_dir, bool create, const std::optional<Identity>& owner) {
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0) return make_error(errno == ENOENT ? Errc::kNotFound : Errc::kIo, "open " + root + ": " + std::strerror(errno));
  std::string cur = root;
  for (const auto& part : std::filesystem::path(rel_dir)) {
    const std::string name = part.string();
    if (name.empty() || name == ".") continue;
    if (name == "..") return make_error(Errc::kInvalid, "refused path " + rel_dir);
    cur += "/" + name;
    int next = ::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT) {
      if (!create) return make_error(Errc::kNotFound, cur + " does not exist");
      const bool made = ::mkdirat(dir.get(), name.c_str(), 0750) == 0;
      if (!made && errno != EEXIST) return make_error(Errc::kIo, "mkdir " + cur + ": " + std::strerror(errno));
      next = ::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next >= 0 && made && owner) (void)::fchown(next, owner->uid, owner->gid);
    }
    if (next < 0) return make_error(Errc::kInvalid, cur + " is not a plain directory");
    dir = UniqueFd(next);
  }
  return dir;
}

FileId file_id(const struct stat& st) {
  return FileId{static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

}  // namespace slap::node
