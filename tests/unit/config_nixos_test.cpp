// `nix eval --json .#nixosConfigurations.<host>.config.containers` output
// loads: every option of nixos-containers.nix is implemented or ignored with
// one notice, and options at their NixOS default make none.
#include "config_test_util.hpp"

#include <gmock/gmock.h>

namespace moat::config {
namespace {

using test::diagnostics_of;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string fixture = std::string(MOAT_SOURCE_DIR) + "/tests/unit/data/nixos-containers.json";

std::string notice_of(const model& m, std::string_view key) {
    for (const auto& n : m.notices) {
        if (n.find(key) != std::string::npos) {
            return n;
        }
    }
    return {};
}

TEST(config_nixos, nix_eval_output_loads_with_one_notice_per_ignored_key) {
    model m = load_file(fixture);
    validate(m);
    ASSERT_EQ(m.containers.size(), 3u);
    const auto& db = *m.find_container("db");
    const auto& vpn = *m.find_container("vpn");
    const auto& web = *m.find_container("web");

    // Implemented keys keep their NixOS meaning.
    EXPECT_EQ(web.tmpfs, std::vector<std::string>{"/var"});
    EXPECT_TRUE(web.private_network);
    EXPECT_EQ(web.local_address->str(), "10.231.136.2/32");
    ASSERT_EQ(web.forward_ports.size(), 2u);
    EXPECT_EQ(web.forward_ports[1].container_port, 8443);
    EXPECT_EQ(to_string(web.users), "pick");
    EXPECT_TRUE(db.ephemeral);
    EXPECT_EQ(to_string(db.users), "65536");
    ASSERT_EQ(db.bind_mounts.size(), 1u);
    EXPECT_EQ(db.bind_mounts[0].host_path, "/var/lib/postgresql");
    EXPECT_FALSE(db.bind_mounts[0].read_only);
    EXPECT_TRUE(db.tmpfs.empty());
    EXPECT_TRUE(vpn.enable_tun);
    EXPECT_EQ(vpn.local_address6->str(), "fc00::2/128");

    // Exactly the keys that ask for something moat does not do, once each;
    // [], {}, null, "1min" and `true` defaults say nothing.
    std::vector<std::string> keys;
    for (const auto& n : m.notices) {
        auto from = n.find("ignored: containers.");
        ASSERT_NE(from, std::string::npos) << n;
        keys.push_back(n.substr(from + 9, n.find(' ', from + 9) - from - 9));
    }
    EXPECT_THAT(keys, ElementsAre("containers.db.config,", "containers.db.restartIfChanged",
                                  "containers.vpn.config,", "containers.vpn.localMacAddress",
                                  "containers.vpn.macvlans", "containers.web.config,", "containers.web.extraFlags",
                                  "containers.web.timeoutStartSec"));
    EXPECT_THAT(notice_of(m, "web.extraFlags"),
                HasSubstr("ignored: containers.web.extraFlags (NixOS-only: systemd-nspawn flags"));
    // With file:line:col, as errors have.
    EXPECT_THAT(notice_of(m, "web.extraFlags"), ::testing::StartsWith(fixture + ":1:"));
}

TEST(config_nixos, defaults_make_no_notice_and_unknown_keys_stay_errors) {
    model m = load_string(R"({"containers": {"c": {"extraFlags": [], "extraVeths": {}, "interfaces": [], "macvlans": [],
        "timeoutStartSec": "1min", "restartIfChanged": true, "copyResolvConf": true, "specialArgs": {},
        "flake": null, "localMacAddress": null, "networkNamespace": null, "tmpfs": []}}})",
                          "n.json", format::json);
    EXPECT_TRUE(m.notices.empty()) << m.notices.front();
    // A key NixOS does not have is still an error, and so is a wrong type.
    EXPECT_FALSE(test::load_errors(R"({"containers": {"c": {"extraFlag": []}}})", format::json, "t.json").empty());
    EXPECT_FALSE(test::load_errors(R"({"containers": {"c": {"extraFlags": "--x"}}})", format::json, "t.json").empty());
    EXPECT_FALSE(test::load_errors(R"({"containers": {"c": {"pkgs": {}}}})", format::json, "t.json").empty());
    // The same keys in TOML.
    model t = load_string("[containers.c]\ncopyResolvConf = false\ntmpfs = [\"/srv\"]\n", "n.toml", format::toml);
    EXPECT_EQ(t.containers[0].tmpfs, std::vector<std::string>{"/srv"});
    ASSERT_EQ(t.notices.size(), 1u);
    EXPECT_THAT(t.notices[0], HasSubstr("n.toml:2:1: ignored: containers.c.copyResolvConf"));
}

TEST(config_nixos, keys_that_would_unconfine_the_network_are_refused) {
    auto errors = [](const std::string& json) {
        std::vector<std::string> out;
        for (const auto& d : test::load_errors(json, format::json, "t.json")) {
            out.push_back(d.message);
        }
        return out;
    };
    EXPECT_THAT(errors(R"({"containers": {"c": {"networkNamespace": "/run/netns/vpn"}}})"),
                ElementsAre(HasSubstr("containers.c.networkNamespace is not supported")));
    EXPECT_THAT(errors(R"({"containers": {"c": {"extraFlags": ["--network-namespace-path=/run/netns/vpn"]}}})"),
                ElementsAre(HasSubstr("'--network-namespace-path=/run/netns/vpn' is not supported")));
    // tmpfs: a path only, and not one moat mounts itself.
    EXPECT_THAT(errors(R"({"containers": {"c": {"tmpfs": ["/var:mode=0700"]}}})"),
                ElementsAre(HasSubstr("mount options")));
    EXPECT_THAT(errors(R"({"containers": {"c": {"tmpfs": ["/proc/sys"]}}})"),
                ElementsAre(HasSubstr("a file system moat sets up itself")));
    EXPECT_THAT(errors(R"({"containers": {"c": {"tmpfs": ["var"]}}})"), ElementsAre(HasSubstr("tmpfs")));
}

TEST(config_nixos, a_bare_containers_set_says_how_to_wrap_it) {
    // `nix eval --json ...config.containers` without --apply: the set itself.
    auto d = test::load_errors(R"({"web": {"autoStart": false, "privateNetwork": true}})", format::json, "t.json");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_THAT(d[0].message, HasSubstr("a bare set of containers"));
    EXPECT_THAT(d[0].hint, HasSubstr("{ containers = "));
    // Anything else at the top level is still an unknown key.
    d = test::load_errors(R"({"web": {"foo": 1}})", format::json, "t.json");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_THAT(d[0].message, HasSubstr("unknown key"));
}

}  // namespace
}  // namespace moat::config
