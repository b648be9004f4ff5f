#include "container/devices.hpp"

#include "sys/error.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace moat::container {

std::vector<sandbox::device_rule> device_rules(const plan::container_plan& plan) {
    auto rules = sandbox::default_device_rules();
    for (const auto& d : plan.devices) {
        sandbox::device_rule r;
        r.kind = d.type == 'b' ? sandbox::device_kind::block : sandbox::device_kind::character;
        r.major = d.major;
        r.minor = d.minor;
        r.access = sandbox::parse_device_access(d.access);
        rules.push_back(r);
    }
    if (plan.tunnel_host) {
        auto tun = sandbox::tun_device_rule();
        tun.access |= sandbox::device_access::mknod;  // the runners' clone nodes (rootfs.hpp)
        rules.push_back(tun);
    }
    return rules;
}

std::vector<device_node> device_nodes(const plan::container_plan& plan) {
    std::vector<device_node> nodes = {{"/dev/null", 'c', 1, 3, 0666},    {"/dev/zero", 'c', 1, 5, 0666},
                                      {"/dev/full", 'c', 1, 7, 0666},    {"/dev/random", 'c', 1, 8, 0666},
                                      {"/dev/urandom", 'c', 1, 9, 0666}, {"/dev/tty", 'c', 5, 0, 0666}};
    auto devices = plan.devices;
    if (plan.tunnel_host) {
        devices.push_back({"/dev/net/tun", 'c', 10, 200, "rw"});
    }
    for (const auto& d : devices) {
        struct stat st {};
        mode_t mode = ::stat(d.node.c_str(), &st) == 0 ? st.st_mode & 0777 : 0600;
        nodes.push_back({d.node, d.type, d.major, d.minor, mode});
    }
    return nodes;
}

// Without a cgroup v2 hierarchy in this mount namespace (`ip netns exec`
// remounts /sys without it) a container gets no cgroup, and so no device
// filter: of the three device layers (docs/SECURITY.md) two are left,
// nodev mounts and no CAP_MKNOD. A container whose configuration gives one
// of those up (CAP_MKNOD, or CAP_SYS_ADMIN, which mounts what it likes,
// without a user namespace to fence them) or allows a device less than
// read and write (a modifier only the filter enforces) is refused before
// anything is made; any other starts, and moat says once what it runs
// without.
void check_without_cgroup(const plan::container_plan& plan, bool user_namespace) {
    std::vector<std::string> why;
    // Read and write are what the node's own permission bits decide too;
    // one taken away is the filter's alone (mknod needs CAP_MKNOD, below).
    for (const auto& d : plan.devices) {
        if (d.access.find('r') == std::string::npos || d.access.find('w') == std::string::npos) {
            why.push_back(d.node + " allowed only \"" + d.access + "\"");
        }
    }
    for (const char* cap : {"CAP_MKNOD", "CAP_SYS_ADMIN"}) {
        if (!user_namespace && std::find(plan.capabilities.begin(), plan.capabilities.end(), cap) !=
                                   plan.capabilities.end()) {
            why.emplace_back(std::string(cap) + " without a user namespace");
        }
    }
    if (!why.empty()) {
        std::string list = why.front();
        for (std::size_t i = 1; i < why.size(); ++i) {
            list += ", " + why[i];
        }
        throw moat::error("container " + plan.name + " needs its device filter (" + list +
                          "), which lives on a cgroup, and no cgroup v2 hierarchy is mounted here (`ip netns exec` "
                          "remounts /sys without it): run moat with /sys/fs/cgroup mounted, e.g. "
                          "`nsenter --net=/run/netns/NAME moat ...`");
    }
    static bool told = false;
    if (!told) {
        told = true;
        std::fprintf(stderr, "moat: note: no cgroup v2 hierarchy is mounted here (`ip netns exec` remounts /sys "
                             "without it): containers start without a cgroup, so without their device filter "
                             "(nodev mounts and the missing CAP_MKNOD still keep devices out)\n");
    }
}

}  // namespace moat::container
