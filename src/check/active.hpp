// The active checks of `moat check` (active.cpp).
#pragma once

#include "check/detail.hpp"

namespace moat::check::detail {

// A container `moat check` probes, with what the check learns on the way.
struct subject {
    state::container_record record;
    plan::container_plan plan;
    std::vector<config::probe_target> targets;  // empty: not probed
    bool v4 = false, v6 = false;                // the families it has
    std::vector<sys::ip_address> addresses;     // its own
    std::vector<sys::ip_address> resolvers;     // its /etc/resolv.conf
    std::uint16_t port = 0;                     // the first of its marked ports
    dns_outcome dns;
};

// Probes every subject with targets; "none" and "vpn" ones under the leak
// capture, which ignores `moat_ifindexes` (moat's links and tunnels) and lo.
void active_checks(std::vector<subject>& subjects, const std::vector<int>& moat_ifindexes, const options& opts,
                   std::vector<finding>& out);

}  // namespace moat::check::detail
