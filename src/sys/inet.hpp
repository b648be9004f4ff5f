// IPv4/IPv6 addresses and prefixes as plain values: parsed strictly (no
// inet_aton shortcuts such as "10.1" or octal), compared, formatted. Shared by
// config validation, planning, netlink and the firewall renderer.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace moat::sys {

struct ip_address {
    int family = 0;                       // AF_INET or AF_INET6; 0 = unset
    std::array<std::uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4

    static std::optional<ip_address> parse(std::string_view text);
    std::string str() const;
    bool is_v4() const noexcept;
    bool is_v6() const noexcept;
    int max_prefix() const noexcept { return is_v4() ? 32 : 128; }
    auto operator<=>(const ip_address&) const = default;
};

struct ip_prefix {
    ip_address address;  // the host address as written, not masked
    int length = 0;

    // "10.0.0.1/24" or "10.0.0.1" (full-length prefix).
    static std::optional<ip_prefix> parse(std::string_view text);
    std::string str() const;          // "10.0.0.1/24"
    ip_prefix network() const;        // host bits cleared
    bool contains(const ip_address& a) const;
    bool overlaps(const ip_prefix& other) const;
    auto operator<=>(const ip_prefix&) const = default;
};

// The address at `index` inside `net` (index 1 = first host of 10.0.0.0/24
// = 10.0.0.1); nullopt when it falls outside the prefix.
std::optional<ip_address> nth_address(const ip_prefix& net, std::uint64_t index);

}  // namespace moat::sys
