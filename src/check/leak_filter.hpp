// The classic BPF program of `moat check`'s leak capture. It runs on a
// cooked (SOCK_DGRAM) packet socket bound to every interface, so it sees
// the network header first whatever the link type, and accepts:
//  * nothing on the interfaces it ignores (lo, moat's links, tunnels);
//  * any IPv4/IPv6 packet from a container's address: outside moat's links
//    such a packet is always a leak;
//  * a packet to one of the probe's destinations whose TCP/UDP source port
//    lies in the range the probes were marked with (chosen below the host's
//    ephemeral ports), or an ICMP echo request whose identifier lies there
//    and whose payload starts with the run's nonce: so the probes are
//    recognised even after a masquerade rewrote their source address, and
//    the host's own traffic to the same places is not. A later IPv4
//    fragment has no ports to read and is not taken for a marked one.
// Pure: built and unit-tested (with an interpreter) without root.
#pragma once

#include "sys/inet.hpp"

#include <linux/filter.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace moat::check {

struct leak_selector {
    std::vector<int> ignored_ifindexes;
    std::vector<sys::ip_address> sources;
    std::vector<sys::ip_address> destinations;
    std::uint16_t first_port = 0;  // marked probes: [first_port, last_port]
    std::uint16_t last_port = 0;
    std::uint32_t icmp_nonce = 0;  // the first four bytes of a marked echo's payload
};

// How much of each accepted packet is kept: headers enough to say what it was.
constexpr std::uint32_t leak_snaplen = 96;

std::vector<sock_filter> leak_filter(const leak_selector& s);

// The same selection as programs the kernel takes (at most BPF_MAXINSNS
// instructions each): the sources split across them, the destinations in
// the first only, so that no packet is accepted by two.
std::vector<std::vector<sock_filter>> leak_filters(const leak_selector& s);

// What an accepted packet was, from its network header on.
struct packet_summary {
    sys::ip_address source, destination;
    int protocol = 0;        // IPPROTO_*
    std::uint16_t port = 0;  // TCP/UDP source port, ICMP echo identifier
};
std::optional<packet_summary> summarize(std::span<const std::uint8_t> packet);

}  // namespace moat::check
