// What `moat check` reaches from a container: `[check] probe`, a string or
// an array of them, each "http://HOST[:PORT][/PATH]" or "HOST:PORT". HOST
// is an IPv4 address, a bracketed IPv6 address or a DNS name; a name is
// resolved through the container's own resolver, which is part of what the
// check proves. Parsed here so that a bad probe is a configuration error
// (file:line:col) and not a surprise at check time.
#pragma once

#include "sys/inet.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace moat::config {

struct probe_target {
    bool http = false;
    std::string host;                       // as written, without brackets
    std::optional<sys::ip_address> address;  // unset: `host` is a name
    std::uint16_t port = 80;
    std::string path = "/";
};

std::optional<probe_target> parse_probe(std::string_view text);

// Letters, digits, '-' and '.', labels of 1..63, at most 253 in all, and
// not all digits and dots (that would be a mistyped address).
bool is_dns_name(std::string_view name);

}  // namespace moat::config
