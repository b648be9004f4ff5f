#include "container/trees.hpp"

#include "sys/error.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

sys::unique_fd make_node_store(const std::vector<device_node>& nodes, uid_t owner) {
    sys::unique_fd fs(static_cast<int>(::syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC)));
    if (!fs || ::syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_STRING, "size", "64k", 0) != 0 ||
        ::syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
        throw sys::errno_error("making a tmpfs for the container's device nodes");
    }
    sys::unique_fd store(static_cast<int>(
        ::syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC)));
    if (!store) {
        throw sys::errno_error("mounting the tmpfs for the container's device nodes");
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const auto& n = nodes[i];
        std::string name = std::to_string(i);
        mode_t type = n.type == 'b' ? S_IFBLK : S_IFCHR;
        if (::mknodat(store.get(), name.c_str(), type | (n.mode & 0777), ::makedev(n.major, n.minor)) != 0 ||
            ::fchownat(store.get(), name.c_str(), owner, owner, AT_SYMLINK_NOFOLLOW) != 0 ||
            ::fchmodat(store.get(), name.c_str(), n.mode & 0777, 0) != 0) {
            throw sys::errno_error("making " + n.path + " for the container");
        }
    }
    return store;
}

}  // namespace moat::container
