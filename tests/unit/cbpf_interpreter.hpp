// A classic BPF interpreter for the unit tests of the leak filter, so that
// the program is run, not just inspected, without root. It knows only the
// instructions leak_filter() emits and throws on any other, so a change
// that emits something new fails loudly instead of being misread. Loads
// follow the kernel (net/core/filter.c): an out-of-bounds packet load ends
// the program with 0, ancillary loads are supplied by the caller.
#pragma once

#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

namespace moat::test {

struct cbpf_ancillary {
    std::uint32_t ifindex = 0;
    std::uint16_t protocol = 0;  // ETH_P_*, host order as SKF_AD_PROTOCOL gives it
};

// What the kernel's bpf_check_classic() would refuse, as a message; empty if
// none. Jumps are unsigned offsets, so "forward" is given; what can break is
// a target past the end (an overflowed or wrongly resolved offset). A test
// of jumps in a deliberately overlong program raises `max_length`.
inline std::string cbpf_structure_error(std::span<const sock_filter> prog, std::size_t max_length = BPF_MAXINSNS) {
    if (prog.empty() || prog.size() > max_length) {
        return "length " + std::to_string(prog.size());
    }
    for (std::size_t pc = 0; pc < prog.size(); ++pc) {
        const auto& i = prog[pc];
        if (BPF_CLASS(i.code) != BPF_JMP) {
            continue;
        }
        std::size_t next = pc + 1;
        bool inside = BPF_OP(i.code) == BPF_JA
                          ? next + std::size_t{i.k} < prog.size()
                          : next + i.jt < prog.size() && next + i.jf < prog.size();
        if (!inside) {
            return "jump out of the program at " + std::to_string(pc);
        }
    }
    if (BPF_CLASS(prog.back().code) != BPF_RET) {
        return "the last instruction is not a return";
    }
    return {};
}

inline std::uint32_t cbpf_run(std::span<const sock_filter> prog, std::span<const std::uint8_t> pkt,
                              const cbpf_ancillary& anc) {
    std::uint32_t a = 0, x = 0;
    // Load `size` bytes big-endian at `off`; false = out of bounds.
    auto load = [&](std::uint64_t off, std::size_t size, std::uint32_t& out) {
        if (off + size > pkt.size()) {
            return false;
        }
        out = 0;
        for (std::size_t b = 0; b < size; ++b) {
            out = out << 8 | pkt[static_cast<std::size_t>(off) + b];
        }
        return true;
    };
    const std::uint32_t ad = static_cast<std::uint32_t>(SKF_AD_OFF);
    std::size_t pc = 0;
    while (pc < prog.size()) {
        const sock_filter& i = prog[pc++];
        std::size_t size = 0;
        switch (BPF_SIZE(i.code)) {
            case BPF_W: size = 4; break;
            case BPF_H: size = 2; break;
            case BPF_B: size = 1; break;
        }
        switch (i.code) {
            case BPF_LD | BPF_W | BPF_ABS:
            case BPF_LD | BPF_H | BPF_ABS:
            case BPF_LD | BPF_B | BPF_ABS:
                if (i.k >= ad) {
                    if (i.k == ad + SKF_AD_IFINDEX) {
                        a = anc.ifindex;
                    } else if (i.k == ad + SKF_AD_PROTOCOL) {
                        a = anc.protocol;
                    } else {
                        throw std::logic_error("cbpf: unknown ancillary load " + std::to_string(i.k - ad));
                    }
                } else if (!load(i.k, size, a)) {
                    return 0;
                }
                break;
            case BPF_LD | BPF_W | BPF_IND:
            case BPF_LD | BPF_H | BPF_IND:
            case BPF_LD | BPF_B | BPF_IND:
                if (!load(std::uint64_t{x} + i.k, size, a)) {
                    return 0;
                }
                break;
            case BPF_LDX | BPF_B | BPF_MSH: {
                std::uint32_t b = 0;
                if (!load(i.k, 1, b)) {
                    return 0;
                }
                x = 4 * (b & 0xf);
                break;
            }
            case BPF_JMP | BPF_JA: pc += i.k; break;
            case BPF_JMP | BPF_JEQ | BPF_K: pc += a == i.k ? i.jt : i.jf; break;
            case BPF_JMP | BPF_JGE | BPF_K: pc += a >= i.k ? i.jt : i.jf; break;
            case BPF_JMP | BPF_JGT | BPF_K: pc += a > i.k ? i.jt : i.jf; break;
            case BPF_JMP | BPF_JSET | BPF_K: pc += (a & i.k) != 0 ? i.jt : i.jf; break;
            case BPF_RET | BPF_K: return i.k;
            default: throw std::logic_error("cbpf: unsupported instruction " + std::to_string(i.code));
        }
    }
    throw std::logic_error("cbpf: ran off the end of the program");
}

}  // namespace moat::test
