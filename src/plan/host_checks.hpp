// Checks of a plan against the host it is about to run on: the half of
// validation that needs the host's state, done before `up` touches
// anything, so that a clash is exit 2 with file:line:col and nothing made.
//
// The configuration's own validator (config/validate) knows only the file.
// What it cannot know:
//
//  * The host's own addresses, routes and default gateways. A container
//    address that is one of the host's, its gateway, or inside a subnet the
//    host routes on another link, would steal that address from the host's
//    network (the kernel accepts a more specific route without a word); a
//    network subnet must not overlap such a route, nor contain an address
//    of the host. Routes shorter than the widest network moat accepts
//    (/8, /16; config/addresses.hpp) are not compared: they are default
//    routes in pieces, as VPN clients install 0.0.0.0/1 + 128.0.0.0/1.
//    Addresses and routes on moat's own links (those the records name) are
//    moat's, not the host's.
//  * The interfaces: a network's `uplink` must exist, and a link moat is
//    about to create must not exist unless the records say it is moat's.
//  * The containers the state directory records as running that this `up`
//    keeps (host_context::keeps): those of other files and of `moat run`,
//    and of this file when names are given. A new container must not take
//    their names, addresses, links or forwarded ports, and a network must
//    not take a subnet that overlaps theirs, or the network of the same
//    name with another subnet.
//
// The CLI holds the state directory's lock while it gathers the context and
// until `up` has finished, so what is checked here is what `up` acts on.
#pragma once

#include "config/model.hpp"
#include "plan/network.hpp"

namespace moat::plan {

// Throws config::config_error listing every clash, each at the key that
// causes it (the container's table for an allocated address).
void check_host(const config::model& m, const host_plan& planned, const host_context& ctx);

}  // namespace moat::plan
