// The runner's provider port forwarding (plan/port_forwarding.hpp has the
// contract with the container, tunnel/natpmp.hpp the protocol).
//
// Theory of operation
// -------------------
// A thread of its own, so that a silent gateway (up to 1.75 s per request
// on the RFC's retry schedule) never delays the runner's loop, which routes
// and answers openvpn's management socket. The loop tells it the tunnel's
// state after every look (update()); the thread:
//  * maps (TCP and/or UDP, each its own request, RFC 6886 3.3) as soon as
//    the tunnel is up with an IPv4 address, and again after every time it
//    went down and came back (a reconnect, a new device): the provider may
//    have dropped the mapping with the session (gluetun #1407, #1882);
//  * renews at half the lifetime the server granted (RFC 6886 3.3: "the
//    client SHOULD renew ... halfway to expiry");
//  * on failure says why in the log and tries again with back-off (5 s
//    doubling to 60 s), never faster than the RFC's own retries;
//  * when a port is assigned after the tunnel came up, or changes, writes
//    the port file (which runs the container's onChange hook) and puts
//    the port into the container's nft map and set (one transaction); a
//    renewal of the same port writes the map and set again only;
//  * while it holds a port, looks at the table every 2 s and puts the
//    elements back when an `up` replaced the table (which makes the map
//    and set empty again);
//  * when the mapping expired without renewal, deletes the file and
//    empties the map and set: the port is no longer the container's.
#pragma once

#include "plan/tunnel.hpp"
#include "sys/inet.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace moat::tunnel {

class forwarder {
public:
    // Starts the thread when `t` has portForwarding; otherwise does nothing.
    explicit forwarder(const plan::tunnel_plan& t);
    ~forwarder();
    forwarder(const forwarder&) = delete;
    forwarder& operator=(const forwarder&) = delete;

    // The device's index (0: not up) and global addresses, as routed.
    void update(int index, const std::vector<sys::ip_address>& addresses);

private:
    void run();

    plan::tunnel_plan _t;
    std::mutex _mutex;
    std::condition_variable _wake;
    bool _stop = false;
    int _index = 0;
    std::optional<sys::ip_address> _address;  // the tunnel's IPv4 address while up
    unsigned _generation = 0;                 // +1 each time the tunnel comes up
    std::thread _thread;
};

}  // namespace moat::tunnel
