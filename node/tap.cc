#include "node/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "node/netlink.h"

namespace slap::node {

namespace {

Status create_persistent_tap(const std::string& name, const Identity& owner) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return make_error(Errc::kIo, std::string("open /dev/net/tun: ") + std::strerror(errno) + " (is the tun module available?)");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  auto fail = [&](const char* what) {
    int err = errno;
    ::close(fd);
    return make_error(Errc::kIo, std::string(what) + " " + name + ": " + std::strerror(err));
  };
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0) return fail("TUNSETIFF");
  if (::ioctl(fd, TUNSETOWNER, static_cast<unsigned long>(owner.uid)) != 0) return fail("TUNSETOWNER");
  if (::ioctl(fd, TUNSETGROUP, static_cast<unsigned long>(owner.gid)) != 0) return fail("TUNSETGROUP");
  // Persistent: the device outlives this descriptor (and slapnode).
  if (::ioctl(fd, TUNSETPERSIST, 1UL) != 0) return fail("TUNSETPERSIST");
  ::close(fd);
  return {};
}

}  // namespace

Result<bool> ensure_tap(const std::string& name, const Identity& owner) {
  auto link = get_link(name);
  if (!link) return link.error();
  bool created = false;
  if (!*link) {
    if (auto st = create_persistent_tap(name, owner); !st) return st.error();
    created = true;
    link = get_link(name);
    if (!link) return link.error();
    if (!*link) return make_error(Errc::kIo, name + " missing right after TUNSETIFF");
  } else {
    const LinkInfo& li = **link;
    if (li.kind != "tun" || (li.tun_type != 0 && li.tun_type != IFF_TAP)) {
      return make_error(Errc::kInvalid, "interface " + name + " exists and is not a tap (kind '" + li.kind +
                                            "'): remove it (ip link del " + name + ") or disable tap");
    }
    if (li.tun_owner && *li.tun_owner != owner.uid) {
      return make_error(Errc::kInvalid, "tap " + name + " is owned by uid " + std::to_string(*li.tun_owner) +
                                            ", not uid " + std::to_string(owner.uid) + ": remove it (ip link del " + name +
                                            ") and format again");
    }
  }
  if (!(*link)->up) {
    if (auto st = set_link_up((*link)->index); !st) return st.error();
  }
  return created;
}

}  // namespace slap::node
