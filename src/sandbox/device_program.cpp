// The device filter's eBPF program: the rules tested as a tree
// (device_filter.hpp); loading and attaching it is device_filter.cpp's.
#include "sandbox/device_filter.hpp"

#include "sys/error.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace moat::sandbox {

namespace {

// The kernel's dev_t: 12 bits of major, 20 of minor (MINORBITS); the
// program is handed MAJOR()/MINOR() of it, so larger numbers never match.
constexpr std::uint32_t max_major = (1u << 12) - 1;
constexpr std::uint32_t max_minor = (1u << 20) - 1;

enum class reg : std::uint8_t { r0 = BPF_REG_0, r1 = BPF_REG_1, r2 = BPF_REG_2, r3 = BPF_REG_3,
                                r4 = BPF_REG_4, r5 = BPF_REG_5 };

// A tiny eBPF assembler for the handful of instructions the filter needs.
// Jumps only go forward, to labels bound later; their 16-bit offsets are
// resolved in finish(), which refuses one that does not fit.
class assembler {
public:
    using label = std::size_t;

    label new_label() {
        _labels.push_back(unbound);
        return _labels.size() - 1;
    }
    void bind(label l) { _labels.at(l) = _prog.size(); }

    // dst = *(u32 *)(base + off), zero-extended
    void load_u32(reg dst, reg base, std::int16_t off) { emit(BPF_LDX | BPF_MEM | BPF_W, dst, base, off, 0); }
    void mov(reg dst, reg src) { emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
    void mov(reg dst, std::int32_t imm) { emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, reg::r0, 0, imm); }
    void bit_and(reg dst, std::int32_t imm) { emit(BPF_ALU64 | BPF_AND | BPF_K, dst, reg::r0, 0, imm); }
    void shift_right(reg dst, std::int32_t imm) { emit(BPF_ALU64 | BPF_RSH | BPF_K, dst, reg::r0, 0, imm); }
    // if (u32)dst != imm: goto l
    void jump_if_not_equal(reg dst, std::uint32_t imm, label l) { jump(BPF_JNE, dst, imm, l); }
    // if (u32)dst & imm: goto l
    void jump_if_any_bit(reg dst, std::uint32_t imm, label l) { jump(BPF_JSET, dst, imm, l); }
    void exit() { emit(BPF_JMP | BPF_EXIT, reg::r0, reg::r0, 0, 0); }

    std::vector<bpf_insn> finish() {
        for (auto [at, l] : _fixups) {
            std::size_t target = _labels.at(l);
            if (target == unbound || target <= at || target - at - 1 > INT16_MAX) {
                throw std::logic_error("device filter: a jump to an unbound, earlier or too distant label");
            }
            _prog[at].off = static_cast<std::int16_t>(target - at - 1);
        }
        return std::move(_prog);
    }

private:
    static constexpr std::size_t unbound = std::numeric_limits<std::size_t>::max();

    void emit(int code, reg dst, reg src, std::int16_t off, std::int32_t imm) {
        bpf_insn i{};
        i.code = static_cast<std::uint8_t>(code);
        i.dst_reg = static_cast<std::uint8_t>(dst) & 0xf;
        i.src_reg = static_cast<std::uint8_t>(src) & 0xf;
        i.off = off;
        i.imm = imm;
        _prog.push_back(i);
    }
    // JMP32 (Linux 5.1) compares the low 32 bits: the context's fields are
    // u32, and an immediate is not sign-extended to 64 bits there.
    void jump(int op, reg dst, std::uint32_t imm, label l) {
        _fixups.emplace_back(_prog.size(), l);
        emit(BPF_JMP32 | op | BPF_K, dst, reg::r0, 0, static_cast<std::int32_t>(imm));
    }

