// What moat could leave behind in a lab, checked the way lifecycle_test.cpp
// does: links, addresses, nftables tables, policy rules, the processes and
// cgroups it made, mounts under the lab's directory, and the state dir.
#pragma once

#include "lab.hpp"

#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace moat::test {

struct made {
    std::vector<int> pids;
    std::vector<std::string> cgroups;
};

inline nlohmann::json status_json(lab& l) {
    auto r = l.moat("status --json");
    if (r.code != 0) {
        return nlohmann::json::object();
    }
    return nlohmann::json::parse(r.out, nullptr, false);
}

// The running containers' init pids and cgroups, taken before anything is
// damaged (a damaged record no longer says them).
inline made snapshot(lab& l) {
    made m;
    auto st = status_json(l);
    for (const auto& c : st.value("containers", nlohmann::json::array())) {
        m.pids.push_back(c["pid"].get<int>());
        m.cgroups.push_back(c["cgroup"].get<std::string>());
    }
    return m;
}

inline int pid_of(lab& l, const std::string& name) {
    auto st = status_json(l);
    for (const auto& c : st.value("containers", nlohmann::json::array())) {
        if (c["name"] == name) return c["pid"].get<int>();
    }
    return 0;
}

// Everything left behind, as one string (empty: nothing). Links whose names
// start with `keep_link` are the test's own in the lab's host namespace (a
// fake uplink).
inline std::string residue(lab& l, const made& m, const std::string& keep_link = "") {
    std::ostringstream out;
    std::string filter = "grep -v ': lo:'" + (keep_link.empty() ? "" : " | grep -v ': " + keep_link + "'");
    auto links = l.in("ip -o link show | " + filter + " || true");
    if (!links.out.empty()) out << "links: " << links.out;
    std::string afilter = "grep -v ' lo '" + (keep_link.empty() ? "" : " | grep -v ' " + keep_link + "'");
    auto addrs = l.in("ip -o addr show | " + afilter + " || true");
    if (!addrs.out.empty()) out << "addresses: " << addrs.out;
    auto nft = l.in("nft list tables");
    if (!nft.out.empty()) out << "nftables: " << nft.out;
    for (const char* family : {"-4", "-6"}) {
        auto rules = l.in(std::string("ip ") + family + " rule show | grep -vE 'lookup (local|main|default)' || true");
        if (!rules.out.empty()) out << "rules: " << rules.out;
    }
    for (int pid : m.pids) {
        // A zombie is gone for our purposes: only its exit status is left.
        auto st = sh("awk '{print $3}' /proc/" + std::to_string(pid) + "/stat 2>/dev/null");
        if (pid > 0 && !st.out.empty() && st.out != "Z\n") out << "process " << pid << " alive (" << st.out << ")\n";
    }
    for (const auto& cg : m.cgroups) {
        if (!cg.empty() && sh("test -e " + cg).code == 0) out << "cgroup " << cg << "\n";
    }
    // `up`'s fork server (container/fork_server.hpp) never outlives it.
    auto forks = sh("for p in $(ip netns pids " + l.host_ns() + "); do grep -qx moat-forks /proc/$p/comm 2>/dev/null && echo $p; done; true");
    if (!forks.out.empty()) out << "fork server alive: " << forks.out;
    auto mounts = sh("grep -c '" + l.dir() + "' /proc/self/mountinfo || true");
    if (mounts.out != "0\n") out << "mounts: " << mounts.out;
    auto state = sh("test -e " + l.state_dir() + " && find " + l.state_dir() + " || true");
    if (!state.out.empty()) out << "state: " << state.out;
    return out.str();
}

}  // namespace moat::test
