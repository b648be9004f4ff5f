// The kernel's file systems inside a container — /dev, /proc, /sys — and
// the masks over what the host's root would otherwise show (rootfs.hpp).
#include "container/inside.hpp"
#include "container/rootfs.hpp"
#include "plan/host_secrets.hpp"

#include "sys/error.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace moat::container::detail {

namespace {

using inside::kind;

// runc's and Docker's masked paths: kernel memory, keyrings of the whole
// host, timers and scheduler internals that leak what other tenants do.
constexpr const char* masked_proc_files[] = {"kcore", "keys", "timer_list", "timer_stats", "sched_debug",
                                             "latency_stats"};
constexpr const char* masked_proc_dirs[] = {"acpi", "asound", "scsi"};
// Kernel knobs: readable, never writable from inside.
constexpr const char* read_only_proc[] = {"bus", "fs", "irq", "sys", "sysrq-trigger"};
constexpr const char* masked_sys[] = {"/sys/firmware", "/sys/devices/virtual/powercap"};

// The store (trees.hpp) is attached in the init's scratch space, which goes
// with the old root at the pivot; each node's bind mount keeps its own
// reference, without nodev, so the nodes open (as far as the device filter
// allows) while the /dev tmpfs around them stays nodev.
void bind_nodes(int root, const rootfs_spec& spec) {
    const char* store_dir = "/tmp/nodes";
    sys::check(::mkdir(store_dir, 0700), std::string("creating ") + store_dir);
    sys::unique_fd dir(::open(store_dir, O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        throw sys::errno_error(std::string("opening ") + store_dir);
    }
    inside::attach(spec.node_store.get(), dir.get(), "the device nodes' store");
    for (std::size_t i = 0; i < spec.nodes.size(); ++i) {
        auto target = inside::make(root, spec.nodes[i], kind::file);
        std::string node = std::string(store_dir) + "/" + std::to_string(i);
        inside::mount_on(target.get(), spec.nodes[i], node.c_str(), nullptr, MS_BIND);
    }
}

void empty_read_only_tmpfs(int target, const std::string& what) {
    inside::mount_on(target, what, "tmpfs", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555,size=4k");
}

void read_only_bind(int root, const std::string& path) {
    auto target = inside::find(root, path);
    if (!target) {
        return;  // e.g. a kernel built without magic SysRq
    }
    inside::mount_on(target.get(), path, inside::fd_path(target.get()).c_str(), nullptr, MS_BIND | MS_REC);
    // The fd still names the dentry under the new mount; reopen to reach the mount itself.
    auto bound = inside::find(root, path);
    inside::make_read_only(bound.get(), path);
}

}  // namespace

void mask(int root, const std::string& path) {
    auto target = inside::find(root, path);
    if (!target) {
        return;
    }
    if (inside::is_directory(target.get())) {
        empty_read_only_tmpfs(target.get(), path);
    } else {
        inside::mount_on(target.get(), path, "/dev/null", nullptr, MS_BIND);
    }
}

// A minimal /dev: a nodev tmpfs (a node someone makes there opens nothing),
// the allowed nodes bound from the host side's store, a fresh devpts so the
// container's ptys are its own, and a private /dev/shm.
void setup_dev(int root, const rootfs_spec& spec) {
    auto dev = inside::find(root, "/dev");
    if (!dev) {
        if (spec.host_root) {
            return;
        }
        dev = inside::make(root, "/dev", kind::directory);
    }
    inside::mount_on(dev.get(), "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=65536k");
    if (spec.tunnel_runners) {
        auto net = inside::make(root, "/dev/net", kind::directory);
        inside::mount_on(net.get(), "/dev/net", "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k");
    }
    bind_nodes(root, spec);
    auto pts = inside::make(root, "/dev/pts", kind::directory);
    inside::mount_on(pts.get(), "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                     "newinstance,ptmxmode=0666,mode=620");
    auto shm = inside::make(root, "/dev/shm", kind::directory);
    inside::mount_on(shm.get(), "/dev/shm", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777");
    auto dir = inside::find(root, "/dev");
    const std::pair<const char*, const char*> links[] = {
        {"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}};
    sys::unique_fd devdir(::openat(dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (const auto& [target, name] : links) {
        sys::check(::symlinkat(target, devdir.get(), name), std::string("linking /dev/") + name);
    }
}

void setup_proc(int root, const rootfs_spec& spec) {
    auto proc = inside::find(root, "/proc");
    if (!proc) {
        if (spec.host_root) {
            return;
        }
        proc = inside::make(root, "/proc", kind::directory);
    }
    inside::mount_on(proc.get(), "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    for (const char* p : read_only_proc) {
        read_only_bind(root, std::string("/proc/") + p);
    }
    if (spec.tunnel_runners) {
        // moat's tunnel runner sets the forwarding flag of the device it
        // (re)creates; only net/ opens up, the kernel's knobs stay closed.
        auto net = inside::find(root, "/proc/sys/net");
        inside::mount_on(net.get(), "/proc/sys/net", inside::fd_path(net.get()).c_str(), nullptr, MS_BIND);
        auto bound = inside::find(root, "/proc/sys/net");
        inside::make_writable(bound.get(), "/proc/sys/net");
    }
    for (const char* f : masked_proc_files) {
        mask(root, std::string("/proc/") + f);
    }
    for (const char* d : masked_proc_dirs) {
        mask(root, std::string("/proc/") + d);
    }
}

// A fresh sysfs shows the network devices of the namespace that mounts it,
// and the kernel lets a user namespace mount one only over a network
// namespace it owns; sharing the host's network, a user-namespaced
// container gets the host's /sys bound read-only instead.
void setup_sys(int root, const rootfs_spec& spec) {
    auto sys_dir = inside::find(root, "/sys");
    if (!sys_dir) {
        return;
    }
    if (spec.private_network || !spec.user_namespace) {
        inside::mount_on(sys_dir.get(), "/sys", "sysfs", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    } else {
        inside::mount_on(sys_dir.get(), "/sys", "/sys", nullptr, MS_BIND | MS_REC);
        auto bound = inside::find(root, "/sys");
        inside::make_read_only(bound.get(), "/sys");
    }
    for (const char* p : masked_sys) {
        mask(root, p);
    }
}

// The host's secrets (plan/host_secrets.hpp). Other root-only files are
// protected by the user namespace (users.hpp); these are masked even with
// privateUsers = "no", where root inside is root outside.
void mask_host_secrets(int root, const rootfs_spec& spec) {
    for (const char* f : plan::host_secret_files) {
        mask(root, f);
    }
    if (auto ssh = inside::find(root, plan::ssh_config_dir)) {
        sys::unique_fd dir(::openat(ssh.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        std::vector<std::string> keys;
        if (DIR* d = dir ? ::fdopendir(::dup(dir.get())) : nullptr) {
            while (dirent* e = ::readdir(d)) {
                if (plan::is_ssh_host_key(e->d_name)) {
                    keys.push_back(std::string(plan::ssh_config_dir) + "/" + e->d_name);
                }
            }
            ::closedir(d);
        }
        for (const auto& k : keys) {
            mask(root, k);
        }
    }
    // The container's own home instead of the host's root's.
    if (auto home = inside::find(root, "/root")) {
        inside::mount_on(home.get(), "/root", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700");
    }
    if (!spec.state_dir.empty()) {
        mask(root, spec.state_dir);
    }
    for (const auto& m : spec.masks) {
        mask(root, m);
    }
}

}  // namespace moat::container::detail
