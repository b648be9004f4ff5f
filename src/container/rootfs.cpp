#include "container/rootfs.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace moat::container {

namespace {

void do_mount(const std::string& src, const std::string& dst, const char* fstype, unsigned long flags,
              const std::string& data = "") {
    if (::mount(src.empty() ? nullptr : src.c_str(), dst.c_str(), fstype, flags,
                data.empty() ? nullptr : data.c_str()) < 0) {
        throw sys::errno_error("mounting " + (src.empty() ? std::string(fstype ? fstype : "") : src) + " on " + dst);
    }
}

// Recursive read-only in one call; remounting each submount by hand would
// race with mounts appearing underneath.
void make_read_only_recursive(const std::string& path) {
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (::syscall(SYS_mount_setattr, AT_FDCWD, path.c_str(), AT_RECURSIVE, &attr, sizeof attr) < 0) {
        throw sys::errno_error("making " + path + " read-only");
    }
}

bool is_dir(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void mount_tmpfs(const std::string& dst, const char* mode, unsigned long extra = 0) {
    if (is_dir(dst)) {
        do_mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV | extra, std::string("mode=") + mode);
    }
}

void create_file(const std::string& path, mode_t mode) {
    sys::unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, mode));
    if (!fd) {
        throw sys::errno_error("creating " + path);
    }
}

