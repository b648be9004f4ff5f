// Turns seccomp_profile's tables into a classic BPF program once and loads
// it with one prctl() per process. privileges.hpp has the theory.
//
// The program has two parts. The front part is moat's own cBPF (below):
// the argument rules of filtered_syscalls() and ENOSYS past the table.
// The rest is libseccomp's (exported into a memfd): the bad-architecture
// kill, and a binary tree over the allowed numbers ending in EPERM.
#include "sandbox/privileges.hpp"
#include "sandbox/steps.hpp"
#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

namespace moat::sandbox {

namespace {

struct ctx_deleter {
    void operator()(void* p) const noexcept { seccomp_release(p); }
};
using ctx_ptr = std::unique_ptr<void, ctx_deleter>;

// libseccomp returns -errno.
void check_rc(int rc, const std::string& doing) {
    if (rc < 0) {
        throw sys::errno_error(doing, -rc);
    }
}

// The native number, or -1 where the name does not exist: unknown to this
// libseccomp (newer), or only on other architectures (libseccomp gives those
// negative pseudo-numbers, which no rule can match).
int native_number(const char* name) {
    int nr = seccomp_syscall_resolve_name(name);
    return nr == __NR_SCMP_ERROR || nr < 0 ? -1 : nr;
}

void allow(scmp_filter_ctx ctx, const char* name) {
    if (int nr = native_number(name); nr >= 0) {
        check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0), std::string("allowing ") + name);
    }
}

// The highest native number among every name the profile mentions.
std::uint32_t highest_named_syscall() {
    int top = 0;
    auto see = [&](const char* name) { top = std::max(top, native_number(name)); };
    for (const auto& a : allowed_syscalls()) {
        see(a.name);
    }
    for (const auto& f : filtered_syscalls()) {
        see(f.name);
    }
    for (const auto& b : blocked_syscalls()) {
        see(b.name);
    }
    return static_cast<std::uint32_t>(top);
}

std::vector<sock_filter> export_bpf(scmp_filter_ctx ctx) {
    sys::unique_fd mem(::memfd_create("moat-seccomp", MFD_CLOEXEC));
    if (!mem) {
        throw sys::errno_error("creating a memfd for the seccomp program");
    }
    check_rc(seccomp_export_bpf(ctx, mem.get()), "exporting the seccomp program");
    struct stat st {};
    if (::fstat(mem.get(), &st) < 0) {
        throw sys::errno_error("sizing the seccomp program");
    }
    std::vector<sock_filter> code(static_cast<std::size_t>(st.st_size) / sizeof(sock_filter));
    const auto bytes = static_cast<ssize_t>(code.size() * sizeof(sock_filter));
    if (bytes != st.st_size || ::pread(mem.get(), code.data(), static_cast<std::size_t>(bytes), 0) != bytes) {
        throw sys::errno_error("reading the seccomp program", EIO);
    }
    return code;
}

// A tiny assembler for the front part: conditional jumps name labels,
// resolved at the end (classic BPF jumps only forward, by at most 255
// instructions; the front part is a few dozen).
class front_asm {
public:
    int label() {
        _labels.push_back(-1);
        return static_cast<int>(_labels.size()) - 1;
    }
    void bind(int l) { _labels.at(static_cast<std::size_t>(l)) = static_cast<long>(_code.size()); }
    void load(std::uint32_t offset) { _code.push_back({BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset), -1, -1}); }
    void ret(std::uint32_t action) { _code.push_back({BPF_STMT(BPF_RET | BPF_K, action), -1, -1}); }
    // if (A op k) goto jt else goto jf; -1 = the next instruction
    void jump(std::uint16_t op, std::uint32_t k, int jt, int jf) {
        _code.push_back({BPF_JUMP(BPF_JMP | op | BPF_K, k, 0, 0), jt, jf});
    }

    std::vector<sock_filter> finish() const {
        std::vector<sock_filter> out;
        for (std::size_t pc = 0; pc < _code.size(); ++pc) {
            sock_filter f = _code[pc].f;
            f.jt = offset(pc, _code[pc].jt);
            f.jf = offset(pc, _code[pc].jf);
            out.push_back(f);
        }
        return out;
    }

