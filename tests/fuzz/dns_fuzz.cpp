// libFuzzer target for the DNS response parser of `moat check`. Each input
// is used twice:
//  * as raw bytes, what a container's resolver might send back: parse()
//    runs with a fixed id and with the id the input carries (so it gets
//    past the header), and whatever it returns must agree with the bytes;
//  * as a recipe for a well-formed response (question from query(), answers
//    of chosen names, types, classes and lengths), whose addresses are known
//    beforehand: parse() must return exactly those, and nullopt for every
//    cut of it. Raw bytes alone rarely reach an AAAA record: its type and
//    length must match at once, and the parser gives no coverage in between.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "check/dns.hpp"

namespace dns = moat::check::dns;

namespace {

constexpr std::uint16_t fixed_id = 0x4d54;

void check_raw(const std::optional<dns::answer>& a, std::span<const std::uint8_t> p, std::uint16_t id) {
    if (!a) return;
    // A result needs the id and the QR bit it was asked about.
    if (p.size() < 12 || a->id != id || (p[0] << 8 | p[1]) != id || (p[2] & 0x80) == 0) abort();
    if (a->rcode != (p[3] & 0xf)) abort();
    // Each address is a record of at least 15 bytes (root name, 10 fixed, 4 data).
    if (12 + 15 * a->addresses.size() > p.size()) abort();
    for (const auto& addr : a->addresses) {
        if (addr.family == AF_INET) {
            for (std::size_t i = 4; i < addr.bytes.size(); ++i) {
                if (addr.bytes[i] != 0) abort();  // IPv4 uses the first 4 bytes only
            }
        } else if (addr.family != AF_INET6) {
            abort();
        }
        if (addr.str().empty()) abort();
    }
}

// The input as a stream of choices; zeros once it is used up.
struct recipe {
    const std::uint8_t* d;
    std::size_t n, at = 0;
    std::uint8_t u8() { return at < n ? d[at++] : 0; }
    std::uint16_t u16() { return static_cast<std::uint16_t>(u8() << 8 | u8()); }
};

void put16(std::string& s, std::uint16_t v) {
    s.push_back(static_cast<char>(v >> 8));
    s.push_back(static_cast<char>(v & 0xff));
}

void fuzz_built(const std::uint8_t* data, std::size_t size) {
    recipe r{data, size};
    std::uint16_t id = r.u16();
    int rcode = r.u8() & 0xf;
    std::string name;
    for (int labels = r.u8() % 4; labels > 0; --labels) {
        name += std::string(1 + r.u8() % 63, 'a') + ".";
    }
    std::string p = dns::query(id, name, r.u8() & 1 ? dns::type_aaaa : dns::type_a);
    p[2] = static_cast<char>(0x81);  // QR, RD
    p[3] = static_cast<char>(0x80 | rcode);
    int answers = r.u8() % 8;
    p[7] = static_cast<char>(answers);
    std::vector<moat::sys::ip_address> want;
    for (int i = 0; i < answers; ++i) {
        static const char* const names[] = {"\xc0\x0c", "", "\1x"};  // + the root's 0 byte
        std::uint8_t form = r.u8() % 3;
        p.append(names[form]);
        if (form != 0) p.push_back('\0');
        std::uint8_t pick = r.u8();
        static const std::uint16_t types[] = {dns::type_a, dns::type_aaaa, 5, dns::type_ptr};
        std::uint16_t type = pick & 4 ? r.u16() : types[pick & 3];
        std::uint16_t cls = pick & 8 ? r.u16() : 1;
        std::uint16_t len = pick & 16 ? r.u8() % 40 : type == dns::type_aaaa ? 16 : 4;
        put16(p, type);
        put16(p, cls);
        put16(p, 0);
        put16(p, 300);  // TTL
        put16(p, len);
        std::size_t start = p.size();
        for (int b = 0; b < len; ++b) p.push_back(static_cast<char>(r.u8()));
        if (cls == 1 && ((type == dns::type_a && len == 4) || (type == dns::type_aaaa && len == 16))) {
            moat::sys::ip_address a;
            a.family = len == 4 ? AF_INET : AF_INET6;
            for (std::size_t b = 0; b < len; ++b) a.bytes[b] = static_cast<std::uint8_t>(p[start + b]);
            want.push_back(a);
        }
    }
    std::vector<std::uint8_t> full(p.begin(), p.end());
    auto got = dns::parse(full, id);
    if (!got || got->id != id || got->rcode != rcode || got->addresses != want) abort();
    if (dns::parse(full, static_cast<std::uint16_t>(id ^ 1))) abort();
    // An exactly sized copy, so that ASan sees a read past the cut.
    std::size_t cut = r.u16() % full.size();
    std::vector<std::uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
    if (dns::parse(prefix, id)) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::uint8_t> p(data, size);
    check_raw(dns::parse(p, fixed_id), p, fixed_id);
    if (size >= 2) {
        auto id = static_cast<std::uint16_t>(data[0] << 8 | data[1]);
        check_raw(dns::parse(p, id), p, id);
    }
    fuzz_built(data, size);
    return 0;
}
