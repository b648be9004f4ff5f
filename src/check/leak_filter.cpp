#include "check/leak_filter.hpp"

#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include <map>
#include <stdexcept>

namespace moat::check {

namespace {

// A tiny assembler: conditional jumps only ever skip the next instruction
// (jt/jf of 0 or 1, or a counted run of an address compare), far jumps are
// `ja` to a later label resolved at the end (classic BPF only jumps
// forward), so no 8-bit offset can overflow however many addresses there are.
class assembler {
public:
    enum label { v4, v6, marked4, marked6, ports4, icmp4, icmp4_id, ports6, icmp6, icmp6_id };

    void stmt(std::uint16_t code, std::uint32_t k) { _f.push_back(BPF_STMT(code, k)); }
    void jump(std::uint16_t code, std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
        _f.push_back(BPF_JUMP(code, k, jt, jf));
    }
    // if A == k: the next instruction runs, else it is skipped
    void if_equal(std::uint32_t k) { jump(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 1); }
    void go(label l) {
        _fixups.emplace_back(_f.size(), l);
        stmt(BPF_JMP | BPF_JA, 0);
    }
    void accept() { stmt(BPF_RET | BPF_K, leak_snaplen); }
    void reject() { stmt(BPF_RET | BPF_K, 0); }
    void mark(label l) { _labels[l] = _f.size(); }

    // if the address at packet offset `off` is `a`: the next instruction
    // runs, else it is skipped (IPv6: four word compares).
    void if_address(std::uint32_t off, const sys::ip_address& a) {
        int words = a.is_v4() ? 1 : 4;
        for (int w = 0; w < words; ++w) {
            std::uint32_t k = 0;
            for (int b = 0; b < 4; ++b) {
                k = k << 8 | a.bytes[static_cast<std::size_t>(4 * w + b)];
            }
            stmt(BPF_LD | BPF_W | BPF_ABS, off + 4u * static_cast<std::uint32_t>(w));
            // on a mismatch skip the rest of the compare and the guarded instruction
            jump(BPF_JMP | BPF_JEQ | BPF_K, k, 0, static_cast<std::uint8_t>(2 * (words - w - 1) + 1));
        }
    }

