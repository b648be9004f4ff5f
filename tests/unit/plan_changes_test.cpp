// Issue 15: `up` and `plan` say what changed in a recreated container's
// definition (plan/changes.hpp), and secret files other users can read are
// named with a warning (plan/file_modes.hpp).
#include "config/loader.hpp"
#include "plan/changes.hpp"
#include "plan/file_modes.hpp"
#include "plan/pipes.hpp"
#include "plan/tunnel.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

using namespace moat;

namespace {

struct temp_dir {
    std::string path;
    temp_dir() {
        char t[] = "/tmp/moat-changes-test-XXXXXX";
        path = ::mkdtemp(t);
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const std::string& content, mode_t mode = 0600) const {
        std::ofstream(path + "/" + name, std::ios::trunc) << content;
        ::chmod((path + "/" + name).c_str(), mode);
        return path + "/" + name;
    }
};

config::model load(const std::string& toml) {
    auto m = config::load_string(toml, "test.toml", config::format::toml);
    config::validate(m);
    return m;
}

std::vector<plan::container_plan> plans_of(const config::model& m) {
    std::vector<plan::container_plan> plans;
    for (const auto& c : m.containers) {
        plans.push_back(plan::plan_container(c));
    }
    plan::plan_pipes(m, plans, "/usr/bin/moat", true);
    plan::plan_tunnels(m, plans, "/usr/bin/moat");
    return plans;
}

const plan::container_plan& named(const std::vector<plan::container_plan>& plans, const std::string& name) {
    for (const auto& p : plans) {
        if (p.name == name) return p;
    }
    throw std::runtime_error("no plan " + name);
}

// What `up` would say for container `name` going from file a to file b.
std::string why(const std::string& a, const std::string& b, const std::string& name = "web") {
    auto before = plans_of(load(a)), after = plans_of(load(b));
    return plan::changed_parts(plan::to_json(named(before, name)), named(after, name));
}

const std::string web = "[containers.web]\nprivateNetwork = true\nhostAddress = \"10.171.1.1\"\n"
                        "localAddress = \"10.171.1.2\"\n";

}  // namespace

TEST(plan_changes, names_the_keys_as_the_file_spells_them) {
    std::string v1 = web + "firewall.allowedTCPPorts = [80]\n[containers.web.services.srv]\nscript = 'a'\n"
                           "[containers.web.services.db]\nexec = [\"/bin/sleep\", \"1\"]\n";
    EXPECT_EQ(why(v1, v1), "");
    std::string v2 = web + "firewall.allowedTCPPorts = [80, 443]\nbindMounts.\"/data\" = { hostPath = \"/srv\" }\n"
                           "[containers.web.services.srv]\nscript = 'b'\n"
                           "[containers.web.services.db]\nexec = [\"/bin/sleep\", \"2\"]\n";
    EXPECT_EQ(why(v1, v2), "changed: bindMounts, services.srv.script, services.db.exec, firewall.allowedTCPPorts");
    std::string v3 = web + "firewall.allowedTCPPorts = [80]\n[containers.web.services.srv]\nscript = 'a'\n"
                           "[containers.web.services.cache]\nscript = 'c'\n";
    EXPECT_EQ(why(v1, v3), "changed: services.cache (added), services.db (removed)");
    std::string v4 = web + "egress = \"nat\"\nprivateUsers = \"no\"\nfirewall.allowedTCPPorts = [80]\n"
                           "[containers.web.services.srv]\nscript = 'a'\nrestart = \"always\"\n"
                           "[containers.web.services.db]\nexec = [\"/bin/sleep\", \"1\"]\n";
    EXPECT_EQ(why(v1, v4), "changed: egress, services.srv.restart, privateUsers");
}

TEST(plan_changes, what_the_hash_leaves_out_is_not_a_change) {
    auto p = plans_of(load(web))[0];
    auto old = plan::to_json(p);
    p.uplink = "eth9";
    p.probes = {"198.51.100.1:80"};
    EXPECT_EQ(plan::changed_parts(old, p), "");
    EXPECT_EQ(plan::changed_parts(nlohmann::json(), p), "");  // no readable record: no why
}

