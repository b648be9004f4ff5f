#include "sys/inet.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace moat::sys {

std::optional<ip_address> ip_address::parse(std::string_view text) {
    std::string s(text);
    ip_address a;
    if (s.find(':') != std::string::npos) {
        if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) {
            return std::nullopt;
        }
        a.family = AF_INET6;
        return a;
    }
    // inet_pton(AF_INET) already rejects the short and octal forms.
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) {
        return std::nullopt;
    }
    a.family = AF_INET;
    return a;
}

std::string ip_address::str() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family == 0 || !inet_ntop(family, bytes.data(), buf, sizeof buf)) {
        return "";
    }
    return buf;
}

bool ip_address::is_v4() const noexcept { return family == AF_INET; }
bool ip_address::is_v6() const noexcept { return family == AF_INET6; }

std::optional<ip_prefix> ip_prefix::parse(std::string_view text) {
    auto slash = text.find('/');
    auto addr = ip_address::parse(text.substr(0, slash));
    if (!addr) {
        return std::nullopt;
    }
    ip_prefix p{*addr, addr->max_prefix()};
    if (slash != std::string_view::npos) {
        auto len = text.substr(slash + 1);
        int value = -1;
        auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), value);
        if (len.empty() || ec != std::errc() || end != len.data() + len.size() || value < 0 ||
            value > addr->max_prefix()) {
            return std::nullopt;
        }
        p.length = value;
    }
    return p;
}

std::string ip_prefix::str() const { return address.str() + "/" + std::to_string(length); }

ip_prefix ip_prefix::network() const {
    ip_prefix n = *this;
    int bits = address.max_prefix();
    for (int i = length; i < bits; ++i) {
        n.address.bytes[i / 8] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
    }
    return n;
}

bool ip_prefix::contains(const ip_address& a) const {
    if (a.family != address.family) {
        return false;
    }
    ip_prefix other{a, length};
    return other.network().address == network().address;
}

bool ip_prefix::overlaps(const ip_prefix& other) const {
    if (other.address.family != address.family) {
        return false;
    }
    int len = std::min(length, other.length);
    return ip_prefix{address, len}.network().address == ip_prefix{other.address, len}.network().address;
}

std::optional<ip_address> nth_address(const ip_prefix& net, std::uint64_t index) {
    int host_bits = net.address.max_prefix() - net.length;
    if (host_bits < 64 && index >> host_bits) {
        return std::nullopt;
    }
    ip_address a = net.network().address;
    int last = net.address.is_v4() ? 3 : 15;
    unsigned carry = 0;
    for (int i = last; i >= 0; --i) {
        unsigned sum = a.bytes[i] + static_cast<unsigned>(index & 0xff) + carry;
        a.bytes[i] = static_cast<std::uint8_t>(sum);
        carry = sum >> 8;
        index >>= 8;
    }
    return a;
}

}  // namespace moat::sys
