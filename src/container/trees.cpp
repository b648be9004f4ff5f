#include "container/trees.hpp"

#include "sys/error.hpp"

#include "sys/fs.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <sstream>

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

namespace {

// Copies the mount `dir`/`path` names (with its submounts if `recursive`),
// then sets `attrs` on the copy; `what` names it in errors.
cloned_tree clone_at(int dir, const char* path, unsigned flags, bool recursive, const tree_attributes& attrs,
                     const std::string& what) {
    cloned_tree t;
    t.fd.reset(static_cast<int>(::syscall(SYS_open_tree, dir, path,
                                          flags | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0))));
    if (!t.fd) {
        throw sys::errno_error("making a copy of " + what + " for the container");
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
        throw sys::errno_error("setting the attributes of the copy of " + what);
    }
    return t;
}

}  // namespace

cloned_tree clone_tree(const std::string& host_path, const tree_attributes& attrs) {
    return clone_at(AT_FDCWD, host_path.c_str(), 0, true, attrs, host_path);
}

namespace {

// One line of /proc/self/mountinfo: "id parent major:minor root point ...".
struct mount_entry {
    int id = 0;
    int parent = 0;
    std::string point;
};

std::vector<mount_entry> read_mount_table() {
    std::vector<mount_entry> out;
    std::istringstream info(sys::read_file("/proc/self/mountinfo"));
    for (std::string line; std::getline(info, line);) {
        std::istringstream f(line);
        mount_entry m;
        std::string device, root, point;
        if (f >> m.id >> m.parent >> device >> root >> point) {
            m.point = sys::unescape_mountinfo(point);
            out.push_back(std::move(m));
        }
    }
    return out;
}

bool under(const std::string& path, const std::string& dir) {
    return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                           (dir == "/" || path[dir.size()] == '/'));
}

bool replaced(const std::string& point) {
    return std::any_of(replaced_host_paths.begin(), replaced_host_paths.end(),
                       [&](const char* r) { return under(point, r); });
}

// Whether a replaced path lies strictly below `point` ("/", "/var").
bool holds_replaced(const std::string& point) {
    return std::any_of(replaced_host_paths.begin(), replaced_host_paths.end(),
                       [&](const char* r) { return point != r && under(r, point); });
}

// The mount id statx(2) gives for `fd` (STATX_MNT_ID, Linux 5.8): the
// first field of mountinfo.
std::optional<int> mount_id(int fd) {
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) != 0 || !(stx.stx_mask & STATX_MNT_ID)) {
        return std::nullopt;
    }
    return static_cast<int>(stx.stx_mnt_id);
}

// `path` under `dir`, no symlink followed (mountinfo's points are
// canonical): an O_PATH descriptor, invalid when that cannot be.
sys::unique_fd open_exact(int dir, const std::string& path, std::uint64_t resolve) {
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = resolve | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return sys::unique_fd(static_cast<int>(::syscall(SYS_openat2, dir, path.c_str(), &how, sizeof how)));
}

// Not in this kernel (before 6.15, move_mount(2) onto a detached tree is
// EINVAL): learnt once per process.
bool assembly_unsupported = false;

class root_assembly {
public:
    explicit root_assembly(const tree_attributes& attrs) : _attrs(attrs), _mounts(read_mount_table()) {}

    // False where the copy cannot be made this way; the caller falls back.
    bool build(cloned_tree& root) {
        auto top = mount_id(open_exact(AT_FDCWD, "/", 0).get());
        const mount_entry* r = top ? find(*top) : nullptr;
        if (!r || r->point != "/") {
            return false;
        }
        root = clone_at(AT_FDCWD, "/", 0, false, _attrs, "/");
        _root = root.fd.get();
        return attach_children(*r);
    }

private:
    const mount_entry* find(int id) const {
        auto it = std::find_if(_mounts.begin(), _mounts.end(), [&](const auto& m) { return m.id == id; });
        return it == _mounts.end() ? nullptr : &*it;
    }

    // The mount seen at `m`'s point: the last of those stacked on it.
    const mount_entry& visible(const mount_entry& m) const {
        for (const auto& c : _mounts) {
            if (c.parent == m.id && c.point == m.point) {
                return visible(c);
            }
        }
        return m;
    }

    bool attach_children(const mount_entry& parent) {
        for (const auto& c : _mounts) {
            if (c.parent != parent.id || c.point == parent.point || replaced(c.point)) {
                continue;
            }
            const auto& m = visible(c);
            bool whole = !holds_replaced(m.point);
            if (!attach(m, whole) || (!whole && !attach_children(m))) {
                return false;
            }
        }
        return true;
    }

    bool attach(const mount_entry& m, bool recursive) {
        // Another mount may hide this one (mounted later on a directory
        // above it): the host does not see it, nor would the container in a
        // whole copy. The same holds for one unmounted since the table was
        // read. Either way it is left out.
        auto source = open_exact(AT_FDCWD, m.point, 0);
        if (!source || mount_id(source.get()) != m.id) {
            return true;
        }
        cloned_tree copy;
        try {
            copy = clone_at(source.get(), "", AT_EMPTY_PATH, recursive, _attrs, m.point);
        } catch (const std::system_error&) {
            return false;  // e.g. an unbindable mount, which a whole copy leaves out
        }
        auto target = open_exact(_root, m.point.substr(1), RESOLVE_BENEATH);
        if (!target) {
            return false;
        }
        if (::syscall(SYS_move_mount, copy.fd.get(), "", target.get(), "",
                      MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
            assembly_unsupported = errno == EINVAL;
            return false;
        }
        return true;
    }

    tree_attributes _attrs;
    std::vector<mount_entry> _mounts;
    int _root = -1;
};

}  // namespace

cloned_tree clone_host_root(const tree_attributes& attrs) {
    if (!assembly_unsupported && attrs.idmap_userns < 0) {
        cloned_tree root;
        if (root_assembly(attrs).build(root)) {
            return root;
        }
    }
    return clone_tree("/", attrs);
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
