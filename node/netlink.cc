#include "node/netlink.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace slap::node {

namespace {

// Bounds: one reply buffer, and a dump of at most this many messages (an interface with more
// addresses than this is not one a node formats).
constexpr size_t kBufferBytes = 64 * 1024;
constexpr int kMaxDumpMessages = 100'000;

// One reply buffer per thread, shared by every request.
alignas(NLMSG_ALIGNTO) thread_local char g_reply[kBufferBytes];

class Socket {
 public:
  Socket() : fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {
    if (fd_ >= 0) {
      timeval tv{5, 0};  // the kernel answers at once; a stuck read is a bug, not a wait
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

Error sys_error(const std::string& what, int err) { return make_error(Errc::kIo, what + ": " + std::strerror(err)); }

// A request: header, fixed part, then attributes appended with add().
struct Request {
  alignas(NLMSG_ALIGNTO) char buf[512] = {};
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf); }
  template <typename T>
  T* body() { return reinterpret_cast<T*>(NLMSG_DATA(hdr())); }
  Request(uint16_t type, uint16_t flags, size_t body_size) {
    hdr()->nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(body_size));
    hdr()->nlmsg_type = type;
    hdr()->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
    hdr()->nlmsg_seq = 1;
  }
  void add(uint16_t type, const void* data, size_t len) {
    auto* a = reinterpret_cast<rtattr*>(buf + NLMSG_ALIGN(hdr()->nlmsg_len));
    a->rta_type = type;
    a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    std::memcpy(RTA_DATA(a), data, len);
    hdr()->nlmsg_len = static_cast<uint32_t>(NLMSG_ALIGN(hdr()->nlmsg_len) + RTA_ALIGN(a->rta_len));
  }
};

// Sends `req` and calls on_msg for every answer until DONE (dumps) or the ACK/error (others).
// Returns the kernel's error number (0 = success) in `kernel_error`.
template <typename F>
Status transact(Request& req, F&& on_msg, int& kernel_error) {
  Socket s;
  if (s.fd() < 0) return sys_error("netlink socket", errno);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(s.fd(), req.buf, req.hdr()->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    return sys_error("netlink send", errno);
  }
  kernel_error = 0;
  char* buf = g_reply;
  for (int seen = 0; seen < kMaxDumpMessages;) {
    ssize_t n = ::recv(s.fd(), buf, kBufferBytes, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("netlink receive", errno);
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len), ++seen) {
      if (h->nlmsg_type == NLMSG_DONE) return {};
      if (h->nlmsg_type == NLMSG_ERROR) {
        kernel_error = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
        return {};
      }
      on_msg(h);
    }
  }
  return make_error(Errc::kIo, "netlink dump longer than the bound");
}

void parse_linkinfo(const rtattr* info, LinkInfo& out) {
  int len = static_cast<int>(RTA_PAYLOAD(info));
  for (auto* a = static_cast<const rtattr*>(RTA_DATA(info)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == IFLA_INFO_KIND) {
      out.kind.assign(static_cast<const char*>(RTA_DATA(a)), strnlen(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a)));
    } else if (a->rta_type == IFLA_INFO_DATA) {
      int dlen = static_cast<int>(RTA_PAYLOAD(a));
      for (auto* d = static_cast<const rtattr*>(RTA_DATA(a)); RTA_OK(d, dlen); d = RTA_NEXT(d, dlen)) {
        if (d->rta_type == IFLA_TUN_TYPE && RTA_PAYLOAD(d) >= 1) out.tun_type = *static_cast<const uint8_t*>(RTA_DATA(d));
        if (d->rta_type == IFLA_TUN_OWNER && RTA_PAYLOAD(d) >= 4) {
          uint32_t uid = 0;
          std::memcpy(&uid, RTA_DATA(d), 4);
          if (uid != static_cast<uint32_t>(-1)) out.tun_owner = uid;
        }
      }
    }
  }
}

}  // namespace