    std::vector<bpf_insn> _prog;
    std::vector<std::size_t> _labels;
    std::vector<std::pair<std::size_t, label>> _fixups;
};

// Registers for the whole program: r1 is the context (struct
// bpf_cgroup_dev_ctx) on entry and is not written.
constexpr reg type_reg = reg::r2;    // BPF_DEVCG_DEV_BLOCK or _CHAR
constexpr reg access_reg = reg::r3;  // BPF_DEVCG_ACC_* bits asked for
constexpr reg major_reg = reg::r4;
constexpr reg minor_reg = reg::r5;

void check_rule(const device_rule& r) {
    if (r.access == 0 || (r.access & ~device_access::all) != 0) {
        throw moat::error("device rule " + to_string(r) + ": access must be a non-empty subset of rwm");
    }
    if ((r.major && *r.major > max_major) || (r.minor && *r.minor > max_minor)) {
        throw moat::error("device rule " + to_string(r) + ": no device has that number (major <= " +
                                std::to_string(max_major) + ", minor <= " + std::to_string(max_minor) + ")");
    }
}

// The rules allow; a request no rule allows is refused. So their order is
// free, and the program tests them as a tree: one group per device kind
// and refused access bits, in it one branch per major, in that one test per
// minor. Each test of a field is then made once, not once per rule (the
// default list: 34 instructions instead of 55), and every path the
// verifier follows ends at its own exit or reaches a group's end from the
// same tests. The verifier thus checks the program about once: for the
// default list, 211 instructions processed in 25 states before (a test per
// field per rule, each failure a state of its own), 0.3-0.4 ms of
// BPF_PROG_LOAD per container.
struct rule_group {
    device_kind kind;
    std::uint32_t refused;  // access bits a match must not ask for
    // major (max_major + 1 for any: tested last) -> minors (nullopt: any)
    std::map<std::uint32_t, std::vector<std::optional<std::uint32_t>>> majors;
    std::size_t rules = 0;
};

constexpr std::uint32_t any_major = max_major + 1;
constexpr std::size_t max_group_rules = 4096;

std::vector<rule_group> group_rules(const std::vector<device_rule>& rules) {
    std::vector<rule_group> groups;
    for (const auto& r : rules) {
        // Every bit asked for must be granted: O_RDWR asks for read and write.
        std::uint32_t refused = device_access::all & ~r.access;
        // A group's tests jump over all of it, at most INT16_MAX
        // instructions: a full group (4 per rule at most) starts another.
        auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& x) {
            return x.kind == r.kind && x.refused == refused && x.rules < max_group_rules;
        });
        if (g == groups.end()) {
            groups.push_back({r.kind, refused, {}, 0});
            g = groups.end() - 1;
        }
        g->majors[r.major.value_or(any_major)].push_back(r.minor);
        ++g->rules;
    }
    return groups;
}

// The minors of one major: a test each, "return 1" when one matches; falls
// through when none does. Stops at an "any minor": what would follow it is
// unreachable, which the verifier refuses.
void emit_minors(assembler& a, const std::vector<std::optional<std::uint32_t>>& minors) {
    for (const auto& minor : minors) {
        if (!minor) {
            a.mov(reg::r0, 1);
            a.exit();
            return;
        }
    }
    for (const auto& minor : minors) {
        auto next = a.new_label();
        a.jump_if_not_equal(minor_reg, *minor, next);
        a.mov(reg::r0, 1);
        a.exit();
        a.bind(next);
    }
}

// One group; falls through when nothing in it matches. Its fields are
// loaded from the context here, so no register is live where a group ends:
// however the previous group was left, the verifier sees one state.
void emit_group(assembler& a, const rule_group& g) {
    auto end = a.new_label();
    // access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*
    a.load_u32(type_reg, reg::r1, offsetof(bpf_cgroup_dev_ctx, access_type));
    a.mov(access_reg, type_reg);
    a.bit_and(type_reg, 0xffff);
    a.shift_right(access_reg, 16);
    a.load_u32(major_reg, reg::r1, offsetof(bpf_cgroup_dev_ctx, major));
    a.load_u32(minor_reg, reg::r1, offsetof(bpf_cgroup_dev_ctx, minor));
    if (g.kind != device_kind::any) {
        a.jump_if_not_equal(type_reg, g.kind == device_kind::block ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, end);
    }
    if (g.refused != 0) {
        a.jump_if_any_bit(access_reg, g.refused, end);
    }
    for (const auto& [major, minors] : g.majors) {
        if (major == any_major) {
            emit_minors(a, minors);  // the last branch: nothing follows in the group
            continue;
        }
        auto next = a.new_label();
        a.jump_if_not_equal(major_reg, major, next);
        emit_minors(a, minors);
        a.bind(next);
    }
    a.bind(end);
}

// A rule that matches every request makes the whole program "return 1".
bool allows_everything(const device_rule& r) {
    return r.kind == device_kind::any && !r.major && !r.minor && (device_access::all & ~r.access) == 0;
}

}  // namespace

std::vector<bpf_insn> device_filter_program(const std::vector<device_rule>& rules) {
    assembler a;
    for (const auto& r : rules) {
        check_rule(r);
    }
    if (std::any_of(rules.begin(), rules.end(), allows_everything)) {
        a.mov(reg::r0, 1);  // "a *:* rwm": nothing else matters
        a.exit();
        return a.finish();
    }
    for (const auto& g : group_rules(rules)) {
        emit_group(a, g);
    }
    a.mov(reg::r0, 0);
    a.exit();
    return a.finish();
}

}  // namespace moat::sandbox
