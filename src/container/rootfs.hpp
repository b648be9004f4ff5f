// The container's file system view, built by its init (PID 1, already in
// its own mount namespace and, unless privateUsers = "no", its own user
// namespace) before any service starts.
//
// Theory: the init does not look up host paths to build the root. The host
// side hands it detached mount trees (open_tree(2)) of the root and of each
// bind mount, already read-only and nosuid/nodev where they must be, and
// idmapped (mount_setattr(2) MOUNT_ATTR_IDMAP, Linux 5.12) where the
// container's root must own what it sees (handoff.hpp). The init
//  1. makes every mount private, so nothing propagates back to the host;
//  2. mounts a tmpfs on its own (private) /tmp as scratch, attaches the
//     root tree there — or, for `ephemeral`, an overlay of it whose upper
//     layer lives in that tmpfs and vanishes with the mount namespace;
//  3. covers what must not be shared with the host, always resolving
//     paths inside the new root (inside.hpp): tmpfs on /tmp, /var/tmp and
//     /run; a /dev of its own (a nodev tmpfs with the allowed device nodes
//     bind-mounted from the store the host side made, a new devpts
//     instance, /dev/shm);
//     a fresh /proc with the kernel's knobs read-only and runc's masked
//     paths hidden; /sys read-only; the host's secrets masked (shadow
//     files, SSH host keys, /root, moat's state directory, other pipes'
//     key files and tunnels' files) — with the host's root only;
//  4. writes resolv.conf/hosts into its private /run, copies the key
//     files it was handed into /run/moat/keys (owned by the container's
//     root, mode 0400), attaches the bind mounts (after the masks, so an
//     explicit bind mount wins);
//  5. pivot_root(".", ".") and a lazy unmount of the old root: no path
//     back to the host's tree is left (runc's trick; no put_old directory).
// Every writable mount is nodev and nosuid: device nodes work only where
// moat bound them, and setuid bits never matter (services also run with
// no_new_privs).
#pragma once

#include "plan/plan.hpp"
#include "sys/unique_fd.hpp"

#include <string>
#include <vector>

namespace moat::container {

struct bind_spec {
    sys::unique_fd tree;      // detached mount (open_tree), attributes already set
    std::string mount_point;  // inside
    bool directory = true;
};

struct secret_spec {
    sys::unique_fd source;  // the host's file, opened by the host side
    std::string path;       // where the copy goes inside (under /run)
};

struct rootfs_spec {
    sys::unique_fd root_tree;      // detached mount of the root (host "/" or `root = DIR`)
    bool host_root = true;         // the host's "/": read-only, secrets masked
    bool ephemeral = false;        // an overlay whose upper layer vanishes with the container
    bool private_network = false;  // a network namespace of its own: a fresh sysfs fits it
    bool user_namespace = false;   // the init is root of a user namespace, not of the host
    // moat's tunnel runners: /proc/sys/net writable, and /dev/net a tmpfs of
    // its own that allows device nodes, where a runner makes the clone node
    // (c 10:200, the only one its device filter lets it make) that its
    // unprivileged daemon opens.
    bool tunnel_runners = false;
    sys::unique_fd node_store;       // the device nodes, made by the host side (trees.hpp)
    std::vector<std::string> nodes;  // where each node of the store goes, by index
    std::vector<bind_spec> binds;
    std::vector<secret_spec> secrets;
    std::vector<std::string> tmpfs;  // tmpfs = [...]: an empty tmpfs on each (made in a directory root)
    std::vector<std::string> masks;  // further host paths to hide (key files, tunnel configs)
    std::string state_dir;           // moat's, hidden when the root shows it
    std::vector<std::string> dns;    // non-empty: own /etc/resolv.conf
    std::vector<std::string> dns_search;  // its search line
    std::string hosts;               // non-empty: own /etc/hosts (hosts_file.hpp)
};

// Builds the root and pivots into it. Throws with context on failure.
void setup_rootfs(rootfs_spec& spec);

namespace detail {
// rootfs_kernel.cpp: /dev, /proc, /sys and the masks, under `root` (an
// O_PATH descriptor of the new root, not yet pivoted into).
void setup_dev(int root, const rootfs_spec& spec);
void setup_proc(int root, const rootfs_spec& spec);
void setup_sys(int root, const rootfs_spec& spec);
void mask_host_secrets(int root, const rootfs_spec& spec);
// Hides `path` inside: a file behind /dev/null, a directory behind an empty
// read-only tmpfs. Absent paths are fine.
void mask(int root, const std::string& path);
}  // namespace detail

}  // namespace moat::container
