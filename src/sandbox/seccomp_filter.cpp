// Turns seccomp_profile's tables into a classic BPF program once and loads
// it with one prctl() per process. privileges.hpp has the theory.
//
// moat emits the program itself; libseccomp only resolves names to this
// architecture's numbers. (Building the same allowlist through libseccomp's
// rule database took 1.3 ms and ~400 instructions; this takes a few tens of
// microseconds and about half the instructions.) The program:
//
//   arch != native                      -> kill the process
//   x86_64: nr >= 0x40000000 (x32 ABI)  -> kill the process (nr -1: EPERM)
//   socket, ioctl, personality, clone   -> their argument rules
//   clone3                              -> ENOSYS
//   nr > highest number the table names -> ENOSYS
//   otherwise a binary search over the intervals of allowed numbers
//                                       -> allow or EPERM
//
// The front part is a few dozen instructions; the search has one compare
// and one `ja` per level (about 8 levels).
//
// Every path that ends in "allow" without an argument rule reads only the
// number and the architecture, so the kernel's action cache (5.11+) marks
// those calls as always allowed and skips the filter for them.
#include "sandbox/privileges.hpp"
#include "sandbox/steps.hpp"
#include "sys/error.hpp"

#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace moat::sandbox {

namespace {

// The native number, or -1 where the name does not exist: unknown to this
// libseccomp (newer), or only on other architectures (libseccomp gives those
// negative pseudo-numbers).
int native_number(const char* name) {
    int nr = seccomp_syscall_resolve_name(name);
    return nr == __NR_SCMP_ERROR || nr < 0 ? -1 : nr;
}

// A tiny assembler: conditional jumps name labels, resolved at the end.
// Classic BPF jumps only forward, a conditional one by at most 255, so
// far targets go through `ja`, whose offset is 32 bits.
class bpf_asm {
public:
    int label() {
        _labels.push_back(-1);
        return static_cast<int>(_labels.size()) - 1;
    }
    void bind(int l) { _labels.at(static_cast<std::size_t>(l)) = static_cast<long>(_code.size()); }
    void load(std::uint32_t offset) { add(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset), -1, -1); }
    void ret(std::uint32_t action) { add(BPF_STMT(BPF_RET | BPF_K, action), -1, -1); }
    void go(int l) { add(BPF_STMT(BPF_JMP | BPF_JA, 0), l, -1); }
    // if (A op k) goto jt else goto jf; -1 = the next instruction
    void jump(std::uint16_t op, std::uint32_t k, int jt, int jf) { add(BPF_JUMP(BPF_JMP | op | BPF_K, k, 0, 0), jt, jf); }

    std::vector<sock_filter> finish() const {
        std::vector<sock_filter> out;
        for (std::size_t pc = 0; pc < _code.size(); ++pc) {
            sock_filter f = _code[pc].f;
            if (BPF_OP(f.code) == BPF_JA && BPF_CLASS(f.code) == BPF_JMP) {
                f.k = static_cast<std::uint32_t>(distance(pc, _code[pc].jt));
            } else if (BPF_CLASS(f.code) == BPF_JMP) {
                f.jt = short_distance(pc, _code[pc].jt);
                f.jf = short_distance(pc, _code[pc].jf);
            }
            out.push_back(f);
        }
        return out;
    }

private:
    struct insn {
        sock_filter f;
        int jt, jf;  // labels, -1 = next
    };
    void add(sock_filter f, int jt, int jf) { _code.push_back({f, jt, jf}); }
    long distance(std::size_t pc, int l) const {
        if (l < 0) {
            return 0;
        }
        long d = _labels.at(static_cast<std::size_t>(l)) - static_cast<long>(pc) - 1;
        if (d < 0) {
            throw std::logic_error("seccomp program: a backward or unbound jump");
        }
        return d;
    }
    std::uint8_t short_distance(std::size_t pc, int l) const {
        long d = distance(pc, l);
        if (d > 255) {
            throw std::logic_error("seccomp program: a conditional jump beyond 255");
        }
        return static_cast<std::uint8_t>(d);
    }
    std::vector<insn> _code;
    std::vector<long> _labels;
};

constexpr std::uint32_t ret_allow = SECCOMP_RET_ALLOW;
constexpr std::uint32_t ret_eperm = SECCOMP_RET_ERRNO | EPERM;
constexpr std::uint32_t ret_enosys = SECCOMP_RET_ERRNO | ENOSYS;
constexpr std::uint32_t ret_kill = SECCOMP_RET_KILL_PROCESS;

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

// The argument rules of filtered_syscalls(); A holds the number.
void argument_rules(bpf_asm& a, int allow, int eperm, int enosys, int next) {
    const int on_socket = a.label(), on_ioctl = a.label(), on_personality = a.label(), on_clone = a.label();
    a.jump(BPF_JEQ, static_cast<std::uint32_t>(SCMP_SYS(socket)), on_socket, -1);
    a.jump(BPF_JEQ, static_cast<std::uint32_t>(SCMP_SYS(ioctl)), on_ioctl, -1);
    a.jump(BPF_JEQ, static_cast<std::uint32_t>(SCMP_SYS(personality)), on_personality, -1);
    a.jump(BPF_JEQ, static_cast<std::uint32_t>(SCMP_SYS(clone)), on_clone, -1);
    a.jump(BPF_JEQ, static_cast<std::uint32_t>(SCMP_SYS(clone3)), enosys, next);

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

    // s390 swaps clone's first two arguments.
#if defined(__s390x__)
    constexpr unsigned clone_flags_arg = 1;
#else
    constexpr unsigned clone_flags_arg = 0;
#endif
    static_assert(CLONE_NEWNS <= 0xffffffffu && CLONE_NEWCGROUP <= 0xffffffffu);
    a.bind(on_clone);
    a.load(arg_low(clone_flags_arg));
    a.jump(BPF_JSET, static_cast<std::uint32_t>(blocked_clone_flags()), eperm, allow);
}

