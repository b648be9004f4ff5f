// An eBPF interpreter and a small verifier for the unit tests of the device
// filter (src/sandbox/device_filter.cpp), so that the program is run, not
// just inspected, without root or a kernel. Like cbpf_interpreter.hpp it
// knows only the instructions the filter emits and throws on any other, so
// a change that emits something new fails loudly instead of being misread.
//
// ebpf_structure_error() checks what the kernel's verifier would refuse in
// such a program: jumps out of the program or backwards, an instruction no
// path reaches (check_cfg: "unreachable insn"), a register read before any
// path wrote it, a context load other than a u32 of struct
// bpf_cgroup_dev_ctx from a register that holds the context, and a path
// that falls off the end.
#pragma once

#include <linux/bpf.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace moat::test {

namespace ebpf_detail {

enum class kind : std::uint8_t { uninit, scalar, ctx };
using regs = std::array<kind, MAX_BPF_REG>;

inline bool is_jump(const bpf_insn& i) {
    return i.code == (BPF_JMP32 | BPF_JNE | BPF_K) || i.code == (BPF_JMP32 | BPF_JSET | BPF_K);
}

// The registers an instruction reads, and what it leaves in its
// destination; an error text for anything outside the emitted subset.
inline std::string step(const bpf_insn& i, regs& r) {
    auto need = [&](int reg, kind k) -> std::string {
        if (reg < 0 || reg >= MAX_BPF_REG || r[static_cast<std::size_t>(reg)] != k) {
            return "r" + std::to_string(reg) + (k == kind::ctx ? " is not the context" : " read before written");
        }
        return {};
    };
    auto dst = static_cast<std::size_t>(i.dst_reg);
    if (dst >= BPF_REG_10) {
        return "writes r" + std::to_string(dst);
    }
    switch (i.code) {
        case BPF_LDX | BPF_MEM | BPF_W:
            if (auto e = need(i.src_reg, kind::ctx); !e.empty()) {
                return e;
            }
            if (i.off < 0 || i.off % 4 != 0 || i.off + 4 > static_cast<int>(sizeof(bpf_cgroup_dev_ctx))) {
                return "context load at offset " + std::to_string(i.off);
            }
            r[dst] = kind::scalar;
            return {};
        case BPF_ALU64 | BPF_MOV | BPF_X:
            if (auto e = need(i.src_reg, kind::scalar); !e.empty()) {
                return e;
            }
            r[dst] = kind::scalar;
            return {};
        case BPF_ALU64 | BPF_MOV | BPF_K: r[dst] = kind::scalar; return {};
        case BPF_ALU64 | BPF_AND | BPF_K:
        case BPF_ALU64 | BPF_RSH | BPF_K:
        case BPF_JMP32 | BPF_JNE | BPF_K:
        case BPF_JMP32 | BPF_JSET | BPF_K: return need(i.dst_reg, kind::scalar);
        case BPF_JMP | BPF_EXIT: return need(BPF_REG_0, kind::scalar);
        default: return "unsupported opcode " + std::to_string(i.code);
    }
}

}  // namespace ebpf_detail

inline std::string ebpf_structure_error(std::span<const bpf_insn> prog) {
    using namespace ebpf_detail;
    if (prog.empty() || prog.size() > BPF_MAXINSNS) {
        return "length " + std::to_string(prog.size());
    }
    // Jumps only go forward, so every predecessor of an instruction comes
    // before it: one pass, merging the register states of the paths in.
    std::vector<std::optional<regs>> in(prog.size());
    in[0] = regs{};
    (*in[0])[BPF_REG_1] = kind::ctx;
    auto merge = [&](std::size_t to, const regs& r) {
        if (!in[to]) {
            in[to] = r;
            return;
        }
        for (std::size_t k = 0; k < r.size(); ++k) {
            if ((*in[to])[k] != r[k]) {
                (*in[to])[k] = kind::uninit;
            }
        }
    };
    for (std::size_t pc = 0; pc < prog.size(); ++pc) {
        const bpf_insn& i = prog[pc];
        std::string at = " at " + std::to_string(pc);
        if (!in[pc]) {
            return "unreachable instruction" + at;
        }
        regs r = *in[pc];
        if (auto e = step(i, r); !e.empty()) {
            return e + at;
        }
        if (i.code == (BPF_JMP | BPF_EXIT)) {
            continue;
        }
        if (is_jump(i)) {
            if (i.off < 0 || pc + 1 + static_cast<std::size_t>(i.off) >= prog.size()) {
                return "jump out of the program or backwards" + at;
            }
            merge(pc + 1 + static_cast<std::size_t>(i.off), r);
        }
        if (pc + 1 == prog.size()) {
            return "falls off the end" + at;
        }
        merge(pc + 1, r);
    }
    return {};
}

// Runs the program on one context; throws on an instruction outside the
// subset, a wrong context load or a run off the end.
inline std::uint64_t ebpf_run(std::span<const bpf_insn> prog, const bpf_cgroup_dev_ctx& ctx) {
    std::array<std::uint64_t, MAX_BPF_REG> r{};
    constexpr std::uint64_t ctx_marker = 0xc7c7c7c7c7c70000ULL;  // stands for the context pointer
    r[BPF_REG_1] = ctx_marker;
    std::size_t pc = 0;
    while (pc < prog.size()) {
        const bpf_insn& i = prog[pc++];
        std::uint64_t& d = r.at(i.dst_reg);
        auto imm32 = static_cast<std::uint32_t>(i.imm);
        auto imm64 = static_cast<std::uint64_t>(static_cast<std::int64_t>(i.imm));  // sign-extended, as eBPF does
        switch (i.code) {
            case BPF_LDX | BPF_MEM | BPF_W:
                if (r.at(i.src_reg) != ctx_marker) {
                    throw std::logic_error("ebpf: load from something other than the context");
                }
                switch (i.off) {
                    case offsetof(bpf_cgroup_dev_ctx, access_type): d = ctx.access_type; break;
                    case offsetof(bpf_cgroup_dev_ctx, major): d = ctx.major; break;
                    case offsetof(bpf_cgroup_dev_ctx, minor): d = ctx.minor; break;
                    default: throw std::logic_error("ebpf: context load at " + std::to_string(i.off));
                }
                break;
            case BPF_ALU64 | BPF_MOV | BPF_X: d = r.at(i.src_reg); break;
            case BPF_ALU64 | BPF_MOV | BPF_K: d = imm64; break;
            case BPF_ALU64 | BPF_AND | BPF_K: d &= imm64; break;
            case BPF_ALU64 | BPF_RSH | BPF_K: d >>= (i.imm & 63); break;
            case BPF_JMP32 | BPF_JNE | BPF_K:
                pc += static_cast<std::uint32_t>(d) != imm32 ? static_cast<std::size_t>(i.off) : 0;
                break;
            case BPF_JMP32 | BPF_JSET | BPF_K:
                pc += (static_cast<std::uint32_t>(d) & imm32) != 0 ? static_cast<std::size_t>(i.off) : 0;
                break;
            case BPF_JMP | BPF_EXIT: return r[BPF_REG_0];
            default: throw std::logic_error("ebpf: unsupported opcode " + std::to_string(i.code));
        }
    }
    throw std::logic_error("ebpf: ran off the end of the program");
}

}  // namespace moat::test
