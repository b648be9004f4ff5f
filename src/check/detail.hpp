// Internals of `moat check`, shared by its parts.
#pragma once

#include "check/check.hpp"
#include "plan/plan.hpp"
#include "sys/inet.hpp"

#include <optional>
#include <string>
#include <vector>

namespace moat::check::detail {

void static_checks(const state::store& store, const state::container_record& r, const plan::container_plan& p,
                   const std::optional<std::string>& table, std::vector<finding>& out);

struct probe_target {
    bool http = false;
    sys::ip_address address;
    std::uint16_t port = 80;
    std::string host, path = "/";
};
// "http://198.51.100.10[:port][/path]" or "host:port"; hosts must be addresses.
std::optional<probe_target> parse_probe(const std::string& text);

struct probe_result {
    bool connected = false;
    std::string error;                       // why not
    std::optional<sys::ip_address> seen_as;  // what an echoing HTTP probe saw
};
// Connects from inside the network namespace of `pid`.
probe_result probe_from(pid_t pid, const probe_target& t, std::chrono::milliseconds timeout);

// Counts packets to `dst` or from any of `sources` on the host's interfaces
// other than `exclude`, while `body` runs.
class capture {
public:
    capture(const std::vector<std::string>& exclude, const sys::ip_address& dst, const std::vector<sys::ip_address>& sources);
    ~capture();
    // packets per interface seen so far (drains the sockets)
    std::vector<std::pair<std::string, int>> counts();

private:
    std::vector<std::pair<std::string, int>> _socks;  // (ifname, fd)
    std::vector<std::pair<std::string, int>> _counts;
};

}  // namespace moat::check::detail
