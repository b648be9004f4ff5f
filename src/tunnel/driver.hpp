// What the runner's loop (runner.cpp) needs from each tunnel type: the
// device and sockets prepared before the daemon starts, the daemon's
// spec, and the work after it started or when its control socket speaks.
#pragma once

#include "netlink/netlink.hpp"
#include "plan/tunnel.hpp"
#include "tunnel/daemon.hpp"

#include <memory>

namespace moat::tunnel {

class driver {
public:
    virtual ~driver() = default;
    virtual daemon_spec spec() const = 0;
    // The daemon runs: configure what it cannot.
    virtual void started(pid_t daemon) = 0;
    // A descriptor the loop polls for this driver (-1: none), and what to
    // do when it is readable.
    virtual int fd() const { return -1; }
    virtual void on_readable() {}
    // Called on every turn of the loop (at least once a second).
    virtual void tick() {}
};

// Both expect that no link named t.device exists (the runner deleted a leftover).
std::unique_ptr<driver> wireguard_driver(const plan::tunnel_plan& t, netlink::socket& nl);
std::unique_ptr<driver> openvpn_driver(const plan::tunnel_plan& t, netlink::socket& nl);

}  // namespace moat::tunnel