// [from, to) of numbers sharing one answer; A holds the number.
struct interval {
    std::uint32_t from;
    bool allowed;
};

// Binary search over intervals[lo, hi]: "A >= start of the middle one"
// picks a half; a leaf returns its answer.
void search(bpf_asm& a, const std::vector<interval>& iv, std::size_t lo, std::size_t hi) {
    if (lo == hi) {
        a.ret(iv[lo].allowed ? ret_allow : ret_eperm);
        return;
    }
    std::size_t mid = lo + (hi - lo + 1) / 2;
    const int upper = a.label(), lower = a.label();
    a.jump(BPF_JGE, iv[mid].from, -1, lower);
    a.go(upper);  // the upper half can be further than a conditional jump reaches
    a.bind(lower);
    search(a, iv, lo, mid - 1);
    a.bind(upper);
    search(a, iv, mid, hi);
}

// The allowed numbers in [0, highest] as alternating intervals.
std::vector<interval> intervals(const std::vector<bool>& allowed) {
    std::vector<interval> iv;
    for (std::size_t nr = 0; nr < allowed.size(); ++nr) {
        if (iv.empty() || iv.back().allowed != allowed[nr]) {
            iv.push_back({static_cast<std::uint32_t>(nr), allowed[nr]});
        }
    }
    return iv;
}

// The highest native number among every name the profile mentions.
std::uint32_t highest_named_syscall() {
    int top = 0;
    auto see = [&](const char* name) { top = std::max(top, native_number(name)); };
    for (const auto& x : allowed_syscalls()) {
        see(x.name);
    }
    for (const auto& x : filtered_syscalls()) {
        see(x.name);
    }
    for (const auto& x : blocked_syscalls()) {
        see(x.name);
    }
    return static_cast<std::uint32_t>(top);
}

// allowed[nr] for nr in [0, highest]: allowed_syscalls(), and the blocked
// ones a capability in `caps` unlocks.
std::vector<bool> allowed_numbers(std::uint64_t caps, std::uint32_t highest) {
    std::vector<bool> allowed(std::size_t{highest} + 1, false);
    auto allow_name = [&](const char* name) {
        if (int nr = native_number(name); nr >= 0) {
            allowed[static_cast<std::size_t>(nr)] = true;
        }
    };
    for (const auto& x : allowed_syscalls()) {
        allow_name(x.name);
    }
    for (const auto& x : blocked_syscalls()) {
        if ((x.unless_caps & caps) != 0) {
            allow_name(x.name);
        }
    }
    return allowed;
}

// The whole program, in the order the file's header shows.
std::vector<sock_filter> emit(const std::vector<bool>& allowed, std::uint32_t highest) {
    bpf_asm a;
    const int allow = a.label(), eperm = a.label(), enosys = a.label(), kill = a.label(), known = a.label();
    a.load(offsetof(seccomp_data, arch));
    a.jump(BPF_JEQ, seccomp_arch_native(), -1, kill);  // int 0x80 on x86_64, a compat ABI elsewhere
    a.load(offsetof(seccomp_data, nr));
#if defined(__x86_64__)
    // x32 shares x86_64's audit architecture; its numbers carry this bit.
    // -1 is what a tracer sets to skip a call: not a foreign ABI.
    const int native = a.label();
    a.jump(BPF_JGE, 0x40000000, -1, native);
    a.jump(BPF_JEQ, 0xffffffff, eperm, kill);
    a.bind(native);
#endif
    const int plain = a.label();
    argument_rules(a, allow, eperm, enosys, plain);
    a.bind(plain);  // A still holds the number
    a.jump(BPF_JGT, highest, enosys, known);
    // The shared answers sit between the front part and the search, so
    // every conditional jump to them stays short.
    a.bind(allow);
    a.ret(ret_allow);
    a.bind(eperm);
    a.ret(ret_eperm);
    a.bind(enosys);
    a.ret(ret_enosys);
    a.bind(kill);
    a.ret(ret_kill);
    a.bind(known);
    auto iv = intervals(allowed);
    search(a, iv, 0, iv.size() - 1);
    return a.finish();
}

unsigned compilations = 0;
// This process's program, made by prepare_privileges(). A global because
// the children that load it are forked from this process and see its memory.
seccomp_program prepared;

}  // namespace

seccomp_program seccomp_program::compile(std::uint64_t caps) {
    ++compilations;
    seccomp_program p;
    p._caps = caps;
    p._highest = highest_named_syscall();
    p._code = emit(allowed_numbers(caps, p._highest), p._highest);
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
