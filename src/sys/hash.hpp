// FNV-1a 64: a stable hash for names and canonical texts. Unlike std::hash
// it is the same across builds and machines, so what it derives (interface
// name suffixes, allocated addresses, instance ids, plan hashes) is too.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

namespace moat::sys {

inline std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) {
        h = (h ^ c) * 0x100000001b3ull;
    }
    return h;
}

// 16 lower-case hex digits.
inline std::string fnv1a_hex(std::string_view s) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a(s)));
    return buf;
}

// Bytes as lower-case hex, two digits each (digests, keys for the
// WireGuard UAPI, random names).
inline std::string to_hex(std::span<const unsigned char> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

}  // namespace moat::sys
