#include "container/trees.hpp"

#include "sys/error.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace moat::container {

namespace {

int setattr(int fd, std::uint64_t set, int userns, unsigned flags, std::uint64_t propagation = 0) {
    mount_attr attr{};
    attr.attr_set = set;
    attr.propagation = propagation;
    attr.userns_fd = static_cast<std::uint64_t>(userns < 0 ? 0 : userns);
    return static_cast<int>(::syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | flags, &attr, sizeof attr));
}

// Idmaps the whole copy; where the kernel cannot idmap submounts in one
// call, at least the top mount (which is what a bind of one directory is).
bool idmap(int fd, int userns) {
    return setattr(fd, MOUNT_ATTR_IDMAP, userns, AT_RECURSIVE) == 0 || setattr(fd, MOUNT_ATTR_IDMAP, userns, 0) == 0;
}

}  // namespace

cloned_tree clone_tree(const std::string& host_path, const tree_attributes& attrs) {
    cloned_tree t;
    t.fd.reset(static_cast<int>(
        ::syscall(SYS_open_tree, AT_FDCWD, host_path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)));
    if (!t.fd) {
        throw sys::errno_error("making a copy of " + host_path + " for the container");
    }
    struct stat st {};
    if (::fstat(t.fd.get(), &st) == 0) {
        t.directory = S_ISDIR(st.st_mode);
    }
    // The idmap goes first: it must be set on a mount nobody has used yet.
    if (attrs.idmap_userns >= 0) {
        t.idmapped = idmap(t.fd.get(), attrs.idmap_userns);
    }
    // Private, before anything else happens to it: a copy of a shared mount
    // (iproute2 makes /run/netns shared) joins its peer group, and a mount
    // or unmount under the copy would then reach the host's own tree.
    std::uint64_t set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (attrs.read_only ? MOUNT_ATTR_RDONLY : 0);
    if (setattr(t.fd.get(), set, -1, AT_RECURSIVE, MS_PRIVATE) != 0) {
        throw sys::errno_error("setting the attributes of the copy of " + host_path);
    }
    return t;
}

}  // namespace moat::container
