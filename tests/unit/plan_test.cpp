#include "plan/digest.hpp"
#include "plan/plan.hpp"
#include "plan/pipes.hpp"
#include "config/loader.hpp"
#include "sys/error.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <cstdlib>

using namespace moat;

namespace {

config::container hello() {
    config::container c;
    c.name = "webapp";
    c.private_network = true;
    c.host_address = sys::ip_prefix::parse("10.171.1.1");
    c.local_address = sys::ip_prefix::parse("10.171.1.2");
    c.firewall.allowed_tcp_ports = {12345};
    config::service s;
    s.name = "greeting";
    s.script = "echo hi";
    s.restart = config::restart_policy::always;
    c.services.push_back(s);
    return c;
}

}  // namespace

TEST(Plan, HostLinkNamesFitAndStayUnique) {
    EXPECT_EQ(plan::host_link_name("webapp"), "ve-webapp");
    EXPECT_EQ(plan::host_link_name("abcdefghijkl"), "ve-abcdefghijkl");  // exactly 15
    auto a = plan::host_link_name("averyveryverylongname-one");
    auto b = plan::host_link_name("averyveryverylongname-two");
    EXPECT_EQ(a.size(), 15u);
    EXPECT_EQ(b.size(), 15u);
    EXPECT_NE(a, b);
    EXPECT_EQ(a.substr(0, 11), "ve-averyve-");
    EXPECT_EQ(a, plan::host_link_name("averyveryverylongname-one"));  // deterministic
}

TEST(Plan, PointToPointByDefaultSubnetWhenWritten) {
    auto p = plan::plan_container(hello());
    ASSERT_TRUE(p.v4);
    EXPECT_TRUE(p.v4->point_to_point);
    EXPECT_EQ(p.v4->host.str(), "10.171.1.1/32");
    EXPECT_EQ(p.host_if, "ve-webapp");
    auto c = hello();
    c.host_address = sys::ip_prefix::parse("10.171.1.1/30");
    auto q = plan::plan_container(c);
    EXPECT_FALSE(q.v4->point_to_point);
    EXPECT_EQ(q.v4->local.str(), "10.171.1.2/30");
}

TEST(Plan, NoVethWithoutAddressesOrPrivateNetwork) {
    auto c = hello();
    c.host_address.reset();
    c.local_address.reset();
    EXPECT_EQ(plan::plan_container(c).host_if, "");
    auto shared = hello();
    shared.private_network = false;
    EXPECT_EQ(plan::plan_container(shared).host_if, "");
}

