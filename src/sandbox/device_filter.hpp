// The device allowlist: which device nodes a container may open or create,
// enforced by the kernel for every process of the container's cgroup.
//
// Theory of operation: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE
// (Linux 4.15) attached to the container's cgroup v2 directory with
// BPF_CGROUP_DEVICE, as runc and crun do on cgroup v2 (the v1 `devices`
// controller's allow/deny files do not exist there).
//  * What consults it: devcgroup_check_permission() runs the effective
//    programs of the calling task's cgroup in the default (v2) hierarchy,
//    whatever v1 controllers are mounted, so it holds on hybrid hosts too.
//    It is reached from inode_permission() for a block or character inode
//    (open for reading and/or writing: READ/WRITE, after the mode bits have
//    passed), from vfs_mknod() of a block or character node (MKNOD; the
//    0:0 whiteout overlayfs makes is exempt), and from the block layer when
//    the kernel opens a block device by number for a task (mount of a
//    block device). A denial is EPERM. Nothing else asks: an fd opened
//    before the process entered the cgroup, or handed to it, keeps working,
//    and an O_PATH open is not a read or a write.
//  * Independent of the other layers: root with every capability, CAP_MKNOD
//    included, on a file system mounted without `nodev` is still refused
//    (nodev is checked earlier, in may_open, and fails with EACCES; a
//    missing CAP_MKNOD fails in vfs_mknod before the cgroup is asked).
//  * The program: the access word is split into the device type (low 16
//    bits) and the requested access (high 16 bits); each rule is a run of
//    compares that falls through to "return 1" when the type, major and
//    minor match and every requested bit is one the rule grants, else jumps
//    to the next rule; after the last, "return 0". An O_RDWR open asks for
//    read and write at once, so a read-only rule does not let it through.
//  * Attached with BPF_F_ALLOW_MULTI. The kernel runs every program on the
//    path from the task's cgroup up to the root and allows an access only
//    when all of them return 1, so a program attached to a nested cgroup
//    can only narrow the list, and programs an administrator attached with
//    ALLOW_MULTI on an ancestor (systemd's) still apply. Not
//    BPF_F_ALLOW_OVERRIDE, under which a nested cgroup's program replaces
//    ours. Not without flags either, although that also keeps nested
//    cgroups out (they cannot attach at all): such a program is detached
//    by BPF_PROG_DETACH without naming it, and on current kernels that
//    needs no capability, only an fd of the cgroup directory (a process of
//    uid 65534 with no capabilities did it on Linux 6.18). A MULTI program
//    is detached only by an fd of the program itself; moat closes its own
//    right after attaching (in `up`, when it returns: device_program_reuse
//    below), and BPF_PROG_GET_FD_BY_ID needs CAP_SYS_ADMIN.
//  * Attaching again replaces: the new program goes in first, then those
//    attached to that cgroup before are detached (moat owns the cgroup).
//    In between both lists apply, which is stricter than either.
//  * Lifetime: each attachment holds its own reference to the program, so
//    the fd can be closed once it is attached; the program lives until it
//    is detached from (or dies with) the last cgroup it is attached to (a
//    cgroup's bpf state is released, from a workqueue, when it dies).
//  * The container cannot undo it: bpf() is blocked by its seccomp filter;
//    without that, loading a program needs CAP_BPF and CAP_NET_ADMIN (or
//    CAP_SYS_ADMIN), and detaching ours needs CAP_SYS_ADMIN as above,
//    none of which its bounding set holds.
//  * Attach it before the first process enters the cgroup (before the
//    clone3 with CLONE_INTO_CGROUP): opens are checked as they happen, not
//    retroactively.
#pragma once

#include "sys/unique_fd.hpp"

#include <linux/bpf.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moat::sandbox {

enum class device_kind : std::uint8_t { character, block, any };

// The access bits, with the values of BPF_DEVCG_ACC_* (linux/bpf.h).
namespace device_access {
inline constexpr std::uint32_t mknod = 1;
inline constexpr std::uint32_t read = 2;
inline constexpr std::uint32_t write = 4;
inline constexpr std::uint32_t all = mknod | read | write;
}  // namespace device_access