// A minimal /dev: the usual character devices bind-mounted from the host
// (mknod would need CAP_MKNOD semantics we do not want to rely on), a fresh
// devpts so the container's ptys are its own, and a private /dev/shm.
void setup_dev(const std::string& root, bool tun) {
    std::string dev = root + "/dev";
    if (!is_dir(dev)) {
        return;
    }
    do_mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k");
    for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
        std::string target = dev + "/" + node;
        create_file(target, 0666);
        do_mount("/dev/" + std::string(node), target, nullptr, MS_BIND);
    }
    if (tun) {
        sys::make_dirs(dev + "/net", 0755);
        create_file(dev + "/net/tun", 0666);
        do_mount("/dev/net/tun", dev + "/net/tun", nullptr, MS_BIND);
    }
    sys::make_dirs(dev + "/pts", 0755);
    do_mount("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
    sys::make_dirs(dev + "/shm", 01777);
    do_mount("tmpfs", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    const std::pair<const char*, const char*> links[] = {
        {"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}};
    for (const auto& [target, name] : links) {
        sys::check(::symlink(target, (dev + "/" + name).c_str()), std::string("linking /dev/") + name);
    }
}

void setup_proc_sys(const std::string& root, bool net_writable) {
    std::string proc = root + "/proc";
    do_mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    // Kernel knobs stay read-only inside, as in Docker; /proc/sys/net is the
    // container's own network namespace's, but changing it is moat's job.
    for (const char* p : {"/sys", "/sysrq-trigger"}) {
        std::string path = proc + p;
        if (!sys::path_exists(path)) {
            continue;  // e.g. a kernel built without magic SysRq
        }
        do_mount(path, path, nullptr, MS_BIND | MS_REC);
        do_mount("", path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }
    if (net_writable) {
        // moat's tunnel runner sets the forwarding flag of the tunnel device
        // it (re)creates; only net/ opens up, the kernel's knobs stay closed.
        std::string net = proc + "/sys/net";
        do_mount(net, net, nullptr, MS_BIND);
        do_mount("", net, nullptr, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }
    std::string sys_dir = root + "/sys";
    if (is_dir(sys_dir)) {
        do_mount("sysfs", sys_dir, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }
}

// A missing mount point can be made where the root is writable — a
// directory root, or the container's own tmpfs /tmp and /run — never in the
// host's read-only root.
bool create_mount_point(const std::string& source, const std::string& target) {
    struct stat st;
    if (::stat(source.c_str(), &st) < 0) {
        return false;
    }
    try {
        if (S_ISDIR(st.st_mode)) {
            sys::make_dirs(target, 0755);
        } else {
            sys::make_dirs(target.substr(0, target.rfind('/')), 0755);
            create_file(target, 0600);
        }
    } catch (const std::exception&) {
        return false;
    }
    return true;
}

void setup_binds(const std::string& root, const std::vector<bind_spec>& binds) {
    for (const auto& b : binds) {
        std::string target = root + b.mount_point;
        if (!sys::path_exists(target) && !create_mount_point(b.host_path, target)) {
            throw moat::error("bind mount " + b.mount_point + ": no such directory or file inside the container root, "
                              "and it cannot be created there (create it in the root, or choose another mount point)");
        }
        do_mount(b.host_path, target, nullptr, MS_BIND | MS_REC);
        if (b.read_only) {
            make_read_only_recursive(target);
        }
    }
}

// Written into the container's private /run and bind-mounted over /etc/*,
// so the host's files are never modified.
void setup_etc(const std::string& root, const rootfs_spec& spec) {
    if (spec.dns.empty()) {
        return;
    }
    std::string dir = root + "/run/moat";
    sys::make_dirs(dir, 0755);
    std::string resolv = "# written by moat\n";
    for (const auto& ns : spec.dns) {
        resolv += "nameserver " + ns + "\n";
    }
    std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    for (const auto& a : spec.local_addresses) {
        hosts += a + "\t" + spec.hostname + "\n";
    }
    const std::pair<std::string, std::string> files[] = {{"resolv.conf", resolv}, {"hosts", hosts}};
    for (const auto& [name, content] : files) {
        sys::write_file_atomic(dir + "/" + name, content, 0644);
        std::string target = root + "/etc/" + name;
        if (!sys::path_exists(target)) {
            if (spec.read_only) {
                throw moat::error("dns: /etc/" + name + " does not exist in the read-only root");
            }
            create_file(target, 0644);
        }
        do_mount(dir + "/" + name, target, nullptr, MS_BIND);
        do_mount("", target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY);
    }
}

void mount_root(const rootfs_spec& spec) {
    const std::string& staging = spec.staging;
    if (!spec.ephemeral) {
        do_mount(spec.root, staging, nullptr, MS_BIND | MS_REC);
        if (spec.read_only) {
            make_read_only_recursive(staging);
        }
        return;
    }
    // Ephemeral: an overlay whose upper layer is a tmpfs that dies with the
    // mount namespace, so nothing the container writes survives it.
    do_mount("tmpfs", staging, "tmpfs", 0, "mode=755");
    for (const char* d : {"/lower", "/upper", "/work", "/merged"}) {
        sys::make_dirs(staging + d, 0755);
    }
    do_mount(spec.root, staging + "/lower", nullptr, MS_BIND | MS_REC);
    do_mount("overlay", staging + "/merged", "overlay", 0,
             "lowerdir=" + staging + "/lower,upperdir=" + staging + "/upper,workdir=" + staging + "/work");
    do_mount(staging + "/merged", staging, nullptr, MS_BIND);
}

}  // namespace

void setup_rootfs(const rootfs_spec& spec) {
    // Nothing below may propagate back into the host's mount namespace.
    do_mount("", "/", nullptr, MS_REC | MS_PRIVATE);
    mount_root(spec);
    const std::string& root = spec.staging;
    mount_tmpfs(root + "/tmp", "1777");
    mount_tmpfs(root + "/var/tmp", "1777");
    mount_tmpfs(root + "/run", "755");
    setup_dev(root, spec.tun);
    setup_proc_sys(root, spec.tun);
    setup_etc(root, spec);
    setup_binds(root, spec.binds);

    sys::check(::chdir(root.c_str()), "entering " + root);
    sys::check(::syscall(SYS_pivot_root, ".", "."), "pivot_root into " + root);
    // The old root is now stacked under the new one at "/"; detach it.
    sys::check(::umount2(".", MNT_DETACH), "detaching the host's root");
    sys::check(::chdir("/"), "chdir /");
}

}  // namespace moat::container
