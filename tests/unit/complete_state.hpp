// State directories for the completion tests: records as `up` writes them.
#pragma once

#include "plan/plan.hpp"
#include "plan/tunnel.hpp"
#include "state/store.hpp"

#include <string>
#include <vector>

namespace moat::test {

inline state::container_record record(const std::string& name, const plan::container_plan& p) {
    state::container_record r;
    r.name = name;
    r.init = {1234, 99};
    r.cgroup = "/sys/fs/cgroup/moat/0123456789ab/" + name;
    r.host_if = p.host_if;
    r.spec = plan::to_json(p);
    return r;
}

inline plan::container_plan container(const std::string& name, const std::vector<std::string>& services) {
    plan::container_plan p;
    p.name = p.hostname = name;
    p.host_if = plan::host_link_name(name);
    for (const auto& s : services) {
        p.services.push_back({s, {"/bin/sleep", "1000"}, {}, "no", {}});
    }
    return p;
}

// `_tunnels` as `up` records it: one runner service per tunnel.
inline plan::container_plan tunnels_host(const std::vector<std::string>& names) {
    plan::container_plan p;
    p.name = p.hostname = plan::tunnels_container;
    p.tunnel_host = true;
    for (const auto& n : names) {
        plan::tunnel_plan t;
        t.name = n;
        t.type = "wireguard";
        t.device = "tn-" + n;
        p.services.push_back({"tunnel-" + n, {"/usr/bin/moat", "__tunnel", plan::to_json(t).dump()}, {}, "always", {}});
    }
    return p;
}

}  // namespace moat::test