TEST(plan_changes, a_key_file_says_which_file_as_before) {
    temp_dir d;
    auto key = d.write("k.key", std::string(32, 'A'));
    std::string f = web + "[pipes.in]\nmode = \"decrypt\"\nsource = \"0.0.0.0:8999\"\ntarget = \"127.0.0.1:1\"\n"
                          "keyFile = \"" + key + "\"\ncontainer = \"web\"\n";
    auto before = plans_of(load(f));
    d.write("k.key", std::string(32, 'B'));
    EXPECT_EQ(plan::changed_parts(plan::to_json(named(before, "web")), named(plans_of(load(f)), "web")),
              "key file " + key + " changed");
    // With another change too: the keys first, then the file.
    auto with_port = f + "[containers.web.firewall]\nallowedUDPPorts = [53]\n";
    d.write("k.key", std::string(32, 'C'));
    EXPECT_EQ(plan::changed_parts(plan::to_json(named(before, "web")), named(plans_of(load(with_port)), "web")),
              "changed: firewall.allowedUDPPorts; key file " + key + " changed");
}

TEST(file_modes, group_or_other_access_is_too_open) {
    temp_dir d;
    auto open = d.write("open.key", "k", 0644);
    auto group = d.write("group.key", "k", 0640);
    auto closed = d.write("closed.key", "k", 0600);
    EXPECT_EQ(plan::too_open(open, "the key of pipe 'p'"),
              "permissions 0644 for '" + open + "' are too open: other users can read the key of pipe 'p' (chmod 600 '" +
                  open + "')");
    ASSERT_TRUE(plan::too_open(group, "x"));
    EXPECT_NE(plan::too_open(group, "x")->find("0640"), std::string::npos);
    EXPECT_NE(plan::too_open(group, "x")->find("its group can read"), std::string::npos);
    EXPECT_EQ(plan::too_open(closed, "x"), std::nullopt);
    EXPECT_EQ(plan::too_open(d.path + "/missing", "x"), std::nullopt);  // reading it says why
}

// Loading a file that names them warns (as `up` and `plan` load it), and a
// 0600 file loads without a word: the positive control.
TEST(file_modes, loading_warns_of_readable_pipe_keys_and_tunnel_keys) {
    temp_dir d;
    auto key = d.write("k.key", std::string(32, 'A'), 0644);
    auto wg = d.write("wg.conf",
                      "[Interface]\nPrivateKey = 2LMXI1HZrwRrfAoJ4cqVXdzikPHhhHcaq//k8D0Lw3g=\nAddress = 10.9.0.2/32\n"
                      "[Peer]\nPublicKey = Pa5VxhDSMw/zdN6pkJZyUGN07KG2uqR+RkGO2snZqmg=\nEndpoint = 203.0.113.2:51820\n"
                      "AllowedIPs = 0.0.0.0/0\n",
                      0604);
    auto m = load(web + "egress = \"vpn:vpn0\"\ndns = [\"10.9.0.1\"]\n[tunnels.vpn0]\ntype = \"wireguard\"\nconfig = \"" + wg +
                  "\"\n[pipes.in]\nmode = \"decrypt\"\nsource = \"0.0.0.0:8999\"\ntarget = \"127.0.0.1:1\"\n"
                  "keyFile = \"" + key + "\"\ncontainer = \"web\"\n");
    testing::internal::CaptureStderr();
    plans_of(m);
    auto err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("moat: warning: permissions 0644 for '" + key + "' are too open: other users can read the key "
                       "of pipe 'in'"), std::string::npos) << err;
    EXPECT_NE(err.find("moat: warning: permissions 0604 for '" + wg + "' are too open: other users can read the "
                       "private key of tunnel 'vpn0'"), std::string::npos) << err;
    ::chmod(key.c_str(), 0600);
    ::chmod(wg.c_str(), 0600);
    testing::internal::CaptureStderr();
    plans_of(m);
    err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(err.find("warning"), std::string::npos) << err;
}
