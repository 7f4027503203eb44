#pragma once
// Tap interfaces for partitions (`tap = yes`): slaptapN, persistent, owned by slapuserN so that
// software in the partition (a VM, a VPN) can attach to it without privileges, and up. Created
// with the TUNSETIFF ioctl on /dev/net/tun, the kernel interface `ip tuntap add` uses. Needs root
// (CAP_NET_ADMIN).
#include <string>

#include "node/status.h"
#include "node/sys.h"

namespace slap::node {

// Creates `name` when missing; returns whether it did. An existing tap owned by `owner` is left
// as it is (only brought up if it is down); an interface of that name that is not a tap, or a tap
// owned by someone else, is an error naming what to do — format never deletes an interface.
Result<bool> ensure_tap(const std::string& name, const Identity& owner);

}  // namespace slap::node
