// The host side's part in building a container's root: detached copies of
// the mounts it is made of, with the attributes they must have, opened
// with the host's privileges and handed to the init (handoff.hpp).
//
// open_tree(2) with OPEN_TREE_CLONE (Linux 5.2) makes a private copy of a
// mount (AT_RECURSIVE: with its submounts) that is attached nowhere yet;
// mount_setattr(2) (5.12) changes the whole copy at once — read-only,
// nosuid, nodev — or idmaps it: MOUNT_ATTR_IDMAP with the container's user
// namespace makes files owned by host uid N appear owned by uid N inside
// and files the container creates land as uid N on disk. That is what a
// bind mount (and a `root = DIR`) needs, so that the container's root owns
// what the user meant it to own; the host's own root is never idmapped
// (that is what keeps its root-only files closed). A file system that
// cannot be idmapped (the kernel says EINVAL) is bound as it is, and the
// caller says so.
//
// The host's own root is copied without what the init replaces
// (clone_host_root): the root mount alone, with each of the host's other
// mounts attached where it is. Copying the whole tree and detaching the
// host's /proc, /sys, /dev... from the copy afterwards costs an expedited
// RCU grace period per umount2 (namespace_unlock(), fs/namespace.c:
// 0.3-2 ms each, about 5 per container); attaching (move_mount(2) onto a
// mount of a detached tree, Linux 6.15) waits for nothing.
#pragma once

#include "sys/unique_fd.hpp"

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace moat::container {

struct tree_attributes {
    bool read_only = false;
    int idmap_userns = -1;  // a user namespace fd: idmap through it; -1: no idmap
};

struct cloned_tree {
    sys::unique_fd fd;
    bool directory = true;
    bool idmapped = false;
};

// A detached recursive copy of the mount at `host_path` (private, nosuid,
// nodev, plus `attrs`); throws naming `host_path` when it cannot be made.
cloned_tree clone_tree(const std::string& host_path, const tree_attributes& attrs);

// The host paths a container never sees the host's mounts of: its init
// mounts its own instances there (rootfs.hpp). Each covers what is below it.
inline constexpr std::array<const char*, 6> replaced_host_paths = {"/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp"};

// A detached copy of the host's "/" (attributes as clone_tree) holding the
// host's mounts except those on or under replaced_host_paths: the root
// mount alone, and onto it each other mount, cloned whole (AT_RECURSIVE)
// where no replaced path lies below it and alone where one does ("/var"
// with "/var/tmp"), then its own submounts likewise. Each mount is cloned
// through a descriptor whose mount id is checked against the mount table
// just read, so a mount that changed meanwhile is never taken for another;
// one the host does not see (another mount hides it) is left out.
// Where that cannot be done (a kernel before 6.15, a mount table that
// changed under it, a symlink on a mount point), the whole tree as
// clone_tree("/") makes it, from which the init detaches the replaced
// paths' mounts (it checks for them in either case).
cloned_tree clone_host_root(const tree_attributes& attrs);

// A device node the container's /dev gets (its name in the store, the path
// inside, and what it is).
struct device_node {
    std::string path;  // inside: "/dev/null", "/dev/net/tun"
    char type = 'c';
    std::uint32_t major = 0;
    std::uint32_t minor = 0;
    mode_t mode = 0666;
};

// The device nodes of a container, made by the host side on a tmpfs of
// their own that is mounted nowhere (fsopen/fsmount, Linux 5.2): in a user
// namespace the container could not make them, and the host's own nodes
// would show as owned by nobody (a 0600 /dev/net/tun would not open) —
// devtmpfs cannot be idmapped. Each node is named by its index in `nodes`
// and owned by `owner` (the container's root). The init binds each onto its
// /dev, whose own tmpfs stays nodev; the device filter decides what opens.
sys::unique_fd make_node_store(const std::vector<device_node>& nodes, uid_t owner);

}  // namespace moat::container
