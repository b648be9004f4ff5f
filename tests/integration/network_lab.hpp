// The network tests' part of the lab (LAB.md): the lab's host gets an uplink
// to a fake internet ("wan" namespace) with a web server that answers with
// the source address it sees, plus helpers to reach into containers, read
// moat's status and count packets with tcpdump. Everything lives in the
// lab's namespaces and dies with the lab.
//
//   wan   w<id>  203.0.113.1/24   2001:db8:113::1/64    lo: 198.51.100.10, 2001:db8:51::10 (web :80)
//          |
//   host  u<id>  203.0.113.10/24  2001:db8:113::10/64   default routes via .1 / ::1
//
// The wan has no route to any container subnet: only NAT'ed traffic (or
// traffic DNAT'ed back by conntrack) gets an answer.
#pragma once

#include "lab.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace moat::test {

inline const std::string web4 = "198.51.100.10";
inline const std::string web6 = "2001:db8:51::10";
inline const std::string uplink4 = "203.0.113.10";
inline const std::string uplink6 = "2001:db8:113::10";

// Single-quotes s for /bin/sh.
std::string shq(const std::string& s);

class wan {
public:
    // Builds the uplink and the wan namespace and waits for the web server.
    explicit wan(lab& l);
    const std::string& ns() const { return _ns; }
    const std::string& uplink() const { return _uplink; }  // the host's end

private:
    std::string _ns, _uplink;
};

// Starts the web server (port 80, answers with the peer's address) in
// namespace ns and waits until `url` answers from inside ns.
void serve_web(lab& l, const std::string& ns, const std::string& url);

// Polls fn every 100 ms until it returns true or `limit` has passed.
bool eventually(const std::function<bool()>& fn, std::chrono::milliseconds limit = std::chrono::seconds(10));

// `moat status --json`, parsed (an empty object when moat printed no JSON).
nlohmann::json status(lab& l);
// The container's entry in status (null when not listed).
nlohmann::json container_status(lab& l, const std::string& name);
// addresses.<key> of a container without any "/len" suffix ("" if absent).
std::string address_of(lab& l, const std::string& name, const std::string& key = "local");

// Inside container `name` (moat exec), with a hard timeout:
//   GET url with curl, its body ("" on failure);
std::string http_get(lab& l, const std::string& name, const std::string& url, int seconds = 3);
//   the first line served on addr:port over TCP ("" if none).
std::string tcp_line(lab& l, const std::string& name, const std::string& addr, int port, int seconds = 3);

// From namespace ns ("" = the lab's host): GET url; one UDP datagram to
// addr:port and the first answer ("" if none).
std::string ns_http_get(lab& l, const std::string& ns, const std::string& url, int seconds = 3);
std::string ns_udp(lab& l, const std::string& ns, const std::string& addr, int port, const std::string& payload,
                   bool v6 = false);

// Whether address `addr` lies in `subnet` ("10.172.0.0/24", "fd00::/64").
bool in_subnet(const std::string& addr, const std::string& subnet);

// True when a line of moat's report reads "<name> <word>".
bool reported(const std::string& out, const std::string& name, const std::string& word);

// In the lab's host: an interface's index (-1 if absent), a sysctl's value.
int ifindex(lab& l, const std::string& ifname);
std::string sysctl(lab& l, const std::string& key);
// `nft list ruleset` text with table inet moat cut out.
std::string without_moat_table(const std::string& ruleset);

// tcpdump on one interface of the lab's host, from construction to stop().
class capture {
public:
    capture(lab& l, const std::string& ifname);
    ~capture();
    capture(const capture&) = delete;
    capture& operator=(const capture&) = delete;
    void stop();  // idempotent; waits until the capture file is complete
    // Captured packets matching a pcap filter, one per line ("" = all).
    std::string packets(const std::string& filter);
    int count(const std::string& filter);

private:
    lab& _l;
    std::string _ifname, _file, _log;
    int _pid = 0;
};

}  // namespace moat::test