struct device_rule {
    device_kind kind = device_kind::character;
    std::optional<std::uint32_t> major;  // nullopt: any
    std::optional<std::uint32_t> minor;  // nullopt: any
    std::uint32_t access = 0;            // device_access bits, not empty

    bool operator==(const device_rule&) const = default;
};

// Docker's, runc's and crun's default list, without their "mknod anything":
// c 1:3 null, 1:5 zero, 1:7 full, 1:8 random, 1:9 urandom, 5:0 tty,
// 5:2 ptmx and 136:* (devpts ptys), read and write, no mknod. Not
// /dev/console, not /dev/net/tun.
std::vector<device_rule> default_device_rules();
// c 10:200 rw: /dev/net/tun, for containers whose configuration asks.
device_rule tun_device_rule();

// Errors are runtime failures (moat::error, exit 1), never usage errors:
// this runs while a container starts, after its cgroup exists, and the
// configuration's checks (config/schema, plan/plan) have refused bad
// devices before anything was touched; reaching them is a bug or a record
// edited by hand.
//
// "r", "w", "m" in any combination ("rwm", "rw"...): the access bits.
// Throws moat::error for an empty string or another letter.
std::uint32_t parse_device_access(std::string_view modifier);
// The rule for one host device node (symlinks followed), e.g.
// ("/dev/fuse", "rwm") -> c 10:229 rwm. Throws moat::error when the
// path is not a block or character device, errno_error when it cannot be
// read.
device_rule device_rule_for(const std::string& host_node_path, std::string_view modifier);
// "c 1:3 rw", "c 136:* rw", "a *:* rwm" (the v1 devices.list notation).
std::string to_string(const device_rule& r);

// The filter's eBPF instructions (pure; exposed for tests). Throws
// moat::error for a rule that no device could match (a major above
// 4095, a minor above 2^20 - 1) or without access bits.
std::vector<bpf_insn> device_filter_program(const std::vector<device_rule>& rules);

// Loads a program of type BPF_PROG_TYPE_CGROUP_DEVICE. Throws
// std::system_error "loading the eBPF program (N instructions; verifier:
// <the end of its log>)" when the kernel refuses it. attach_device_filter()
// does this itself; exposed for tests of the error.
sys::unique_fd load_device_program(const std::vector<bpf_insn>& prog);

// While one lives, attach_device_filter() loads each distinct program once
// and attaches that same program to every cgroup that needs it: `up` of N
// containers made N BPF_PROG_LOADs of one program, each a verifier pass
// (0.3-0.4 ms). A program cannot be changed once loaded, and sharing it
// lets no container do anything to another's: detaching it from a cgroup
// still takes an fd of it. Those fds stay in this process while the scope
// lives and are closed when the last scope ends; they are close-on-exec,
// and no container's init holds them (`up`'s inits are cloned by its fork
// server, started before any, container/fork_server.hpp; an init cloned
// by this process closes all but its socket first, container/spawn.hpp).
// Scopes nest.
class device_program_reuse {
public:
    device_program_reuse();
    ~device_program_reuse();
    device_program_reuse(const device_program_reuse&) = delete;
    device_program_reuse& operator=(const device_program_reuse&) = delete;
};

// Loads the filter for `rules` and attaches it to the cgroup v2 directory
// open at `cgroup_dir_fd`, replacing the device programs attached to that
// cgroup before (the same program already attached is kept). Needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN. Throws
// moat::error "attaching the device filter to cgroup <path>: ...", with
// the verifier's log when the kernel refuses the program.
void attach_device_filter(int cgroup_dir_fd, const std::vector<device_rule>& rules);

// The ids of the device programs attached to the cgroup itself (not its
// ancestors'), for checks: one after attach_device_filter().
std::vector<std::uint32_t> attached_device_filters(int cgroup_dir_fd);

}  // namespace moat::sandbox
