// Wiring a container's network from the host side, through netlink only.
//
// The veth pair is created in one request with its peer placed directly in
// the container's network namespace (IFLA_NET_NS_FD) and named eth0 there,
// so the container never sees a moment with a host-named interface. The
// container's side (addresses, lo, default route) is configured through a
// netlink socket opened inside its namespace, without entering it.
#pragma once

#include "netlink/netlink.hpp"
#include "plan/plan.hpp"

#include <sys/types.h>

namespace moat::container {

// Configures the network of the container whose init is `pid`: the veth
// pair with addresses and routes when the plan has one (the init raises
// its own loopback). The host end is marked as `instance`'s
// (netlink/owner.hpp).
void wire_network(const plan::container_plan& plan, pid_t pid, const std::string& instance);

// The veth part of that for a namespace someone else made (a CNI
// attachment's): the peer is named `inner_if` there. The caller has set
// up its loopback, or decided not to. A bridge port's host end is left
// down: processes may already run in that namespace, and nothing of
// theirs may pass before the firewall knows the link (raise_host_end()
// after the commit). A point-to-point host end is up at once.
// Without `default_route` the namespace keeps the default route it has
// (another network's: moat is a second attachment) and gets only the
// subnet's. `host` is a socket in the host's namespace, `inner` one in
// the attachment's: a CNI ADD opens each once for all it does.
void wire_veth(netlink::socket& host, netlink::socket& inner, const plan::container_plan& plan, int netns_fd,
               const std::string& inner_if, const std::string& instance, bool default_route = true);
void raise_host_end(netlink::socket& host, const plan::container_plan& plan);

// Throws when the host end of the plan's veth exists and is not
// `instance`'s (another instance's, the host's own); deletes a stale one of
// `instance`'s. Called before anything of the container is recorded or made.
void check_link_free(const plan::container_plan& plan, const std::string& instance);

// Deletes the host end of the veth (the peer goes with it) if it is
// `instance`'s, or has no mark (an older moat made it); absent is fine.
// Another instance's link is left alone, with a note on stderr.
void unwire_network(const std::string& host_if, const std::string& instance);

}  // namespace moat::container