private:
    struct insn {
        sock_filter f;
        int jt, jf;
    };
    std::uint8_t offset(std::size_t pc, int l) const {
        if (l < 0) {
            return 0;
        }
        long d = _labels.at(static_cast<std::size_t>(l)) - static_cast<long>(pc) - 1;
        if (d < 0 || d > 255) {
            throw std::logic_error("seccomp front part: jump out of range");
        }
        return static_cast<std::uint8_t>(d);
    }
    std::vector<insn> _code;
    std::vector<long> _labels;
};

constexpr std::uint32_t ret_allow = SECCOMP_RET_ALLOW;
constexpr std::uint32_t ret_eperm = SECCOMP_RET_ERRNO | EPERM;
constexpr std::uint32_t ret_enosys = SECCOMP_RET_ERRNO | ENOSYS;

// The low 32 bits of argument i. The kernel reads the arguments checked
// here as 32-bit values (socket's family, ioctl's request, personality are
// ints; clone() takes lower_32_bits of its flags), while seccomp sees the
// whole register: comparing the low word only means bits the kernel ignores
// cannot change the answer. (libseccomp 2.5 compares all 64 bits, so a
// "family > AF_VSOCK" rule there passes AF_VSOCK with a high bit set.)
constexpr std::uint32_t arg_low(unsigned i) {
    return static_cast<std::uint32_t>(offsetof(seccomp_data, args) + 8 * i +
                                      (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 4 : 0));
}

// The part in front of libseccomp's program, for the native architecture:
// the argument rules of filtered_syscalls(), and ENOSYS for numbers above
// `highest` (and below the x32 bit, 0x40000000, whose calls libseccomp's
// part kills). Everything else falls through to libseccomp's program,
// which loads what it needs itself; cBPF jumps are relative and forward,
// so prepending moves nothing it refers to. Only the number and the
// architecture are loaded on the way to libseccomp's part, so the kernel's
// action cache (5.11+) still sees every plainly allowed call as constant.
std::vector<sock_filter> front_part(std::uint32_t arch, std::uint32_t highest) {
    front_asm a;
    const int rest = a.label(), allow = a.label(), eperm = a.label(), enosys = a.label();
    const int on_socket = a.label(), on_ioctl = a.label(), on_personality = a.label(), on_clone = a.label();

    a.load(offsetof(seccomp_data, arch));
    a.jump(BPF_JEQ, arch, -1, rest);  // another ABI: libseccomp kills it
    a.load(offsetof(seccomp_data, nr));
    a.jump(BPF_JEQ, static_cast<std::uint32_t>(SCMP_SYS(socket)), on_socket, -1);
    a.jump(BPF_JEQ, static_cast<std::uint32_t>(SCMP_SYS(ioctl)), on_ioctl, -1);
    a.jump(BPF_JEQ, static_cast<std::uint32_t>(SCMP_SYS(personality)), on_personality, -1);
    a.jump(BPF_JEQ, static_cast<std::uint32_t>(SCMP_SYS(clone)), on_clone, -1);
    a.jump(BPF_JEQ, static_cast<std::uint32_t>(SCMP_SYS(clone3)), enosys, -1);
    a.jump(BPF_JGT, highest, -1, rest);
    a.jump(BPF_JGE, 0x40000000, rest, enosys);

    a.bind(on_socket);
    a.load(arg_low(0));
    for (int family : blocked_socket_families()) {
        a.jump(BPF_JEQ, static_cast<std::uint32_t>(family), eperm, -1);
    }
    a.ret(ret_allow);

    a.bind(on_ioctl);
    a.load(arg_low(1));
    for (std::uint32_t request : blocked_ioctls()) {
        a.jump(BPF_JEQ, request, eperm, -1);
    }
    a.ret(ret_allow);

    a.bind(on_personality);
    a.load(arg_low(0));
    for (std::uint32_t p : allowed_personalities()) {
        a.jump(BPF_JEQ, p, allow, -1);
    }
    a.ret(ret_eperm);

    // clone: s390 swaps the first two arguments.
#if defined(__s390x__)
    constexpr unsigned clone_flags_arg = 1;
#else
    constexpr unsigned clone_flags_arg = 0;
#endif
    static_assert(CLONE_NEWNS <= 0xffffffffu && CLONE_NEWCGROUP <= 0xffffffffu);
    a.bind(on_clone);
    a.load(arg_low(clone_flags_arg));
    a.jump(BPF_JSET, static_cast<std::uint32_t>(blocked_clone_flags()), eperm, allow);

    a.bind(enosys);
    a.ret(ret_enosys);
    a.bind(eperm);
    a.ret(ret_eperm);
    a.bind(allow);
    a.ret(ret_allow);
    a.bind(rest);
    return a.finish();
}