TEST(Plan, JsonRoundTripAndHash) {
    auto p = plan::plan_container(hello());
    auto back = plan::plan_from_json(plan::to_json(p));
    EXPECT_EQ(plan::to_json(back), plan::to_json(p));
    EXPECT_EQ(plan::hash(back), plan::hash(p));
    auto c = hello();
    c.firewall.allowed_tcp_ports.push_back(80);
    EXPECT_NE(plan::hash(plan::plan_container(c)), plan::hash(p));
    EXPECT_EQ(p.services.at(0).argv, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
    EXPECT_EQ(p.services.at(0).restart, "always");
}

TEST(Plan, ServicesStartInAfterOrder) {
    std::vector<config::service> s(3);
    s[0].name = "web";
    s[0].after = {"db", "cache"};
    s[1].name = "cache";
    s[1].after = {"db"};
    s[2].name = "db";
    auto order = plan::start_order(s);
    ASSERT_EQ(order.size(), 3u);
    EXPECT_EQ(order[0]->name, "db");
    EXPECT_EQ(order[1]->name, "cache");
    EXPECT_EQ(order[2]->name, "web");
}

TEST(Plan, PrivilegesUsersDevicesAndHostPorts) {
    auto p = plan::plan_container(hello());
    EXPECT_EQ(p.users, "pick");  // moat's default
    EXPECT_TRUE(plan::has_user_namespace(p));
    EXPECT_TRUE(p.devices.empty());
    EXPECT_TRUE(p.capabilities.empty());

    auto c = hello();
    c.users = {config::users_mode::base, 524288};
    c.enable_tun = true;
    c.additional_capabilities = {"CAP_SYS_PTRACE", "CAP_NET_ADMIN"};
    c.allowed_devices.push_back({"/dev/null", "r", {}});
    c.firewall.allowed_host_udp_ports = {53};
    auto q = plan::plan_container(c);
    EXPECT_EQ(q.users, "base");
    EXPECT_EQ(q.users_base, 524288u);
    // enableTun's CAP_NET_ADMIN and the explicit one are one entry.
    EXPECT_EQ(q.capabilities, (std::vector<std::string>{"CAP_NET_ADMIN", "CAP_SYS_PTRACE"}));
    ASSERT_EQ(q.devices.size(), 2u);
    EXPECT_EQ(q.devices[0], (plan::device_plan{"/dev/null", 'c', 1, 3, "r"}));
    EXPECT_EQ(q.devices[1], (plan::device_plan{"/dev/net/tun", 'c', 10, 200, "rw"}));
    EXPECT_EQ(q.host_udp_ports, std::vector<std::uint16_t>{53});
    auto back = plan::plan_from_json(plan::to_json(q));
    EXPECT_EQ(plan::to_json(back), plan::to_json(q));
    EXPECT_NE(plan::hash(q), plan::hash(p));

    c.users = {config::users_mode::no, 0};
    EXPECT_FALSE(plan::has_user_namespace(plan::plan_container(c)));
    c.allowed_devices = {{"/etc/passwd", "rw", {"f.toml", 3, 7}}};
    try {
        plan::plan_container(c);
        FAIL() << "a regular file accepted as a device";
    } catch (const moat::usage_error& e) {
        EXPECT_STREQ(e.what(), "f.toml:3:7: allowedDevices: /etc/passwd is not a device node on this host");
    }
}

// logSize/logFiles are in the plan (a change recreates the container, whose
// logs survive it) but only when set, so the hash of a definition without
// them is what a moat before them recorded: an upgrade restarts nothing.
TEST(Plan, LogLimitsAreRecordedOnlyWhenSet) {
    auto p = plan::plan_container(hello());
    EXPECT_EQ(p.log_size, 1u << 20);
    EXPECT_EQ(p.log_files, 2u);
    EXPECT_FALSE(plan::to_json(p).contains("log_size"));
    auto c = hello();
    c.log_size = 65536;
    c.log_files = 3;
    auto q = plan::plan_container(c);
    auto back = plan::plan_from_json(plan::to_json(q));
    EXPECT_EQ(back.log_size, 65536u);
    EXPECT_EQ(back.log_files, 3u);
    EXPECT_NE(plan::hash(q), plan::hash(p));
}

TEST(Plan, RecordsFromBeforePrivateUsersHaveNoUserNamespace) {
    auto j = plan::to_json(plan::plan_container(hello()));
    j.erase("users");
    j.erase("users_base");
    EXPECT_FALSE(plan::has_user_namespace(plan::plan_from_json(j)));
}

TEST(Plan, HostPipesGetAUserNamespaceUnlessAPortBelow1024) {
    char tmpl[] = "/tmp/moat-key-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::close(fd);
    auto model_with = [&](const std::string& source) {
        config::model m;
        config::pipe p;
        p.name = "p";
        p.source = source;
        p.target = "127.0.0.1:7000";
        p.key_file = tmpl;
        m.pipes.push_back(p);
        return m;
    };
    auto plan_of = [&](const std::string& source) {
        std::vector<plan::container_plan> plans;
        plan::plan_pipes(model_with(source), plans, "/usr/bin/moat", true);
        return plans.at(0);
    };
    auto high = plan_of("0.0.0.0:8999");
    EXPECT_EQ(high.name, plan::host_pipes_container);
    EXPECT_EQ(high.users, "pick");
    // The key travels as a copy, never as a bind mount of the host's file.
    ASSERT_EQ(high.secrets.size(), 1u);
    EXPECT_EQ(high.secrets[0], (plan::secret_plan{tmpl, "/run/moat/keys/p.key", plan::file_digest(tmpl)}));
    EXPECT_NE(std::find(high.services[0].argv.begin(), high.services[0].argv.end(), "/run/moat/keys/p.key"),
              high.services[0].argv.end());
    EXPECT_EQ(plan_of("[::]:443").users, "no");
    EXPECT_EQ(plan_of("/run/pipe.sock").users, "pick");
    ::unlink(tmpl);
}

// The pipe's container gets a copy of its key: a key file that is one of
// the host's secrets, however the path leads there, is refused
// (plan/host_secrets.hpp). Control: an ordinary key file is planned.
TEST(Plan, APipeKeyFileThatIsAHostSecretIsRefused) {
    char dir[] = "/tmp/moat-key-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string d = dir;
    std::ofstream(d + "/p.key") << "KEY";
    std::filesystem::create_symlink("/etc/shadow", d + "/shadow.key");
    auto plan_with = [&](const std::string& key) -> std::string {
        config::model m;
        config::pipe p;
        p.name = "p";
        p.source = "0.0.0.0:8999";
        p.target = "127.0.0.1:7000";
        p.key_file = key;
        m.pipes.push_back(p);
        std::vector<plan::container_plan> plans;
        try {
            plan::plan_pipes(m, plans, "/usr/bin/moat", true);
            return "";
        } catch (const config::config_error& e) {
            return e.what();
        }
    };
    EXPECT_EQ(plan_with(d + "/p.key"), "");
    for (const auto& key : {std::string("/etc/shadow"), d + "/shadow.key"}) {
        auto what = plan_with(key);
        EXPECT_NE(what.find("pipe 'p': key file " + key + ": it is the host's /etc/shadow: moat hands none of the "
                            "host's secrets to a container"),
                  std::string::npos)
            << what;
    }
    std::filesystem::remove_all(d);
}