    std::vector<sock_filter> finish() {
        for (auto [at, l] : _fixups) {
            if (_labels.at(l) <= at) {
                throw std::logic_error("leak filter: a backward jump");
            }
            _f[at].k = static_cast<std::uint32_t>(_labels.at(l) - at - 1);
        }
        return std::move(_f);
    }

private:
    std::vector<sock_filter> _f;
    std::map<label, std::size_t> _labels;
    std::vector<std::pair<std::size_t, label>> _fixups;
};

constexpr std::uint32_t ancillary(std::uint32_t what) { return static_cast<std::uint32_t>(SKF_AD_OFF) + what; }

// The address lists of one family: sources accept, destinations go to `marked`.
void addresses(assembler& a, const leak_selector& s, bool v4, assembler::label marked) {
    std::uint32_t src = v4 ? 12 : 8, dst = v4 ? 16 : 24;
    for (const auto& addr : s.sources) {
        if (addr.is_v4() == v4) {
            a.if_address(src, addr);
            a.accept();
        }
    }
    for (const auto& addr : s.destinations) {
        if (addr.is_v4() == v4) {
            a.if_address(dst, addr);
            a.go(marked);
        }
    }
    a.reject();
}

// A = the port or identifier: rejects unless it is in the marked range.
void in_range(assembler& a, const leak_selector& s) {
    a.jump(BPF_JMP | BPF_JGE | BPF_K, s.first_port, 1, 0);
    a.reject();
    a.jump(BPF_JMP | BPF_JGT | BPF_K, s.last_port, 0, 1);
    a.reject();
}

// A = the payload's first word: accepts when it is the nonce.
void nonce(assembler& a, const leak_selector& s) {
    a.if_equal(s.icmp_nonce);
    a.accept();
    a.reject();
}

}  // namespace

std::vector<sock_filter> leak_filter(const leak_selector& s) {
    using L = assembler::label;
    assembler a;
    a.stmt(BPF_LD | BPF_W | BPF_ABS, ancillary(SKF_AD_IFINDEX));
    for (int i : s.ignored_ifindexes) {
        a.if_equal(static_cast<std::uint32_t>(i));
        a.reject();
    }
    a.stmt(BPF_LD | BPF_H | BPF_ABS, ancillary(SKF_AD_PROTOCOL));
    a.if_equal(ETH_P_IP);
    a.go(L::v4);
    a.if_equal(ETH_P_IPV6);
    a.go(L::v6);
    a.reject();

    a.mark(L::v4);
    addresses(a, s, true, L::marked4);
    a.mark(L::marked4);
    a.stmt(BPF_LD | BPF_H | BPF_ABS, 6);  // flags and fragment offset
    a.jump(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 0, 1);
    a.reject();  // a later fragment: what follows the header is payload, not ports
    a.stmt(BPF_LDX | BPF_B | BPF_MSH, 0);  // X = the IPv4 header's length
    a.stmt(BPF_LD | BPF_B | BPF_ABS, 9);   // protocol
    a.if_equal(IPPROTO_ICMP);
    a.go(L::icmp4);
    a.if_equal(IPPROTO_TCP);
    a.go(L::ports4);
    a.if_equal(IPPROTO_UDP);
    a.go(L::ports4);
    a.reject();
    a.mark(L::ports4);
    a.stmt(BPF_LD | BPF_H | BPF_IND, 0);  // source port
    in_range(a, s);
    a.accept();
    a.mark(L::icmp4);
    a.stmt(BPF_LD | BPF_B | BPF_IND, 0);  // type
    a.if_equal(8);                        // echo request
    a.go(L::icmp4_id);
    a.reject();
    a.mark(L::icmp4_id);
    a.stmt(BPF_LD | BPF_H | BPF_IND, 4);  // identifier
    in_range(a, s);
    a.stmt(BPF_LD | BPF_W | BPF_IND, 8);  // payload
    nonce(a, s);

    a.mark(L::v6);
    addresses(a, s, false, L::marked6);
    a.mark(L::marked6);
    a.stmt(BPF_LD | BPF_B | BPF_ABS, 6);  // next header (extension headers are not followed)
    a.if_equal(IPPROTO_ICMPV6);
    a.go(L::icmp6);
    a.if_equal(IPPROTO_TCP);
    a.go(L::ports6);
    a.if_equal(IPPROTO_UDP);
    a.go(L::ports6);
    a.reject();
    a.mark(L::ports6);
    a.stmt(BPF_LD | BPF_H | BPF_ABS, 40);
    in_range(a, s);
    a.accept();
    a.mark(L::icmp6);
    a.stmt(BPF_LD | BPF_B | BPF_ABS, 40);
    a.if_equal(128);  // echo request
    a.go(L::icmp6_id);
    a.reject();
    a.mark(L::icmp6_id);
    a.stmt(BPF_LD | BPF_H | BPF_ABS, 44);
    in_range(a, s);
    a.stmt(BPF_LD | BPF_W | BPF_ABS, 48);
    nonce(a, s);
    return a.finish();
}

std::vector<std::vector<sock_filter>> leak_filters(const leak_selector& s) {
    auto whole = leak_filter(s);
    if (whole.size() <= BPF_MAXINSNS || s.sources.size() < 2) {
        return {std::move(whole)};
    }
    auto half = s.sources.begin() + static_cast<std::ptrdiff_t>(s.sources.size() / 2);
    leak_selector first = s, second = s;
    first.sources.assign(s.sources.begin(), half);
    second.sources.assign(half, s.sources.end());
    second.destinations.clear();
    auto out = leak_filters(first);
    for (auto& f : leak_filters(second)) {
        out.push_back(std::move(f));
    }
    return out;
}

std::optional<packet_summary> summarize(std::span<const std::uint8_t> p) {
    auto u16 = [&](std::size_t at) { return static_cast<std::uint16_t>(p[at] << 8 | p[at + 1]); };
    packet_summary out;
    std::size_t transport = 0;
    if (p.size() >= 20 && p[0] >> 4 == 4) {
        out.source.family = out.destination.family = AF_INET;
        std::copy_n(p.begin() + 12, 4, out.source.bytes.begin());
        std::copy_n(p.begin() + 16, 4, out.destination.bytes.begin());
        out.protocol = p[9];
        transport = 4u * (p[0] & 0xfu);
    } else if (p.size() >= 40 && p[0] >> 4 == 6) {
        out.source.family = out.destination.family = AF_INET6;
        std::copy_n(p.begin() + 8, 16, out.source.bytes.begin());
        std::copy_n(p.begin() + 24, 16, out.destination.bytes.begin());
        out.protocol = p[6];
        transport = 40;
    } else {
        return std::nullopt;
    }
    bool icmp = out.protocol == IPPROTO_ICMP || out.protocol == IPPROTO_ICMPV6;
    if (p.size() >= transport + (icmp ? 6 : 2)) {
        out.port = u16(transport + (icmp ? 4 : 0));
    }
    return out;
}

}  // namespace moat::check
