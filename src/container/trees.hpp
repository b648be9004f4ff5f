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
#pragma once

#include "sys/unique_fd.hpp"

#include <sys/types.h>

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
