// The host-access tests' part of the lab (network_lab.hpp draws the rest):
// services on the lab's host that a container must not reach unless its
// configuration says so, the probes a container runs against them, and
// the raw-frame attack on the host's loopback (CVE-2020-8558). Everything
// runs in the lab's namespaces and dies with them.
//
//   host  0.0.0.0:2222, [::]:2222   TCP, each answers one line ("host-any", "host-any6")
//         127.0.0.1:2223            TCP, answers "host-lo"
//         0.0.0.0:53, [::]:53       dnsmasq, forwards every question to the wan's resolver
//         127.0.0.1:5300            dnsmasq, the same, loopback only
//   wan   203.0.113.1:53            dnsmasq: leak.example A 198.51.100.10
#pragma once

#include "network_lab.hpp"

#include <map>
#include <string>
#include <vector>

namespace moat::test {

inline const std::string leak_answer = "198.51.100.10";

class host_services {
public:
    // Starts them all and waits until the host itself gets its answers
    // (the fixture's own positive control).
    host_services(lab& l, wan& w);
    const std::string& forwarded_log() const { return _log; }  // the host resolver's query log

private:
    std::string _log;
};

// From inside container `name` ("" = the lab's host itself), in parallel:
// a TCP connection to each address on `port` and a DNS question for
// leak.example to each on `dns_port`. "tcp ADDR" → the line served or "-";
// "dns ADDR" → the A record, "rcodeN", or "-" (no answer).
std::map<std::string, std::string> reach(lab& l, const std::string& name, int port,
                                         const std::vector<std::string>& addresses, int dns_port = 53);

// The attack, run inside container `name` as its root would (python3 and
// CAP_NET_RAW): an Ethernet frame from eth0 to `mac` (the host's end of the
// link, whose address is `gateway`) carrying, from `source`, a TCP SYN
// ("tcp") or a DNS question ("dns") to 127.0.0.1:`port`. True when
// 127.0.0.1:`port` answers: a SYN-ACK, or any datagram.
bool localhost_answers(lab& l, const std::string& name, const std::string& mac, const std::string& gateway,
                       const std::string& source, int port, const std::string& mode);

// The MAC address of a link of the lab's host.
std::string mac_of(lab& l, const std::string& ifname);

}  // namespace moat::test
