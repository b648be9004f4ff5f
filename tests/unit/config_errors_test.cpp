// Mapping errors: unknown keys, wrong types, bad values, each at its exact
// line:col, all reported in one run, identical for TOML and JSON.
#include "config_test_util.hpp"

#include <gmock/gmock.h>

using testing::ElementsAre;

namespace moat::config::test {
namespace {

TEST(config_errors, unknown_key_suggests_nearest) {
    EXPECT_THAT(briefs(load_errors("[containers.webapp]\nprivatenetwork = true\n")),
                ElementsAre("2:1: unknown key 'privatenetwork' in container 'webapp'; did you mean 'privateNetwork'?"));
    EXPECT_THAT(briefs(load_errors("[containers.webapp]\nhostAdress = \"10.0.0.1\"\nprivate_network = true\n")),
                ElementsAre("2:1: unknown key 'hostAdress' in container 'webapp'; did you mean 'hostAddress'?",
                            "3:1: unknown key 'private_network' in container 'webapp'; did you mean 'privateNetwork'?"));
    EXPECT_THAT(briefs(load_errors("[container.webapp]\n")),
                ElementsAre("1:2: unknown key 'container' in the top level; did you mean 'containers'?"));
    EXPECT_THAT(briefs(load_errors("[containers.c.firewall]\nallowedTcpPorts = [1]\n")),
                ElementsAre("2:1: unknown key 'allowedTcpPorts' in firewall of container 'c'; did you mean 'allowedTCPPorts'?"));
}

TEST(config_errors, unknown_key_far_from_any_lists_valid_keys) {
    EXPECT_THAT(briefs(load_errors("[tunnels.t]\ntype = \"openvpn\"\nconfig = \"/x\"\nbananas = 1\n")),
                ElementsAre("4:1: unknown key 'bananas' in tunnel 't' (hint: valid keys are type, config, killSwitch, namespace, username, passwordFile, credentialsFile, healAfter, portForwarding)"));
    // onFailure belongs to the global [check] only.
    EXPECT_THAT(briefs(load_errors("[containers.c.check]\nonFailure = \"/x\"\n")),
                ElementsAre("2:1: unknown key 'onFailure' in check of container 'c' (hint: valid keys are probe)"));
}

TEST(config_errors, wrong_types) {
    EXPECT_THAT(briefs(load_errors(R"([containers.c]
privateNetwork = "yes"
autoStart = "true"
root = 1
dns = "9.9.9.9"
services = []
ephemeral = 2024-01-01
)")),
                ElementsAre("2:18: privateNetwork: expected true or false, got a string",
                            "3:13: autoStart: expected true or false, got a string (hint: write it without quotes)",
                            "4:8: root: expected a string, got an integer",
                            "5:7: dns: expected an array of IP addresses, got a string",
                            "6:12: services: expected a table, got an array",
                            "7:13: ephemeral: expected true or false, got a date/time"));
    EXPECT_THAT(briefs(load_errors("containers = 1\n")), ElementsAre("1:14: containers: expected a table, got an integer"));
    EXPECT_THAT(briefs(load_errors("[containers]\nc = \"x\"\n")), ElementsAre("2:5: c: expected a table, got a string"));
}

TEST(config_errors, addresses) {
    EXPECT_THAT(briefs(load_errors(R"([containers.c]
hostAddress = "10.0.0.300"
localAddress = "fc00::2"
hostAddress6 = "10.0.0.1"
localAddress6 = "fc00::2/129"
)")),
                ElementsAre("2:15: hostAddress: expected an IPv4 address like 10.0.0.1 or 10.0.0.1/30, got \"10.0.0.300\"",
                            "3:16: localAddress: expected an IPv4 address like 10.0.0.1 or 10.0.0.1/30, got \"fc00::2\"",
                            "4:16: hostAddress6: expected an IPv6 address like fc00::1 or fc00::1/64, got \"10.0.0.1\"",
                            "5:17: localAddress6: expected an IPv6 address like fc00::1 or fc00::1/64, got \"fc00::2/129\""));
    EXPECT_THAT(briefs(load_errors("[containers.c]\ndns = [\"9.9.9.9\", \"dns.example\", 9]\n")),
                ElementsAre("2:19: dns: expected an IP address like 9.9.9.9 or 2620:fe::fe, got \"dns.example\"",
                            "2:34: dns: expected a string, got an integer"));
    EXPECT_THAT(briefs(load_errors("[networks.n]\nsubnet = \"10.0.0.0/33\"\n")),
                ElementsAre("2:10: subnet: expected an IPv4 address like 10.0.0.1 or 10.0.0.1/30, got \"10.0.0.0/33\""));
}

TEST(config_errors, ports) {
    EXPECT_THAT(briefs(load_errors(R"([containers.c]
forwardPorts = [ { hostPort = 0 }, { hostPort = 65536, containerPort = -1 }, { protocol = "sctp", hostPort = "80" }, {}, 5 ]
firewall.allowedTCPPorts = [22, 70000]
firewall.allowedUDPPorts = 53
)")),
                ElementsAre("2:31: hostPort: expected a port number 1-65535, got 0",
                            "2:49: hostPort: expected a port number 1-65535, got 65536",
                            "2:72: containerPort: expected a port number 1-65535, got -1",
                            "2:91: protocol: expected \"tcp\" or \"udp\", got \"sctp\"",
                            "2:110: hostPort: expected a port number 1-65535, got a string (hint: write it without quotes)",
                            "2:118: missing required key 'hostPort' in forwardPorts of container 'c'",
                            "2:122: forwardPorts: expected a table, got an integer",
                            "3:33: allowedTCPPorts: expected a port number 1-65535, got 70000",
                            "4:28: allowedUDPPorts: expected an array of port numbers, got an integer"));
}

TEST(config_errors, names) {
    std::string long_name(65, 'a');
    EXPECT_THAT(briefs(load_errors("[containers.\"web app\"]\n[containers._x]\n[containers." + long_name + "]\n[containers." + long_name.substr(1) + "]\n")),
                ElementsAre("1:13: invalid container name 'web app' (hint: use 1-64 letters, digits, '-' and '_', starting with a letter or digit)",
                            "2:13: invalid container name '_x' (hint: use 1-64 letters, digits, '-' and '_', starting with a letter or digit)",
                            "3:13: invalid container name '" + long_name + "' (hint: use 1-64 letters, digits, '-' and '_', starting with a letter or digit)"));
    EXPECT_THAT(briefs(load_errors("[containers.c.services.\"a/b\"]\nscript = \"x\"\n[pipes.\"\"]\n")),
                ElementsAre("1:24: invalid service name 'a/b' (hint: use 1-64 letters, digits, '-' and '_', starting with a letter or digit)",
                            "3:8: invalid pipe name '' (hint: use 1-64 letters, digits, '-' and '_', starting with a letter or digit)"));
}

TEST(config_errors, paths) {
    EXPECT_THAT(briefs(load_errors(R"([containers.c]
root = "srv/root"
bindMounts.data = { hostPath = "/srv" }
bindMounts."/ok" = { hostPath = "relative", isReadOnly = "no" }
)")),
                ElementsAre("2:8: root: expected an absolute path, got \"srv/root\"",
                            "3:12: bindMounts: mount point 'data': expected an absolute path",
                            "4:33: hostPath: expected an absolute path, got \"relative\"",
                            "4:58: isReadOnly: expected true or false, got a string"));
}

TEST(config_errors, dot_dot_segments_and_relative_host_paths) {
    EXPECT_THAT(briefs(load_errors(R"([containers.c]
root = "/srv/../etc"
bindMounts."/tmp/../../../etc/nologin" = { hostPath = "/srv/./x" }
[tunnels.t]
type = "openvpn"
config = "provider.ovpn"
[pipes.p]
mode = "encrypt"
source = "0.0.0.0:1"
target = "1.2.3.4:5"
keyFile = "keys/p.key"
)")),
                ElementsAre("2:8: root: '..' segments are not allowed; write the path without them, got \"/srv/../etc\"",
                            "3:12: bindMounts: mount point '/tmp/../../../etc/nologin': '..' segments are not allowed; write the path without them",
                            "3:55: hostPath: '.' segments are not allowed; write the path without them, got \"/srv/./x\"",
                            "6:10: config: expected an absolute path, got \"provider.ovpn\"",
                            "11:11: keyFile: expected an absolute path, got \"keys/p.key\""));
}

TEST(config_errors, privileges) {
    EXPECT_THAT(briefs(load_errors(R"([containers.a]
privateUsers = "yes"
[containers.b]
privateUsers = -1
additionalCapabilities = ["CAP_NET_ADMN", "CAP_SYS_PTRACE"]
enableTun = "true"
[containers.c]
privateUsers = 4294967295
allowedDevices = [{ node = "/etc/passwd" }, { modifier = "rwx", node = "/dev/fuse" }, { modifier = "r" }]
)")),
                ElementsAre("2:16: privateUsers: expected \"no\", \"pick\" or \"identity\", got \"yes\"",
                            "4:16: privateUsers: expected a uid base 0-4294901759, got -1",
                            "5:27: additionalCapabilities: unknown capability \"CAP_NET_ADMN\"; did you mean \"CAP_NET_ADMIN\"?",
                            "6:13: enableTun: expected true or false, got a string (hint: write it without quotes)",
                            "8:16: privateUsers: expected a uid base 0-4294901759, got 4294967295",
                            "9:28: node: expected a device node under /dev, got \"/etc/passwd\"",
                            "9:58: modifier: expected letters of \"rwm\" (read, write, mknod), got \"rwx\"",
                            "9:87: missing required key 'node' in allowedDevices of container 'c'"));
}

TEST(config_errors, log_limits) {
    EXPECT_THAT(briefs(load_errors(R"([containers.a]
logSize = 1000
logFiles = 0
[containers.b]
logSize = "2G"
logFiles = 11
[containers.c]
logSize = "1 M"
logFiles = "2"
[containers.d]
logSize = true
[containers.e]
logSize = "99999999999G"
)")),
                ElementsAre("2:11: logSize: expected a size of 64K-1G, like 1048576 or \"1M\", got 1000",
                            "3:12: logFiles: expected a number of files 1-10, got 0",
                            "5:11: logSize: expected a size of 64K-1G, like 1048576 or \"1M\", got \"2G\"",
                            "6:12: logFiles: expected a number of files 1-10, got 11",
                            "8:11: logSize: expected a size of 64K-1G, like 1048576 or \"1M\", got \"1 M\"",
                            "9:12: logFiles: expected a number of files 1-10, got a string (hint: write it without quotes)",
                            "11:11: logSize: expected a size of 64K-1G, like 1048576 or \"1M\", got a boolean",
                            "13:11: logSize: expected a size of 64K-1G, like 1048576 or \"1M\", got \"99999999999G\""));
    model m = load_string("[containers.a]\nlogSize = \"64k\"\n[containers.b]\nlogSize = \"1G\"\nlogFiles = 1\n"
                          "[containers.c]\nlogSize = 70000\n[containers.d]\nlogSize = \"1048576\"\n", "t.toml",
                          format::toml);
    EXPECT_EQ(m.containers[0].log_size, 65536u);
    EXPECT_EQ(m.containers[1].log_size, 1u << 30);
    EXPECT_EQ(m.containers[1].log_files, 1u);
    EXPECT_EQ(m.containers[2].log_size, 70000u);
    EXPECT_EQ(m.containers[3].log_size, 1u << 20);  // a plain number written as a string, as the message suggests
}

TEST(config_errors, services) {
    EXPECT_THAT(briefs(load_errors(R"([containers.c.services.both]
script = "x"
exec = ["/bin/true"]
[containers.c.services.neither]
description = "nothing to run"
[containers.c.services.empty]
exec = []
[containers.c.services.r]
script = "x"
restart = "onfailure"
environment = { A = 1, "B=C" = "x" }
)")),
                ElementsAre("1:24: service 'both' of container 'c' needs exactly one of 'script' and 'exec'",
                            "4:24: service 'neither' of container 'c' needs exactly one of 'script' and 'exec'",
                            "7:8: exec: expected a non-empty argv like [\"/usr/bin/env\", \"true\"]",
                            "10:11: restart: expected \"no\", \"on-failure\" or \"always\", got \"onfailure\"; did you mean \"on-failure\"?",
                            "11:21: A: expected a string, got an integer",
                            "11:24: environment: invalid variable name 'B=C'"));
}

// healAfter: whole seconds, 0 (never) up to a day; anything else is exit 2
// at the value's file:line:col.
TEST(config_errors, heal_after_is_seconds_up_to_a_day) {
    const std::string head = "[tunnels.t]\ntype = \"wireguard\"\nconfig = \"/x\"\n";
    EXPECT_THAT(briefs(load_errors(head + "healAfter = -1\n")),
                ElementsAre("4:13: healAfter: expected seconds 0-86400 (0 = never), got -1"));
    EXPECT_THAT(briefs(load_errors(head + "healAfter = 86401\n")),
                ElementsAre("4:13: healAfter: expected seconds 0-86400 (0 = never), got 86401"));
    EXPECT_THAT(briefs(load_errors(head + "healAfter = \"2m\"\n")),
                ElementsAre("4:13: healAfter: expected seconds 0-86400 (0 = never), got a string"));
    EXPECT_THAT(briefs(load_errors(head + "healAfter = 1.5\n")),
                ElementsAre(testing::StartsWith("4:13: healAfter: expected seconds 0-86400 (0 = never), got ")));
    // Positive controls: the ends of the range load.
    for (const std::string v : {"0", "86400", "4"}) {
        auto m = load_string(head + "healAfter = " + v + "\n", "h.toml", format::toml);
        EXPECT_EQ(m.tunnels.at(0).heal_after, std::stoul(v));
    }
}

TEST(config_errors, tunnels_pipes_networks_egress) {
    EXPECT_THAT(briefs(load_errors(R"([tunnels.t]
type = "ipsec"
[tunnels.u]
config = "/x"
[pipes.p]
mode = "encrypt"
source = "localhost"
target = "::1:80"
[pipes.q]
mode = "encypt"
[networks.n]
uplink = "a-very-long-ifname"
egress = "vpn:"
[containers.c]
egress = "natt"
)")),
                ElementsAre("1:10: missing required key 'config' in tunnel 't'",
                            "2:8: type: expected \"openvpn\" or \"wireguard\", got \"ipsec\"",
                            "3:10: missing required key 'type' in tunnel 'u'",
                            "5:8: missing required key 'keyFile' in pipe 'p'",
                            "7:10: source: expected host:port like 127.0.0.1:8080 or [::1]:8080 (or an absolute socket path), got \"localhost\"",
                            "8:10: target: expected host:port like 127.0.0.1:8080 or [::1]:8080 (or an absolute socket path), got \"::1:80\"",
                            "9:8: missing required key 'source' in pipe 'q'",
                            "9:8: missing required key 'target' in pipe 'q'",
                            "9:8: missing required key 'keyFile' in pipe 'q'",
                            "10:8: mode: expected \"encrypt\" or \"decrypt\", got \"encypt\"; did you mean \"encrypt\"?",
                            "11:11: missing required key 'subnet' in network 'n'",
                            "12:10: uplink: expected a network interface name (1-15 characters, no '/', ':' or spaces), got \"a-very-long-ifname\"",
                            "13:10: egress: expected \"none\", \"nat\" or \"vpn:<tunnel>\", got \"vpn:\"",
                            "15:10: egress: expected \"none\", \"nat\" or \"vpn:<tunnel>\", got \"natt\""));
}

TEST(config_errors, nul_in_strings_is_rejected) {
    EXPECT_THAT(briefs(load_errors("[containers.c]\nroot = \"/srv\\u0000/x\"\n")),
                ElementsAre("2:8: root: strings must not contain NUL characters"));
    EXPECT_THAT(briefs(load_errors(R"({"containers": {"c": {"root": "/srv\u0000"}}})", format::json)),
                ElementsAre("1:31: root: strings must not contain NUL characters"));
}

// toml++ 3.3 has undefined behaviour on some non-ASCII code points between
// tokens (marzer/tomlplusplus#295, #190); the loader rejects them first.
TEST(config_errors, non_ascii_outside_strings_is_rejected_before_toml_plus_plus) {
    EXPECT_THAT(briefs(load_errors("[containers.c]\nfirewall.allowedTCPPorts = [1234\xC3\xA2]\n")),
                ElementsAre("2:33: unexpected non-ASCII character outside a string or comment"));
    EXPECT_THAT(briefs(load_errors("[containers.c.services.s]\nscript = \"\"\"\\\n  \xC2\xA7\"\"\"\n")),
                ElementsAre("3:3: non-ASCII character right after a line-ending backslash (hint: the TOML library moat uses cannot parse this; move the line break)"));
    EXPECT_THAT(briefs(load_errors("[containers.c]\nroot = \"\"\"\\ \xEF\xBB\xBB\"\"\"\n")),
                ElementsAre("2:11: invalid escape sequence in string"));
    // toml++ looks ahead through a bare value (even past quotes) to classify it.
    EXPECT_THAT(briefs(load_errors("[containers.c]\nroot = 555\"h\xC2\xBE\"\n")),
                ElementsAre("2:13: unexpected non-ASCII character outside a string or comment"));
    EXPECT_THAT(briefs(load_errors("x = [1, {a = 1979-05-27 0'\xC2\xBE'}]\n")),
                ElementsAre("1:27: unexpected non-ASCII character outside a string or comment"));
    // Non-ASCII where TOML allows it still loads: strings of every kind, comments, quoted keys.
    model tight = load_string("[containers.c]\nroot=\"/\xC2\xBE\"\ndns=[\"1.1.1.1\",]\n[containers.c.services.s]\n"
                              "script='\xC2\xBE'\nenvironment={A=\"\xC2\xBE\",B='\xC2\xBE'}\n",
                              "u.toml", format::toml);
    EXPECT_EQ(*tight.containers.at(0).root, "/\xC2\xBE");
    EXPECT_EQ(tight.containers.at(0).services.at(0).environment.at("B"), "\xC2\xBE");
    model m = load_string("# caf\xC3\xA9\n[containers.c.services.\"s\"] # \xC2\xA7\n"
                          "description = \"caf\xC3\xA9 \\\" \xC2\xA7\"\n"
                          "script = \"\"\"\xC2\xA7\\\n  x \xC2\xA7\\\\\n\xC2\xA7\"\"\"\n"
                          "environment = { \"\xC2\xA7\" = '\xC2\xA7', B = '''\xC2\xA7\n\xC2\xA7'''}\n",
                          "u.toml", format::toml);
    const service& s = m.containers.at(0).services.at(0);
    EXPECT_EQ(s.description, "caf\xC3\xA9 \" \xC2\xA7");
    EXPECT_EQ(*s.script, "\xC2\xA7x \xC2\xA7\\\n\xC2\xA7");
    EXPECT_EQ(s.environment.at("\xC2\xA7"), "\xC2\xA7");
    EXPECT_EQ(s.environment.at("B"), "\xC2\xA7\n\xC2\xA7");
}

TEST(config_errors, toml_syntax_error_has_position) {
    auto d = load_errors("[containers.c]\nprivateNetwork = true\nhostAddress = \"10.0.0.1\nx = 1\n");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].where.str(), "t.toml:3:24");
    EXPECT_NE(d[0].message.find("string"), std::string::npos) << d[0].message;
    auto dup = load_errors("[containers.c]\nroot = \"/\"\nroot = \"/\"\n");
    ASSERT_EQ(dup.size(), 1u);
    EXPECT_EQ(dup[0].where.line, 3);
}

// The same mistakes in both formats: same messages, in the same order.
TEST(config_errors, toml_and_json_report_identical_messages) {
    auto t = load_errors(R"([containers.web]
privatenetwork = true
hostAddress = "10.0.0.300"
forwardPorts = [ { hostPort = 70000 } ]
services = { s = { restart = "sometimes" } }
)");
    auto j = load_errors(R"({"containers": {"web": {
  "privatenetwork": true,
  "hostAddress": "10.0.0.300",
  "forwardPorts": [ { "hostPort": 70000 } ],
  "services": {"s": {"restart": "sometimes"}}}}})",
                         format::json);
    ASSERT_EQ(t.size(), 5u);
    ASSERT_EQ(j.size(), t.size());
    for (std::size_t i = 0; i < t.size(); ++i) {
        EXPECT_EQ(t[i].message, j[i].message);
        EXPECT_EQ(t[i].hint, j[i].hint);
        EXPECT_EQ(t[i].where.line, j[i].where.line) << t[i].message;
    }
    EXPECT_EQ(brief(j[2]), "4:35: hostPort: expected a port number 1-65535, got 70000");
}

TEST(config_errors, error_fixture_file) {
    auto d = diagnostics_of([] { load_file(data_path("errors.toml")); });
    EXPECT_THAT(briefs(d), ElementsAre("5:1: unknown key 'localaddress' in container 'webapp'; did you mean 'localAddress'?",
                                       "8:20: allowedTCPPorts: expected a port number 1-65535, got 123456",
                                       "11:11: restart: expected \"no\", \"on-failure\" or \"always\", got \"forever\""));
    EXPECT_EQ(d[0].where.file, data_path("errors.toml"));
}

}  // namespace
}  // namespace moat::config::test
