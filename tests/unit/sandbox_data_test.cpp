// The sandbox's data (kept capabilities, blocked syscalls) and the cgroup2
// mount detection, without root.
#include "sandbox/cgroup.hpp"
#include "sandbox/privileges.hpp"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <seccomp.h>

#include <set>
#include <string>

namespace moat::sandbox {
namespace {

TEST(SandboxData, KeepsDockersDefaultCapabilitiesButMknod) {
    std::set<std::string> names;
    for (const auto& c : kept_capabilities()) {
        names.insert(c.name);
    }
    EXPECT_EQ(names, (std::set<std::string>{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
                                            "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
                                            "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                                            "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}));
    // The mask /proc/self/status prints for exactly that set.
    EXPECT_EQ(kept_capability_mask(), 0x00000000a00425fbULL);
    EXPECT_EQ(kept_capability_mask() & (1ULL << CAP_MKNOD), 0u);
    EXPECT_EQ(kept_capability_mask() & (1ULL << CAP_SYS_ADMIN), 0u);
    EXPECT_EQ(kept_capability_mask() & (1ULL << CAP_NET_ADMIN), 0u);
}

TEST(SandboxData, BlocksTheListedSyscallsWithReasons) {
    std::set<std::string> names;
    for (const auto& b : blocked_syscalls()) {
        names.insert(b.name);
        EXPECT_NE(std::string(b.why), "") << b.name;
    }
    for (const char* must : {"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
                             "mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "move_mount",
                             "open_tree", "fspick", "mount_setattr", "swapon", "swapoff", "reboot", "keyctl",
                             "add_key", "request_key", "bpf", "ptrace", "process_vm_readv",
                             "process_vm_writev", "perf_event_open", "open_by_handle_at",
                             "name_to_handle_at", "setns", "unshare", "userfaultfd", "acct", "settimeofday",
                             "clock_settime", "clock_adjtime", "adjtimex", "iopl", "ioperm", "quotactl",
                             "syslog", "vhangup", "lookup_dcookie", "io_uring_setup", "io_uring_enter",
                             "io_uring_register", "pidfd_getfd", "kcmp", "stime"}) {
        EXPECT_TRUE(names.count(must)) << must;
    }
    EXPECT_FALSE(names.count("clone"));  // only with namespace flags, see blocked_clone_flags()
}

// What moat keeps closed even when a container is given CAP_SYS_ADMIN (or
// any capability): its view of mounts and namespaces, file handles, io_uring.
TEST(SandboxData, SomeRefusalsHoldWhateverTheCapabilities) {
    for (const auto& b : blocked_syscalls()) {
        std::string n = b.name;
        bool never = n.find("mount") != std::string::npos || n.starts_with("fs") || n == "pivot_root" ||
                     n.starts_with("open_tree") || n == "setns" || n == "unshare" || n.ends_with("handle_at") ||
                     n.starts_with("io_uring") || n.starts_with("kexec") || n == "userfaultfd" ||
                     n == "keyctl" || n == "add_key" || n == "request_key";
        if (never) {
            EXPECT_EQ(b.unless_caps, 0u) << n;
        }
    }
}

TEST(SandboxData, NoAllowedNameIsAlsoRefused) {
    std::set<std::string> refused;
    for (const auto& b : blocked_syscalls()) {
        refused.insert(b.name);
    }
    for (const auto& a : allowed_syscalls()) {
        EXPECT_FALSE(refused.count(a.name)) << a.name;
    }
}

TEST(SandboxData, CloneFlagsCoverEveryNamespaceClonePasses) {
    std::uint64_t f = blocked_clone_flags();
    for (std::uint64_t flag : {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
                               CLONE_NEWNET, CLONE_NEWCGROUP}) {
        EXPECT_EQ(f & flag, flag) << std::hex << flag;
    }
    EXPECT_EQ(f & (CLONE_VM | CLONE_THREAD | CLONE_FILES | 0xff), 0u);  // threads and the exit signal pass
}

TEST(CgroupMount, FindsUnifiedOnHybridMachines) {
    const char* info =
        "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu\n"
        "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw\n";
    EXPECT_EQ(cgroup_mount_from(info), "/sys/fs/cgroup/unified");
}

TEST(CgroupMount, FindsPureV2) {
    EXPECT_EQ(cgroup_mount_from("35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - "
                                "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"),
              "/sys/fs/cgroup");
}

TEST(CgroupMount, NoneWithoutCgroup2) {
    EXPECT_EQ(cgroup_mount_from("31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
                                "22 1 0:21 / /sys rw - sysfs sysfs rw\n"),
              std::nullopt);
    EXPECT_EQ(cgroup_mount_from(""), std::nullopt);
}

TEST(CgroupMount, UnescapesMountPoints) {
    EXPECT_EQ(cgroup_mount_from("40 30 0:37 / /mnt/my\\040cgroups rw - cgroup2 none rw\n"), "/mnt/my cgroups");
}

TEST(CgroupMount, NotFooledByASourceNamedCgroup2) {
    EXPECT_EQ(cgroup_mount_from("40 30 0:37 / /mnt/x rw - tmpfs cgroup2 rw\n"), std::nullopt);
}

}  // namespace
}  // namespace moat::sandbox
