// Paths inside a container's root, resolved against the root rather than
// joined as strings on the host.
//
// Theory: a root the container can write (`root = DIR`, or its own tmpfs
// mounts) may hold symlinks planted by an earlier run of the same
// container, e.g. DIR/etc -> /etc of the host. Resolving "DIR" + "/etc/x"
// as a host path would follow that link out of the root, and `up` would
// then mount over, or create files in, the host's own tree (as crun's
// safe_openat explains). Every path here goes through openat2(2) (Linux
// 5.6) with RESOLVE_IN_ROOT — ".." and absolute symlinks stop at the root,
// as they would for a process chrooted there — and RESOLVE_NO_MAGICLINKS,
// so /proc/<pid>/root-style links cannot jump out either. Missing
// components are created one at a time with mkdirat/openat relative to the
// already-resolved parent, never by path. Mounts go onto the resolved
// descriptor ("/proc/self/fd/N", which names exactly that dentry and mount)
// or through move_mount(2), so nothing is resolved twice.
#pragma once

#include "sys/unique_fd.hpp"

#include <sys/types.h>

#include <string>
#include <string_view>

namespace moat::container::inside {

enum class kind { directory, file };

// An O_PATH descriptor of `path` (absolute, as seen inside) under `root`;
// an invalid descriptor when it does not exist. Throws on other errors.
sys::unique_fd find(int root, std::string_view path);

// As find(), but creates what is missing: directories (mode 0755) and, for
// kind::file, the last component as an empty file (mode 0644). A dangling
// symlink on the way is followed to where it points (inside the root), so
// that e.g. /etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf can
// be provided in the container's own /run. Throws, naming `path`, when a
// component cannot be created (a read-only root, say).
sys::unique_fd make(int root, std::string_view path, kind k);

// "/proc/self/fd/<fd>": the magic link mount(2) follows to exactly `fd`.
std::string fd_path(int fd);

// mount(2) of `source` onto the object `target` refers to; throws with the
// inside path `what` as context.
void mount_on(int target, const std::string& what, const char* source, const char* fstype, unsigned long flags,
              const std::string& data = {});
// Attaches the detached mount tree `tree` (open_tree(2)) onto `target`.
void attach(int tree, int target, const std::string& what);
// Makes the mount at `target` and everything below it read-only (and
// nosuid, nodev), with mount_setattr(2).
void make_read_only(int target, const std::string& what);

// Clears the read-only flag of the mount at `target` alone (a bind mount
// starts with its source's flags).
void make_writable(int target, const std::string& what);

bool is_directory(int fd);

}  // namespace moat::container::inside
