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

#include <string>

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

}  // namespace moat::container
