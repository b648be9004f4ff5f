// Planning portForwarding (plan/port_forwarding.hpp): the tunnel's runner
// gets what to map and a read-write bind of the port's directory; the
// container a read-only bind of it, MOAT_FORWARDED_PORT_FILE in each
// service and the port-hook service for onChange; the plan's JSON keeps it.
#include "config/loader.hpp"
#include "plan/tunnel.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

using namespace moat;

namespace {

std::string wg_file() {
    char path[] = "/tmp/moat-forward-test-XXXXXX";
    int fd = ::mkstemp(path);
    ::close(fd);
    std::ofstream(path) << "[Interface]\nPrivateKey = 2LMXI1HZrwRrfAoJ4cqVXdzikPHhhHcaq//k8D0Lw3g=\n"
                           "Address = 10.2.0.2/32\nDNS = 10.2.0.1\n[Peer]\n"
                           "PublicKey = Pa5VxhDSMw/zdN6pkJZyUGN07KG2uqR+RkGO2snZqmg=\nEndpoint = 203.0.113.2:51820\n"
                           "AllowedIPs = 0.0.0.0/0\n";
    return path;
}

struct planned {
    std::string conf = wg_file();
    config::model m;
    std::vector<plan::container_plan> plans;
    std::vector<plan::tunnel_plan> tunnels;
    explicit planned(const std::string& forwarding) {
        m = config::load_string("[tunnels.proton]\ntype = \"wireguard\"\nconfig = \"" + conf + "\"\n" + forwarding +
                                    "[containers.c]\nprivateNetwork = true\nhostAddress = \"10.171.1.1\"\n"
                                    "localAddress = \"10.171.1.2\"\negress = \"vpn:proton\"\n"
                                    "[containers.c.services.web]\nscript = \"true\"\n",
                                "test.toml", config::format::toml);
        config::validate(m);
        plans = {plan::plan_container(m.containers[0])};
        tunnels = plan::plan_tunnels(m, plans, "/usr/bin/moat", {}, "/var/lib/moat-x");
    }
    ~planned() { ::unlink(conf.c_str()); }
    const plan::container_plan& tunnels_container() const { return plans.at(1); }
};

bool has_mount(const plan::container_plan& p, const std::string& from, const std::string& at, bool ro) {
    return std::any_of(p.mounts.begin(), p.mounts.end(), [&](const plan::mount_plan& m) {
        return m.host_path == from && m.mount_point == at && m.read_only == ro;
    });
}

}  // namespace

TEST(plan_port_forwarding, binds_the_port_directory_and_tells_the_services) {
    planned p("[tunnels.proton.portForwarding]\ncontainer = \"c\"\ngateway = \"10.2.0.1\"\n"
              "onChange = \"echo $MOAT_FORWARDED_PORT\"\n");
    ASSERT_EQ(p.tunnels.size(), 1u);
    ASSERT_TRUE(p.tunnels[0].forwarding);
    const auto& f = *p.tunnels[0].forwarding;
    EXPECT_EQ(f.container, "c");
    EXPECT_EQ(f.gateway.str(), "10.2.0.1");
    EXPECT_EQ(f.request_port, 0);  // Proton's request
    EXPECT_EQ(f.host_dir, "/var/lib/moat-x/forwarded/proton");
    const auto& c = p.plans[0];
    EXPECT_TRUE(has_mount(c, f.host_dir, "/run/moat/forwarded", true));
    EXPECT_TRUE(has_mount(p.tunnels_container(), f.host_dir, f.host_dir, false));
    EXPECT_TRUE(plan::receives_provider_forwarding(c));
    ASSERT_EQ(c.services.size(), 2u);
    EXPECT_EQ(c.services[0].environment.at("MOAT_FORWARDED_PORT_FILE"), "/run/moat/forwarded/port");
    EXPECT_EQ(c.services[1].name, "port-hook");
    EXPECT_EQ(c.services[1].argv, (std::vector<std::string>{"/run/moat/bin/moat", "__port-hook",
                                                              "/run/moat/forwarded/port", "echo $MOAT_FORWARDED_PORT"}));
    EXPECT_TRUE(has_mount(c, "/usr/bin/moat", "/run/moat/bin/moat", true));
    // What the runner is given survives its JSON.
    EXPECT_EQ(plan::tunnel_from_json(plan::to_json(p.tunnels[0])), p.tunnels[0]);
}

TEST(plan_port_forwarding, nothing_without_the_key) {
    planned p("");
    ASSERT_EQ(p.tunnels.size(), 1u);
    EXPECT_FALSE(p.tunnels[0].forwarding);
    EXPECT_FALSE(plan::receives_provider_forwarding(p.plans[0]));
    EXPECT_EQ(p.plans[0].services.size(), 1u);
    EXPECT_TRUE(p.plans[0].services[0].environment.empty());
    EXPECT_EQ(plan::tunnel_from_json(plan::to_json(p.tunnels[0])), p.tunnels[0]);
}

TEST(plan_port_forwarding, no_hook_service_without_on_change) {
    planned p("[tunnels.proton.portForwarding]\ncontainer = \"c\"\ngateway = \"10.2.0.1\"\nrequestPort = 40123\n");
    EXPECT_EQ(p.tunnels[0].forwarding->request_port, 40123);
    EXPECT_EQ(p.plans[0].services.size(), 1u);
}

// `up` of other containers plans a running tunnel from `also_running`,
// without its forwarded container's plan: the runner's plan and
// `_tunnels` must come out the same, or that `up` would restart every
// tunnel and drop the port.
TEST(plan_port_forwarding, a_running_tunnel_is_planned_the_same_without_its_container) {
    planned p("[tunnels.proton.portForwarding]\ncontainer = \"c\"\ngateway = \"10.2.0.1\"\n");
    std::vector<plan::container_plan> others;
    auto again = plan::plan_tunnels(p.m, others, "/usr/bin/moat", {"proton"}, "/var/lib/moat-x");
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0], p.tunnels[0]);
    ASSERT_EQ(others.size(), 1u);
    EXPECT_EQ(plan::hash(others[0]), plan::hash(p.tunnels_container()));
}
