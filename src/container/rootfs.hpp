// The container's file system view, built by its init (PID 1, already in
// its own mount namespace) before any service starts.
//
// Theory: the root (the host's "/" by default, or `root = DIR`) is
// bind-mounted recursively onto a staging directory and, for the host's
// root, made read-only recursively with mount_setattr(2) (Linux 5.12) so
// that no submount stays writable. Fresh instances then cover what must not
// be shared with the host: tmpfs on /tmp, /run and /var/tmp, a minimal /dev
// (bind-mounted device nodes, a new devpts instance, /dev/shm), a new /proc
// for the container's PID namespace and a read-only /sys. Bind mounts from
// the config come last so they can be writable inside a read-only root.
// Finally pivot_root(".", ".") + a lazy unmount of the old root leaves no
// path back to the host's tree (the trick runc uses; no put_old directory).
// Mount propagation is made private first so nothing leaks back to the host.
#pragma once

#include <string>
#include <vector>

namespace moat::container {

struct bind_spec {
    std::string host_path;
    std::string mount_point;
    bool read_only = true;
};

struct rootfs_spec {
    std::string root = "/";       // what becomes "/"
    bool read_only = true;        // recursive read-only (always for the host's root)
    bool ephemeral = false;       // writes go to a tmpfs overlay and vanish with the container
    std::string staging;          // an existing empty directory to assemble the root in
    std::vector<bind_spec> binds;
    std::vector<std::string> dns; // non-empty: own /etc/resolv.conf
    std::string hostname;         // for /etc/hosts when dns is set
    std::vector<std::string> local_addresses;  // for /etc/hosts
    bool tun = false;             // /dev/net/tun too (moat's tunnel daemons)
};

// Builds the root and pivots into it. Throws with context on failure.
void setup_rootfs(const rootfs_spec& spec);

}  // namespace moat::container
