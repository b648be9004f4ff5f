#include "container/rootfs.hpp"

#include "container/inside.hpp"
#include "container/trees.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <sstream>
#include <vector>

namespace moat::container {

namespace {

using inside::kind;

// The init's scratch space: its own /tmp, in its private mount namespace
// (bubblewrap builds its root in the same place). Nothing there is ever
// seen by the host, and it goes with the mount namespace.
constexpr const char* scratch = "/tmp";
constexpr const char* staging = "/tmp/root";

void do_mount(const char* src, const char* dst, const char* fstype, unsigned long flags, const std::string& data = {}) {
    if (::mount(src, dst, fstype, flags, data.empty() ? nullptr : data.c_str()) != 0) {
        throw sys::errno_error(std::string("mounting ") + (fstype ? fstype : src ? src : "") + " on " + dst);
    }
}

sys::unique_fd open_path(const std::string& path) {
    sys::unique_fd fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        throw sys::errno_error("opening " + path);
    }
    return fd;
}

// Ephemeral: an overlay whose upper layer is a tmpfs that dies with the
// mount namespace, so nothing the container writes survives it.
void mount_root(rootfs_spec& spec) {
    sys::check(::mkdir(staging, 0755), std::string("creating ") + staging);
    if (!spec.ephemeral) {
        auto target = open_path(staging);
        inside::attach(spec.root_tree.get(), target.get(), "the container's root");
        // The host side made the copy private already (trees.hpp); this
        // holds even if it had not, before anything is unmounted below.
        do_mount(nullptr, staging, nullptr, MS_REC | MS_PRIVATE);
        return;
    }
    for (const char* d : {"/tmp/lower", "/tmp/upper", "/tmp/work"}) {
        sys::check(::mkdir(d, 0755), std::string("creating ") + d);
    }
    auto lower = open_path("/tmp/lower");
    inside::attach(spec.root_tree.get(), lower.get(), "the overlay's lower layer");
    do_mount("overlay", staging, "overlay", MS_NOSUID | MS_NODEV,
             "lowerdir=/tmp/lower,upperdir=/tmp/upper,workdir=/tmp/work");
}

// The host side leaves the host's /proc, /sys, /dev, /run, /tmp and
// /var/tmp, and what is mounted below them, out of its copy of the host's
// root (trees.hpp, clone_host_root) where the kernel lets it; otherwise the
// copy comes with all its submounts, as a `root = DIR` does. They are
// replaced, but covering them is not enough: whoever could unmount the
// cover would find the host's own instances under it. So whatever of them
// the copy holds is detached first (they are not locked: the host side made
// the copy, not a less privileged namespace), shallowest first, each with
// whatever is mounted below it.
//
// Reading the mount table is what costs here (it prints every mount of the
// init's namespace, the host's included). A whole copy of the host's root
// always has a mount on /proc: moat could not have got here without the
// host's /proc (it read /proc/self/mountinfo and /proc/<pid>/ns to make
// this container). So a copy of the host's root with no mount on any of the
// replaced paths is the host side's selective one, and holds nothing to
// detach; anything else is read and pruned.
bool whole_copy(const rootfs_spec& spec) {
    if (!spec.host_root) {
        return true;
    }
    for (const char* d : replaced_host_paths) {
        struct statx stx {};
        std::string path = std::string(staging) + d;
        if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) != 0) {
            if (errno == ENOENT) {
                continue;
            }
            return true;
        }
        if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) || (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) {
            return true;  // a mount there, or a kernel that cannot say (before 5.8)
        }
    }
    return false;
}