unsigned compilations = 0;
// This process's program, made by prepare_privileges(). A global because the
// children that load it are forked from this process and see its memory.
seccomp_program prepared;

}  // namespace

seccomp_program seccomp_program::compile(std::uint64_t caps) {
    ++compilations;
    ctx_ptr ctx(seccomp_init(SCMP_ACT_ERRNO(EPERM)));
    if (!ctx) {
        throw sys::errno_error("creating the seccomp filter", ENOMEM);
    }
    // Only the native architecture is in the filter, so every other one
    // hits the bad-architecture action: kill the whole process. A binary
    // tree over the syscall numbers keeps a call's path short (~9 compares
    // instead of hundreds).
    check_rc(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
             "setting the bad-architecture action");
    check_rc(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2), "asking for a binary tree");
    for (const auto& a : allowed_syscalls()) {
        allow(ctx.get(), a.name);
    }
    for (const auto& b : blocked_syscalls()) {
        if ((b.unless_caps & caps) != 0) {
            allow(ctx.get(), b.name);
        }
    }

    seccomp_program p;
    p._caps = caps;
    p._highest = highest_named_syscall();
    p._code = front_part(seccomp_arch_native(), p._highest);
    auto rest = export_bpf(ctx.get());
    p._code.insert(p._code.end(), rest.begin(), rest.end());
    if (p._code.size() > BPF_MAXINSNS) {
        throw sys::errno_error("the seccomp program has " + std::to_string(p._code.size()) + " instructions",
                               E2BIG);
    }
    return p;
}

int seccomp_program::load() const noexcept {
    if (_code.empty()) {
        return EINVAL;
    }
    // Same as seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog), which libseccomp
    // would call; the prctl form exists since Linux 3.5.
    sock_fprog prog{static_cast<unsigned short>(_code.size()), const_cast<sock_filter*>(_code.data())};
    return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0 ? 0 : errno;
}

void prepare_privileges() {
    const auto caps = kept_capability_mask_with_extras();
    if (prepared.empty() || prepared.capabilities() != caps) {
        prepared = seccomp_program::compile(caps);
    }
}

unsigned seccomp_compilations() noexcept { return compilations; }

namespace detail {

int set_no_new_privs() noexcept {
    return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : errno;
}

int install_seccomp_filter() noexcept {
    if (!prepared.empty() && prepared.capabilities() == kept_capability_mask_with_extras()) {
        return prepared.load();
    }
    // Not prepared by the parent: compile here (allocates; see the theory).
    try {
        return seccomp_program::compile(kept_capability_mask_with_extras()).load();
    } catch (const std::system_error& e) {
        return e.code().value() != 0 ? e.code().value() : EINVAL;
    } catch (...) {
        return ENOMEM;
    }
}

}  // namespace detail

}  // namespace moat::sandbox
