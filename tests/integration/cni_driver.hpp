// One CNI plugin execution exactly as libcni makes it: a clean environment
// with the CNI_* variables, the configuration on stdin, the result or error
// object read from stdout with the exit status — run in the lab's host
// namespace (LAB.md). Shared by the CNI tests.
#pragma once

#include "lab.hpp"
#include "network_lab.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace moat::test {

struct cni_invocation {
    int code = -1;
    nlohmann::json out;  // null when stdout was empty
    std::string raw;     // stdout and stderr, for failure messages
};

// `id` "" leaves CNI_CONTAINERID and CNI_IFNAME unset, `netns` (a lab
// namespace's name) "" CNI_NETNS; `plugin` "" runs the moat under test;
// `extra_env`: more "NAME=value" words.
inline cni_invocation cni_exec(lab& l, const std::string& command, const std::string& config,
                               const std::string& id = "", const std::string& netns = "",
                               const std::string& ifname = "eth0", const std::string& plugin = "",
                               const std::string& path = "/usr/lib/cni", const std::string& extra_env = "") {
    std::string env = "env -i " + extra_env + " CNI_COMMAND=" + command + " CNI_PATH=" + path;
    if (!id.empty()) env += " CNI_CONTAINERID=" + id + " CNI_IFNAME=" + ifname;
    if (!netns.empty()) env += " CNI_NETNS=/run/netns/" + netns;
    auto r = l.in("printf '%s' " + shq(config) + " | " + env + " " + (plugin.empty() ? moat_binary() : plugin));
    cni_invocation out{r.code, nlohmann::json(), r.out + r.err};
    if (!r.out.empty()) {
        out.out = nlohmann::json::parse(r.out, nullptr, false);
    }
    return out;
}

}  // namespace moat::test
