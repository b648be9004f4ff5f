// The program's assembly: seccomp_emit.hpp says who runs it with which
// names, seccomp_filter.cpp's header shows its shape.
#include "sandbox/seccomp_emit.hpp"
#include "sandbox/seccomp_profile.hpp"

#include <linux/seccomp.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <stdexcept>

namespace moat::sandbox::detail {

namespace {

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

// The argument rules of filtered_syscalls(); A holds the number.
void argument_rules(bpf_asm& a, syscall_resolver resolve, int allow, int eperm, int enosys, int next) {
    const int on_socket = a.label(), on_ioctl = a.label(), on_personality = a.label(), on_clone = a.label();
    // All five exist on every architecture moat builds for; one that did
    // not would only lose its rule (a number no call can have).
    auto number = [&](const char* name) { return static_cast<std::uint32_t>(resolve(name)); };
    a.jump(BPF_JEQ, number("socket"), on_socket, -1);
    a.jump(BPF_JEQ, number("ioctl"), on_ioctl, -1);
    a.jump(BPF_JEQ, number("personality"), on_personality, -1);
    a.jump(BPF_JEQ, number("clone"), on_clone, -1);
    a.jump(BPF_JEQ, number("clone3"), enosys, next);

    a.bind(on_socket);
    a.load(seccomp_arg_low(0));
    for (int family : blocked_socket_families()) {
        a.jump(BPF_JEQ, static_cast<std::uint32_t>(family), eperm, -1);
    }
    a.ret(ret_allow);

    a.bind(on_ioctl);
    a.load(seccomp_arg_low(1));
    for (std::uint32_t request : blocked_ioctls()) {
        a.jump(BPF_JEQ, request, eperm, -1);
    }
    a.ret(ret_allow);

    a.bind(on_personality);
    a.load(seccomp_arg_low(0));
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
    a.load(seccomp_arg_low(clone_flags_arg));
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
std::uint32_t highest_named_syscall(syscall_resolver resolve) {
    int top = 0;
    for (const char* name : named_syscalls()) {
        top = std::max(top, resolve(name));
    }
    return static_cast<std::uint32_t>(top);
}

// allowed[nr] for nr in [0, highest]: allowed_syscalls(), and the blocked
// ones a capability in `caps` unlocks.
std::vector<bool> allowed_numbers(std::uint64_t caps, syscall_resolver resolve, std::uint32_t highest) {
    std::vector<bool> allowed(std::size_t{highest} + 1, false);
    auto allow_name = [&](const char* name) {
        if (int nr = resolve(name); nr >= 0) {
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
std::vector<sock_filter> emit(const std::vector<bool>& allowed, std::uint32_t highest, syscall_resolver resolve,
                              std::uint32_t native_arch) {
    bpf_asm a;
    const int allow = a.label(), eperm = a.label(), enosys = a.label(), kill = a.label(), known = a.label();
    a.load(offsetof(seccomp_data, arch));
    a.jump(BPF_JEQ, native_arch, -1, kill);  // int 0x80 on x86_64, a compat ABI elsewhere
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
    argument_rules(a, resolve, allow, eperm, enosys, plain);
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

}  // namespace

emitted_program emit_seccomp_program(std::uint64_t caps, syscall_resolver resolve, std::uint32_t native_arch) {
    emitted_program p;
    p.highest = highest_named_syscall(resolve);
    p.code = emit(allowed_numbers(caps, resolve, p.highest), p.highest, resolve, native_arch);
    return p;
}

}  // namespace moat::sandbox::detail
