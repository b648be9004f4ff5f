// The tunnel device, created by the runner for a daemon that cannot.
//
// Creating a tun device needs CAP_NET_ADMIN over its network namespace
// (tun_set_iff() in drivers/net/tun.c); using one does not. WireGuard:
// the runner creates a non-persistent device and passes wireguard-go its
// file descriptor, so the kernel removes the device (and every route
// through it) when the daemon dies, as before. OpenVPN cannot be handed a
// descriptor on Linux, so its device is persistent and owned by the
// daemon's uid and gid: tun_not_capable() lets the owner attach to it, and
// nobody else without CAP_NET_ADMIN. The daemon opens it through a clone
// node of its own (the host's /dev/net/tun may be 0600 root).
#pragma once

#include "netlink/netlink.hpp"
#include "sys/unique_fd.hpp"
#include "tunnel/daemon.hpp"

#include <string>

namespace moat::tunnel {

// The runner's environment names its moat instance (state::store's id):
// the device is marked as that instance's (netlink/owner.hpp), and only a
// device of that instance, or without a mark, is deleted.
inline constexpr const char* owner_env = "MOAT_LINK_OWNER";

// Opens the clone device and creates tun device `name` with `flags`
// (IFF_TUN, IFF_NO_PI); it lives as long as the returned fd.
sys::unique_fd create_tun(const std::string& name, short flags);

// Makes it outlive its fd, attachable by `who` alone.
void persist_for(int tun_fd, const daemon_identity& who);

// Deletes the tun device `name` if there is one (a leftover of a runner
// killed with -9); throws if a link of that name is not a tun device, or
// is another instance's.
void delete_tun(netlink::socket& nl, const std::string& name);

// A clone device node (10:200, as /dev/net/tun) at `path`, owned by `who`,
// mode 0600; replaces whatever was there.
void make_clone_node(const std::string& path, const daemon_identity& who);

}  // namespace moat::tunnel
