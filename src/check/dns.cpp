#include "check/dns.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstdio>

namespace moat::check::dns {

namespace {

void put16(std::string& out, std::uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v & 0xff));
}

struct reader {
    std::span<const std::uint8_t> p;
    std::size_t at = 0;
    bool ok = true;

    std::uint16_t u16() {
        if (at + 2 > p.size()) {
            ok = false;
            return 0;
        }
        at += 2;
        return static_cast<std::uint16_t>(p[at - 2] << 8 | p[at - 1]);
    }
    void skip(std::size_t n) {
        ok = ok && at + n <= p.size();
        at = ok ? at + n : p.size();
    }
    // A name is skipped, not decoded: a compression pointer ends it.
    void skip_name() {
        while (ok) {
            if (at >= p.size()) {
                ok = false;
                return;
            }
            std::uint8_t len = p[at];
            if ((len & 0xc0) == 0xc0) {
                skip(2);
                return;
            }
            if ((len & 0xc0) != 0) {
                ok = false;
                return;
            }
            skip(1u + len);
            if (len == 0) {
                return;
            }
        }
    }
};

}  // namespace

std::string query(std::uint16_t id, std::string_view name, std::uint16_t qtype) {
    std::string out;
    put16(out, id);
    put16(out, 0x0100);  // a standard query, recursion desired
    put16(out, 1);
    put16(out, 0);
    put16(out, 0);
    put16(out, 0);
    if (name.ends_with(".")) {
        name.remove_suffix(1);
    }
    while (!name.empty()) {
        auto dot = name.find('.');
        auto label = name.substr(0, dot);
        out.push_back(static_cast<char>(label.size()));
        out.append(label);
        name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
    }
    out.push_back('\0');
    put16(out, qtype);
    put16(out, 1);  // IN
    return out;
}

std::string reverse_name(const sys::ip_address& a) {
    char buf[8];
    std::string out;
    if (a.is_v4()) {
        for (int i = 3; i >= 0; --i) {
            out += std::to_string(a.bytes[static_cast<std::size_t>(i)]) + ".";
        }
        return out + "in-addr.arpa";
    }
    for (int i = 15; i >= 0; --i) {
        auto b = a.bytes[static_cast<std::size_t>(i)];
        std::snprintf(buf, sizeof buf, "%x.%x.", b & 0xf, b >> 4);
        out += buf;
    }
    return out + "ip6.arpa";
}

std::optional<answer> parse(std::span<const std::uint8_t> packet, std::uint16_t id) {
    reader r{packet};
    answer a;
    a.id = r.u16();
    std::uint16_t flags = r.u16();
    std::uint16_t qd = r.u16(), an = r.u16();
    r.skip(4);  // authority and additional counts: not read
    if (!r.ok || a.id != id || (flags & 0x8000) == 0) {
        return std::nullopt;
    }
    a.rcode = flags & 0xf;
    for (std::uint16_t i = 0; i < qd && r.ok; ++i) {
        r.skip_name();
        r.skip(4);
    }
    for (std::uint16_t i = 0; i < an && r.ok; ++i) {
        r.skip_name();
        std::uint16_t type = r.u16(), cls = r.u16();
        r.skip(4);  // TTL
        std::uint16_t len = r.u16();
        std::size_t start = r.at;
        r.skip(len);
        if (!r.ok) {
            break;
        }
        std::size_t size = type == type_a ? 4 : type == type_aaaa ? 16 : 0;
        if (cls == 1 && size != 0 && len == size) {
            sys::ip_address addr;
            addr.family = size == 4 ? AF_INET : AF_INET6;
            std::copy_n(packet.begin() + static_cast<std::ptrdiff_t>(start), size, addr.bytes.begin());
            a.addresses.push_back(addr);
        }
    }
    if (!r.ok) {
        return std::nullopt;
    }
    return a;
}

std::string rcode_name(int rcode) {
    switch (rcode) {
        case 0: return "NOERROR";
        case 1: return "FORMERR";
        case 2: return "SERVFAIL";
        case 3: return "NXDOMAIN";
        case 4: return "NOTIMP";
        case 5: return "REFUSED";
        default: return "rcode " + std::to_string(rcode);
    }
}

}  // namespace moat::check::dns