Result<std::optional<LinkInfo>> get_link(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return make_error(Errc::kInvalid, "bad interface name '" + name + "'");
  // NLM_F_ACK: the answer to a plain GET is one message; the ACK after it ends the read.
  Request req(RTM_GETLINK, NLM_F_ACK, sizeof(ifinfomsg));
  req.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  req.add(IFLA_IFNAME, name.c_str(), name.size() + 1);
  std::optional<LinkInfo> found;
  int kerr = 0;
  auto st = transact(req, [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWLINK) return;
    const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    LinkInfo li;
    li.index = ifi->ifi_index;
    li.up = (ifi->ifi_flags & IFF_UP) != 0;
    int len = static_cast<int>(IFLA_PAYLOAD(h));
    for (auto* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == IFLA_LINKINFO) parse_linkinfo(a, li);
      if (a->rta_type == IFLA_STATS64 && RTA_PAYLOAD(a) >= sizeof(rtnl_link_stats64)) {
        rtnl_link_stats64 s;
        std::memcpy(&s, RTA_DATA(a), sizeof s);
        li.rx_bytes = s.rx_bytes;
        li.tx_bytes = s.tx_bytes;
      }
    }
    found = li;
  }, kerr);
  if (!st) return st.error();
  if (kerr == ENODEV) return std::optional<LinkInfo>{};
  if (kerr != 0) return sys_error("netlink get link " + name, kerr);
  return found;
}

Result<std::vector<InterfaceAddress>> list_addresses(int ifindex) {
  Request req(RTM_GETADDR, NLM_F_DUMP, sizeof(ifaddrmsg));
  req.body<ifaddrmsg>()->ifa_family = AF_UNSPEC;
  std::vector<InterfaceAddress> out;
  int kerr = 0;
  auto st = transact(req, [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWADDR) return;
    const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
    if (ifindex != 0 && static_cast<int>(ifa->ifa_index) != ifindex) return;
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return;
    uint32_t flags = ifa->ifa_flags;
    const void* addr = nullptr;
    int len = static_cast<int>(IFA_PAYLOAD(h));
    for (auto* a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      // IFA_LOCAL is the interface's own address on point-to-point links; IFA_ADDRESS elsewhere.
      if (a->rta_type == IFA_LOCAL || (a->rta_type == IFA_ADDRESS && addr == nullptr)) addr = RTA_DATA(a);
      if (a->rta_type == IFA_FLAGS && RTA_PAYLOAD(a) >= 4) std::memcpy(&flags, RTA_DATA(a), 4);
    }
    if (addr == nullptr) return;
    char text[INET6_ADDRSTRLEN] = {};
    if (::inet_ntop(ifa->ifa_family, addr, text, sizeof text) == nullptr) return;
    InterfaceAddress ia;
    ia.ifindex = static_cast<int>(ifa->ifa_index);
    ia.family = ifa->ifa_family;
    ia.address = text;
    ia.prefix = ifa->ifa_prefixlen;
    ia.global = ifa->ifa_scope == RT_SCOPE_UNIVERSE;
    ia.usable_prefix = (flags & (IFA_F_TEMPORARY | IFA_F_DEPRECATED | IFA_F_TENTATIVE | IFA_F_DADFAILED)) == 0;
    out.push_back(std::move(ia));
  }, kerr);
  if (!st) return st.error();
  if (kerr != 0) return sys_error("netlink list addresses", kerr);
  return out;
}

Result<bool> add_address(int ifindex, const std::string& address, int prefix) {
  const bool v6 = address.find(':') != std::string::npos;
  unsigned char bytes[16] = {};
  if (::inet_pton(v6 ? AF_INET6 : AF_INET, address.c_str(), bytes) != 1) {
    return make_error(Errc::kInvalid, "bad address '" + address + "'");
  }
  Request req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, sizeof(ifaddrmsg));
  auto* ifa = req.body<ifaddrmsg>();
  ifa->ifa_family = v6 ? AF_INET6 : AF_INET;
  ifa->ifa_prefixlen = static_cast<unsigned char>(prefix);
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_flags = v6 ? IFA_F_NODAD : 0;
  const size_t n = v6 ? 16 : 4;
  req.add(IFA_LOCAL, bytes, n);
  req.add(IFA_ADDRESS, bytes, n);
  int kerr = 0;
  auto st = transact(req, [](const nlmsghdr*) {}, kerr);
  if (!st) return st.error();
  if (kerr == EEXIST) return false;
  if (kerr != 0) return sys_error("adding " + address + "/" + std::to_string(prefix), kerr);
  return true;
}

Status set_link_up(int ifindex) {
  Request req(RTM_NEWLINK, NLM_F_ACK, sizeof(ifinfomsg));
  auto* ifi = req.body<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  int kerr = 0;
  auto st = transact(req, [](const nlmsghdr*) {}, kerr);
  if (!st) return st;
  if (kerr != 0) return sys_error("setting link " + std::to_string(ifindex) + " up", kerr);
  return {};
}

}  // namespace slap::node
