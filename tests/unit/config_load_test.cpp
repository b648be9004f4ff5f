// Loading good files: the seed example, every key in both formats, defaults,
// file order, format selection.
#include "config_test_util.hpp"

#include <fstream>

namespace moat::config::test {
namespace {

TEST(config_load, hello_example_loads_and_validates) {
    model m = load_file(std::string(MOAT_SOURCE_DIR) + "/examples/hello.toml");
    validate(m);
    reject_unsupported(m, feature_set{});  // the seed example needs no staged feature
    ASSERT_EQ(m.containers.size(), 1u);
    const container& c = m.containers[0];
    EXPECT_EQ(c.name, "webapp");
    EXPECT_TRUE(c.private_network);
    EXPECT_EQ(c.host_address->str(), "10.171.1.1/32");
    EXPECT_EQ(c.local_address->str(), "10.171.1.2/32");
    EXPECT_EQ(c.firewall.allowed_tcp_ports, std::vector<std::uint16_t>{12345});
    ASSERT_EQ(c.services.size(), 1u);
    EXPECT_EQ(c.services[0].name, "greeting");
    EXPECT_EQ(c.services[0].description, "A simple greeting");
    EXPECT_EQ(*c.services[0].script, R"(while true; do echo "Hello, world!" | nc -N -l -p 12345; done)");
    EXPECT_EQ(c.services[0].restart, restart_policy::always);
    EXPECT_TRUE(c.auto_start);
    EXPECT_FALSE(c.egress.has_value());
}

TEST(config_load, toml_and_json_give_equal_models) {
    model t = load_file(data_path("full.toml"));
    model j = load_file(data_path("full.json"));
    validate(t);
    validate(j);
    EXPECT_EQ(dump(t), dump(j));
    EXPECT_EQ(t.source_file, data_path("full.toml"));
    // Make sure the dump is not trivially empty: spot-check what it compared.
    EXPECT_NE(dump(t).find("fwd udp 5353->5353 on 127.0.0.1"), std::string::npos) << dump(t);
    EXPECT_NE(dump(t).find("mount /cache <- /cache ro=1"), std::string::npos) << dump(t);
    EXPECT_NE(dump(t).find("users=524288 tun=1"), std::string::npos) << dump(t);
    EXPECT_NE(dump(t).find("host udp: 53 123"), std::string::npos) << dump(t);
    EXPECT_NE(dump(t).find("logs=524288x2"), std::string::npos) << dump(t);
    EXPECT_NE(dump(t).find("logs=1048576x3"), std::string::npos) << dump(t);
}

TEST(config_load, every_key_is_mapped) {
    model m = load_file(data_path("full.toml"));
    ASSERT_EQ(m.containers.size(), 4u);
    const container& w = m.containers[0];
    EXPECT_FALSE(w.auto_start);
    EXPECT_EQ(w.local_address->str(), "10.171.1.2/30");
    EXPECT_EQ(w.host_address6->str(), "fc00::1/128");
    EXPECT_EQ(w.egress, (egress_spec{egress_kind::nat, ""}));
    EXPECT_EQ(w.dns, (std::vector<std::string>{"9.9.9.9", "2620:fe::fe"}));
    ASSERT_EQ(w.forward_ports.size(), 2u);
    EXPECT_EQ(w.forward_ports[0].container_port, 12345);
    EXPECT_EQ(w.forward_ports[1].protocol, "udp");
    EXPECT_EQ(w.forward_ports[1].container_port, 5353);  // defaults to hostPort
    ASSERT_EQ(w.bind_mounts.size(), 2u);
    EXPECT_EQ(w.bind_mounts[0].mount_point, "/data");
    EXPECT_FALSE(w.bind_mounts[0].read_only);
    EXPECT_TRUE(w.bind_mounts[1].read_only);  // NixOS default
    EXPECT_EQ(*w.root, "/");
    EXPECT_TRUE(w.ephemeral);
    ASSERT_EQ(w.services.size(), 2u);
    EXPECT_EQ(w.services[1].exec, (std::vector<std::string>{"/bin/sh", "-c", "echo ready"}));
    EXPECT_EQ(w.services[0].environment.at("GREETING"), "hi");
    EXPECT_EQ(w.check->probes, std::vector<std::string>{"198.51.100.10:80"});
    EXPECT_EQ(m.containers[2].egress, (egress_spec{egress_kind::vpn, "vpn0"}));
    ASSERT_EQ(m.tunnels.size(), 2u);
    EXPECT_EQ(m.tunnels[1].type, tunnel_type::wireguard);
    EXPECT_FALSE(m.tunnels[1].kill_switch);
    EXPECT_TRUE(m.tunnels[1].in_namespace);
    EXPECT_EQ(m.pipes[1].mode, pipe_mode::decrypt);
    EXPECT_EQ(*m.pipes[1].container, "webapp");
    EXPECT_EQ(*m.networks[0].uplink, "eth0");
    EXPECT_EQ(*m.check->on_failure, "/usr/local/bin/alert");
    const container& member = m.containers[1];
    EXPECT_EQ(member.users, (private_users{users_mode::base, 524288}));
    EXPECT_TRUE(member.enable_tun);
    EXPECT_EQ(member.additional_capabilities, std::vector<std::string>{"CAP_SYS_PTRACE"});
    ASSERT_EQ(member.allowed_devices.size(), 1u);
    EXPECT_EQ(member.allowed_devices[0].node, "/dev/fuse");
    EXPECT_EQ(member.allowed_devices[0].modifier, "rw");
    EXPECT_EQ(member.firewall.allowed_host_tcp_ports, std::vector<std::uint16_t>{53});
    EXPECT_EQ(member.firewall.allowed_host_udp_ports, (std::vector<std::uint16_t>{53, 123}));
    EXPECT_EQ(m.containers[3].users, (private_users{users_mode::identity, 0}));
    EXPECT_EQ(m.containers[2].log_files, 3u);
    EXPECT_EQ(m.containers[3].log_size, 512u * 1024);
}

TEST(config_load, keeps_file_order_not_key_order) {
    model m = load_string(R"(
[containers.zeta]
[containers.alpha]
[containers.mid.services.b]
script = "true"
[containers.mid.services.a]
script = "true"
)", "order.toml", format::toml);
    ASSERT_EQ(m.containers.size(), 3u);
    EXPECT_EQ(m.containers[0].name, "zeta");
    EXPECT_EQ(m.containers[1].name, "alpha");
    EXPECT_EQ(m.containers[2].services[0].name, "b");
}

TEST(config_load, defaults) {
    model m = load_string("[containers.c]\n", "d.toml", format::toml);
    const container& c = m.containers.at(0);
    EXPECT_TRUE(c.auto_start);
    EXPECT_FALSE(c.private_network);  // nspawn's default: share the host's network
    EXPECT_FALSE(c.ephemeral);
    EXPECT_FALSE(c.egress);
    // Not NixOS's "no": root inside must not be root outside (docs/SECURITY.md).
    EXPECT_EQ(c.users, (private_users{users_mode::pick, 0}));
    EXPECT_FALSE(c.enable_tun);
    EXPECT_EQ(c.log_size, 1u << 20);  // two files of 1 MiB per log
    EXPECT_EQ(c.log_files, 2u);
    model t = load_string("[tunnels.t]\ntype = \"openvpn\"\nconfig = \"/x\"\n", "d.toml", format::toml);
    EXPECT_TRUE(t.tunnels.at(0).kill_switch);  // turning it off must be explicit
    EXPECT_EQ(t.tunnels.at(0).heal_after, 120u);  // tunnel/heal.hpp
    model s = load_string("[containers.c.services.s]\nscript = \"x\"\n", "d.toml", format::toml);
    EXPECT_EQ(s.containers.at(0).services.at(0).restart, restart_policy::no);
}

TEST(config_load, records_key_locations) {
    model m = load_file(data_path("full.toml"));
    const container& w = m.containers[0];
    EXPECT_EQ(w.where.str(), data_path("full.toml") + ":2:13");
    EXPECT_EQ(w.keys.at("hostAddress").str(), data_path("full.toml") + ":5:1");
    EXPECT_EQ(w.forward_ports[1].keys.at("hostPort").line, 13);
    EXPECT_EQ(w.services[0].keys.at("after").line, 28);
    model j = load_file(data_path("full.json"));
    EXPECT_EQ(j.containers[0].keys.at("hostAddress").str(), data_path("full.json") + ":6:7");
}

TEST(config_load, empty_file_is_an_empty_model) {
    model m = load_string("# nothing yet\n", "e.toml", format::toml);
    EXPECT_TRUE(m.containers.empty());
    validate(m);
}

TEST(config_load, json_null_means_unset) {
    // `nix eval --json` prints unset NixOS options as null.
    model m = load_string(R"({"containers": {"c": {"hostAddress": null, "root": null, "privateNetwork": false}}})",
                          "n.json", format::json);
    EXPECT_FALSE(m.containers.at(0).host_address);
    EXPECT_FALSE(m.containers.at(0).root);
    EXPECT_FALSE(m.containers.at(0).keys.count("hostAddress"));
    validate(m);
}

TEST(config_load, nixos_bind_mount_mount_point_key) {
    model m = load_string(R"({"containers": {"c": {"bindMounts": {"data": {"mountPoint": "/data", "hostPath": "/srv", "isReadOnly": true}}}}})",
                          "n.json", format::json);
    EXPECT_EQ(m.containers.at(0).bind_mounts.at(0).mount_point, "/data");
}

TEST(config_load, automatic_format_by_extension_and_content) {
    EXPECT_EQ(load_string(R"({"containers": {"a": {}}})", "x.conf", format::automatic).containers.size(), 1u);
    EXPECT_EQ(load_string("  \n [containers.a]\n", "x.conf", format::automatic).containers.size(), 1u);
    // The extension wins over the content.
    EXPECT_FALSE(load_errors("[containers.a]\n", format::automatic, "x.json").empty());
    EXPECT_FALSE(load_errors(R"({"containers": {}})", format::automatic, "x.toml").empty());
}

// A file saved by a Windows editor (Notepad wrote UTF-8 with a byte order
// mark until 2019), TOML or JSON, by extension or by content (stdin). An
// error on line 1 counts columns from after the mark, as editors show them.
TEST(config_load, a_byte_order_mark_is_skipped) {
    const std::string bom = "\xEF\xBB\xBF";
    EXPECT_EQ(load_string(bom + "[containers.a]\r\n", "x.toml", format::toml).containers.size(), 1u);
    EXPECT_EQ(load_string(bom + "[containers.a]\n", "<stdin>", format::automatic).containers.size(), 1u);
    EXPECT_EQ(load_string(bom + R"({"containers": {"a": {}}})", "<stdin>", format::automatic).containers.size(), 1u);
    for (const std::string& mark : {std::string(), bom}) {
        auto d = load_errors(mark + "containers.a.root = 1\n", format::toml, "x.toml");
        ASSERT_EQ(d.size(), 1u);
        EXPECT_EQ(d[0].where.line, 1);
        EXPECT_EQ(d[0].where.column, 21) << d[0].message;  // the value, with and without the mark
    }
}

TEST(config_load, unreadable_file_is_a_usage_error) {
    auto d = diagnostics_of([] { load_file("/nonexistent/moat.toml"); });
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].where.str(), "/nonexistent/moat.toml");
    EXPECT_EQ(d[0].message, "cannot read configuration: No such file or directory");
    try {
        load_file("/nonexistent/moat.toml");
    } catch (const moat::usage_error& e) {
        EXPECT_STREQ(e.what(), "/nonexistent/moat.toml: error: cannot read configuration: No such file or directory");
    }
}

TEST(config_load, error_message_lists_every_diagnostic_in_file_order) {
    try {
        load_string("[containers.web]\nroot = 1\nprivatenetwork = true\n", "m.toml", format::toml);
        FAIL() << "expected config_error";
    } catch (const config_error& e) {
        EXPECT_STREQ(e.what(),
                     "m.toml:2:8: error: root: expected a string, got an integer\n"
                     "m.toml:3:1: error: unknown key 'privatenetwork' in container 'web'; did you mean 'privateNetwork'?");
    }
}

}  // namespace
}  // namespace moat::config::test
