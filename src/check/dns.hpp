// The DNS wire format, as much as `moat check` needs to ask a container's
// resolver one question and read the answer (RFC 1035). Pure functions, so
// the parser of what a resolver sends back is unit-tested and fuzzed.
#pragma once

#include "sys/inet.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat::check::dns {

enum : std::uint16_t { type_a = 1, type_ptr = 12, type_aaaa = 28 };

// One recursive question; `name` is a DNS name (config::is_dns_name).
std::string query(std::uint16_t id, std::string_view name, std::uint16_t qtype);

// "10.100.51.198.in-addr.arpa" / nibbles ".ip6.arpa".
std::string reverse_name(const sys::ip_address& a);

struct answer {
    std::uint16_t id = 0;
    int rcode = 0;                          // 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, ...
    std::vector<sys::ip_address> addresses;  // the A/AAAA records of the answer section
};

// A response to a question with `id`; nullopt for anything else (not a
// response, another id, truncated or malformed).
std::optional<answer> parse(std::span<const std::uint8_t> packet, std::uint16_t id);

std::string rcode_name(int rcode);

}  // namespace moat::check::dns