void prune_replaced() {
    std::istringstream info(sys::read_file("/proc/self/mountinfo"));
    std::vector<std::string> points;
    for (std::string line; std::getline(info, line);) {
        std::istringstream f(line);
        std::string field, point;
        for (int i = 0; i < 5 && f >> field; ++i) {
            point = field;
        }
        point = sys::unescape_mountinfo(point);
        for (const char* d : replaced_host_paths) {
            std::string under = std::string(staging) + d;
            if (point == under || point.rfind(under + "/", 0) == 0) {
                points.push_back(point);
            }
        }
    }
    std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
    std::vector<std::string> detached;
    for (const auto& p : points) {
        // Gone with a mount above it (one of the replaced paths holds them all).
        if (std::any_of(detached.begin(), detached.end(), [&](const auto& d) { return p.rfind(d + "/", 0) == 0; })) {
            continue;
        }
        detached.push_back(p);
        // EINVAL/ENOENT: already gone with a mount above it.
        if (::umount2(p.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT) {
            throw sys::errno_error("detaching the host's " + p.substr(std::string(staging).size()) + " from the copy of its root");
        }
    }
}

// tmpfs over a directory the root has; a directory root gets it created.
void mount_tmpfs(int root, const rootfs_spec& spec, const char* path, const char* mode) {
    auto dir = spec.host_root ? inside::find(root, path) : inside::make(root, path, kind::directory);
    if (dir && inside::is_directory(dir.get())) {
        inside::mount_on(dir.get(), path, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, std::string("mode=") + mode);
    }
}

void write_inside(int root, const std::string& path, const std::string& content, mode_t mode) {
    auto made = inside::make(root, path, kind::file);
    // Reopened through the resolved descriptor, never by path.
    sys::unique_fd fd(::open(inside::fd_path(made.get()).c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (!fd) {
        throw sys::errno_error("writing " + path + " inside the container");
    }
    sys::write_all(fd.get(), content, "writing " + path + " inside the container");
    sys::check(::fchmod(fd.get(), mode), "setting the mode of " + path);
}

// tmpfs = [...] (systemd-nspawn's --tmpfs): mode 0755, nosuid and nodev as
// nspawn mounts them; before /etc's files and the bind mounts, so that those
// can go inside one. The host's read-only root cannot grow a directory.
void setup_tmpfs(int root, const rootfs_spec& spec) {
    for (const auto& path : spec.tmpfs) {
        sys::unique_fd dir;
        try {
            dir = spec.host_root ? inside::find(root, path) : inside::make(root, path, kind::directory);
        } catch (const std::system_error&) {
        }
        if (!dir || !inside::is_directory(dir.get())) {
            throw moat::error("tmpfs " + path + ": no such directory inside the container root" +
                              (spec.host_root ? " (the host's root is read-only: choose an existing directory)" : ""));
        }
        inside::mount_on(dir.get(), path, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    }
}

// Written into the container's private /run and bind-mounted over /etc/*,
// so the host's files are never modified.
// /run/moat/hosts stays writable (by the container's root only, mode 0644):
// moat rewrites it in place as the container's network gains and loses
// members (hosts_file.hpp).
void setup_etc(int root, const rootfs_spec& spec) {
    std::vector<std::pair<std::string, std::string>> files;
    if (!spec.dns.empty()) {
        std::string resolv = "# written by moat\n";
        for (const auto& ns : spec.dns) {
            resolv += "nameserver " + ns + "\n";
        }
        if (!spec.dns_search.empty()) {
            resolv += "search";
            for (const auto& domain : spec.dns_search) {
                resolv += " " + domain;
            }
            resolv += "\n";
        }
        files.emplace_back("resolv.conf", resolv);
    }
    if (!spec.hosts.empty()) {
        files.emplace_back("hosts", spec.hosts);
    }
    for (const auto& [name, content] : files) {
        std::string own = "/run/moat/" + name;
        write_inside(root, own, content, 0644);
        // A symlink (resolv.conf -> /run/systemd/resolve/...) is followed
        // inside the root; where it points into the container's own /run,
        // the file is simply made there.
        auto target = spec.host_root ? inside::find(root, "/etc/" + name) : inside::make(root, "/etc/" + name, kind::file);
        if (!target) {
            target = inside::make(root, "/etc/" + name, kind::file);  // into a tmpfs, or a clear error
        }
        auto source = inside::find(root, own);
        inside::mount_on(target.get(), "/etc/" + name, inside::fd_path(source.get()).c_str(), nullptr, MS_BIND);
        auto bound = inside::find(root, "/etc/" + name);
        inside::make_read_only(bound.get(), "/etc/" + name);
    }
}

// A missing mount point can be made where the root is writable — a
// directory root, or the container's own tmpfs /tmp and /run — never in
// the host's read-only root.
void setup_binds(int root, rootfs_spec& spec) {
    for (auto& b : spec.binds) {
        sys::unique_fd target;
        try {
            target = inside::make(root, b.mount_point, b.directory ? kind::directory : kind::file);
        } catch (const std::system_error&) {
            throw moat::error("bind mount " + b.mount_point + ": no such " + (b.directory ? "directory" : "file") +
                              " inside the container root, and it cannot be created there (create it in the root, "
                              "or choose another mount point)");
        }
        inside::attach(b.tree.get(), target.get(), b.mount_point);
    }
}

void copy_secrets(int root, rootfs_spec& spec) {
    for (auto& s : spec.secrets) {
        write_inside(root, s.path, sys::read_all(s.source.get(), "reading a key file"), 0400);
        s.source.reset();
    }
}

void pivot_into(const char* dir) {
    sys::check(::chdir(dir), std::string("entering ") + dir);
    sys::check(static_cast<int>(::syscall(SYS_pivot_root, ".", ".")), std::string("pivot_root into ") + dir);
    // The old root is now stacked under the new one at "/"; detach it.
    sys::check(::umount2(".", MNT_DETACH), "detaching the host's root");
    sys::check(::chdir("/"), "chdir /");
}

}  // namespace

void setup_rootfs(rootfs_spec& spec) {
    // Nothing below may propagate back into the host's mount namespace.
    do_mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE);
    do_mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700");
    mount_root(spec);
    auto root_fd = open_path(staging);
    int root = root_fd.get();
    if (!spec.ephemeral) {
        if (whole_copy(spec)) {  // an overlay shows no submounts of its lower layer
            prune_replaced();
        }
    }
    mount_tmpfs(root, spec, "/tmp", "1777");
    mount_tmpfs(root, spec, "/var/tmp", "1777");
    mount_tmpfs(root, spec, "/run", "755");
    detail::setup_dev(root, spec);
    detail::setup_proc(root, spec);
    detail::setup_sys(root, spec);
    if (spec.host_root) {
        detail::mask_host_secrets(root, spec);
    }
    setup_tmpfs(root, spec);
    setup_etc(root, spec);
    setup_binds(root, spec);
    copy_secrets(root, spec);
    pivot_into(staging);
}

}  // namespace moat::container
