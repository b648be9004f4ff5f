// NAT-PMP (RFC 6886): the provider's port forwarding, as ProtonVPN offers
// it on its tunnel's gateway (10.2.0.1): a mapping of one public port,
// asked for TCP and UDP separately, that lives `lifetime` seconds unless
// the client asks again.
//
// Theory of operation
// -------------------
// The messages are tiny fixed layouts in network byte order (RFC 6886
// 3.2, 3.3, 3.5): encode_*/decode_* below are pure and tested on bytes.
// exchange() is the client's half of 3.1: one UDP request to port 5351 of
// the gateway, re-sent after 250 ms, 500 ms, 1 s, ... (the RFC's schedule,
// doubling) up to `attempts` times — the RFC's 9 tries take 64 s, which
// would hold the runner's loop; moat gives up sooner and retries later
// with its own back-off. An answer counts only when it comes from the
// gateway's port 5351, is version 0 and answers the request's opcode
// (RFC 6886 3.1: "the client MUST ... silently ignore" anything else).
//
// The request must leave through the tunnel, never the uplink: the socket
// is bound to the tunnel's device (SO_BINDTODEVICE: the kernel sends only
// out of that interface and delivers to it only what arrived there) and to
// the tunnel's own address, which the provider's gateway maps to.
#pragma once

#include "sys/inet.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moat::tunnel::natpmp {

inline constexpr std::uint16_t server_port = 5351;

enum class protocol : std::uint8_t { udp = 1, tcp = 2 };  // the request's opcode

// RFC 6886 3.3: a mapping request. internal_port 0 with a lifetime is not
// the RFC's (it means "delete all" with lifetime 0), but ProtonVPN
// documents exactly that shape (`natpmpc -a 1 0 <proto> 60`): internal 0,
// suggested public port 1, and forwards the public port it picks to the
// same port at the client.
struct mapping_request {
    protocol proto = protocol::tcp;
    std::uint16_t internal_port = 0;
    std::uint16_t suggested_port = 0;
    std::uint32_t lifetime = 60;
    bool operator==(const mapping_request&) const = default;
};

struct mapping_answer {
    std::uint16_t result = 0;  // 0 success; result_text()
    std::uint32_t epoch = 0;   // seconds since the server's mappings were reset
    std::uint16_t internal_port = 0;
    std::uint16_t public_port = 0;
    std::uint32_t lifetime = 0;  // what the server grants, which may be less
    bool operator==(const mapping_answer&) const = default;
};

struct address_answer {
    std::uint16_t result = 0;
    std::uint32_t epoch = 0;
    sys::ip_address address;
};

std::vector<std::uint8_t> encode_address_request();
std::vector<std::uint8_t> encode(const mapping_request& r);
// nullopt for anything that is not a well-formed answer to that request
// (short, another version or opcode): ignored, as RFC 6886 3.1 says.
std::optional<address_answer> decode_address_answer(const std::uint8_t* data, std::size_t size);
std::optional<mapping_answer> decode_mapping_answer(const std::uint8_t* data, std::size_t size, protocol proto);

// "Not Authorized/Refused", ... (RFC 6886 3.5), or "result code N".
std::string result_text(std::uint16_t result);

// The RFC's wait before try `n` (0-based): 250 ms << n.
std::chrono::milliseconds retry_delay(unsigned n);

struct endpoint {
    std::string device;           // the tunnel's device, e.g. "tn-proton"
    sys::ip_address source;       // the tunnel's own address on it
    sys::ip_address gateway;      // the NAT-PMP server inside the tunnel
};

// Sends `request` and returns the first valid answer's bytes, trying
// `attempts` times on the RFC's schedule; throws moat::error saying what
// happened (no answer, ICMP refused, cannot bind to the device).
std::vector<std::uint8_t> exchange(const endpoint& at, const std::vector<std::uint8_t>& request, unsigned attempts);

// One mapping, asked and checked: throws moat::error with the server's
// result text when it refuses.
mapping_answer map(const endpoint& at, const mapping_request& r, unsigned attempts);

}  // namespace moat::tunnel::natpmp
