// VPN tunnels in planning: the wg-quick reader, confinement of containers,
// the `_tunnels` container, the routing layer and the UAPI request.
#include "config/loader.hpp"
#include "converge/routing.hpp"
#include "plan/tunnel.hpp"
#include "plan/tunnel_checks.hpp"
#include "sys/error.hpp"
#include "tunnel/tunnel.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace moat;

namespace {

// Real X25519 keys (generated for this test), base64 as wg-quick writes them.
const char* private_key = "2LMXI1HZrwRrfAoJ4cqVXdzikPHhhHcaq//k8D0Lw3g=";
const char* public_key = "Pa5VxhDSMw/zdN6pkJZyUGN07KG2uqR+RkGO2snZqmg=";

std::string wg_file() {
    return std::string("# provider file\n[Interface]\nPrivateKey = ") + private_key +
           "\nAddress = 10.9.0.2/32, fd00:9::2/128\nDNS = 10.9.0.1\nPostUp = iptables -A ... # never run\n\n"
           "[Peer]\nPublicKey = " + public_key + "\nEndpoint = 203.0.113.2:51820\nAllowedIPs = 0.0.0.0/0, ::/0\n"
           "PersistentKeepalive = 25\n";
}

std::string write_temp(const std::string& content) {
    char path[] = "/tmp/moat-tunnel-test-XXXXXX";
    int fd = ::mkstemp(path);
    ::close(fd);
    std::ofstream(path) << content;
    return path;
}

config::model load(const std::string& toml) {
    auto m = config::load_string(toml, "test.toml", config::format::toml);
    config::validate(m);
    return m;
}

}  // namespace

TEST(plan_tunnel, reads_wg_quick_files_and_ignores_hooks) {
    auto c = plan::parse_wg_quick(wg_file(), "x.conf");
    EXPECT_EQ(c.private_key, private_key);
    ASSERT_EQ(c.addresses.size(), 2u);
    EXPECT_EQ(c.addresses[0].str(), "10.9.0.2/32");
    EXPECT_EQ(c.dns, std::vector<std::string>{"10.9.0.1"});
    ASSERT_EQ(c.peers.size(), 1u);
    EXPECT_EQ(c.peers[0].endpoint, "203.0.113.2:51820");
    EXPECT_EQ(c.peers[0].allowed_ips.size(), 2u);
    EXPECT_EQ(c.peers[0].keepalive, 25);
}

// A provider's file saved on Windows: a byte order mark, CRLF line ends.
// Control: the mark anywhere but first is an error at its line.
TEST(plan_tunnel, reads_a_wg_quick_file_saved_on_windows) {
    std::string crlf;
    for (char ch : wg_file()) {
        crlf += ch == '\n' ? std::string("\r\n") : std::string(1, ch);
    }
    auto c = plan::parse_wg_quick("\xEF\xBB\xBF" + crlf, "x.conf");
    EXPECT_EQ(c.private_key, private_key);
    ASSERT_EQ(c.peers.size(), 1u);
    EXPECT_EQ(c.peers[0].endpoint, "203.0.113.2:51820");
    EXPECT_THROW(plan::parse_wg_quick("\n\xEF\xBB\xBF" + wg_file(), "x.conf"), usage_error);
}

TEST(plan_tunnel, wg_quick_errors_name_file_and_line) {
    try {
        plan::parse_wg_quick("[Interface]\nPrivateKey = k\nAddress = 10.9.0.300/32\n", "bad.conf");
        FAIL();
    } catch (const usage_error& e) {
        EXPECT_STREQ(e.what(), "bad.conf:3: \"10.9.0.300/32\" is not an address or prefix");
    }
    EXPECT_THROW(plan::parse_wg_quick("Address = 10.0.0.1\n", "f"), usage_error);  // no section
    EXPECT_THROW(plan::parse_wg_quick("[Interface]\nAddress = 10.0.0.1/32\n", "f"), usage_error);  // no key
    EXPECT_THROW(plan::parse_wg_quick(std::string("[Interface]\nPrivateKey = ") + private_key + "\nAddress = 10.0.0.1/32\n", "f"),
                 usage_error);  // no peer
}

// What the runner refused only once it ran (exit 1, restarted with back-off)
// is the file's error at plan time (exit 2, nothing touched).
TEST(plan_tunnel, wg_quick_keys_and_endpoints_are_checked_when_planning) {
    auto with = [](const std::string& from, const std::string& to) {
        std::string text = wg_file();
        text.replace(text.find(from), from.size(), to);
        return text;
    };
    const std::pair<std::string, std::string> bad[] = {
        {with(private_key, "not-a-key"), "f: [Interface] PrivateKey is not a base64 WireGuard key (44 characters ending in '=')"},
        {with(public_key, std::string(public_key).substr(0, 43) + "x"), "f: [Peer] PublicKey is not a base64 WireGuard key (44 characters ending in '=')"},
        {with("PersistentKeepalive", "PresharedKey = short=\nPersistentKeepalive"), "f: [Peer] PresharedKey is not a base64 WireGuard key (44 characters ending in '=')"},
        {with("203.0.113.2:51820", "203.0.113.2"), "f:10: Endpoint \"203.0.113.2\" is not host:port"},
        {with("203.0.113.2:51820", "203.0.113.2:70000"), "f:10: Endpoint \"203.0.113.2:70000\": port 70000 is not a number from 1 to 65535"},
        {with("203.0.113.2:51820", "203.0.113.2:0"), "f:10: Endpoint \"203.0.113.2:0\": port 0 is not a number from 1 to 65535"},
        {with("203.0.113.2:51820", "2001:db8::1:51820"), "f:10: Endpoint \"2001:db8::1:51820\": an IPv6 address goes in brackets, [address]:port"},
    };
    for (const auto& [text, says] : bad) {
        try {
            plan::parse_wg_quick(text, "f");
            ADD_FAILURE() << text;
        } catch (const usage_error& e) {
            EXPECT_EQ(e.what(), says);
        }
    }
    EXPECT_NO_THROW(plan::parse_wg_quick(with("PersistentKeepalive", std::string("PresharedKey = ") + public_key + "\nPersistentKeepalive"), "f"));
    EXPECT_NO_THROW(plan::parse_wg_quick(with("203.0.113.2:51820", "[2001:db8::1]:51820"), "f"));
    EXPECT_NO_THROW(plan::parse_wg_quick(with("203.0.113.2:51820", "vpn.example:51820"), "f"));
}

// OpenVPN's remote and port lines (numeric: no resolver asked).
TEST(plan_tunnel, ovpn_remote_ports_are_checked_when_planning) {
    std::vector<std::string> notes;
    EXPECT_NO_THROW(plan::check_ovpn_remotes("client\nremote 203.0.113.2 1194 udp\nremote 203.0.113.3\n", "f", notes));
    const std::pair<std::string, std::string> bad[] = {
        {"client\nremote 203.0.113.2 70000\n", "f:2: remote 203.0.113.2 70000: 70000 is not a port from 1 to 65535"},
        {"client\n# remote x 99999\nport 0\n", "f:3: port 0: not a port from 1 to 65535"},
        {"client\nrport 1194x\n", "f:2: rport 1194x: not a port from 1 to 65535"},
        // The lines openvpn reads as options, as it reads them (ovpn_options):
        {"\xEF\xBB\xBFremote 203.0.113.2 70000\n", "f:1: remote 203.0.113.2 70000: 70000 is not a port"},
        {"--remote 203.0.113.2 0\n", "f:1: remote 203.0.113.2 0: 0 is not a port"},
        {"setenv opt remote 203.0.113.2 x\n", "f:1: remote 203.0.113.2 x: x is not a port"},
        {"<connection>\nremote 203.0.113.2 1194\n</connection>\n<connection>\nremote 203.0.113.3 99999\n"
         "</connection>\n",
         "f:5: remote 203.0.113.3 99999: 99999 is not a port"},
        {"client\n \\ port 0\n", "f:2: port 0: not a port"},  // a backslash before a space starts no word
        {"client\nremote \"203.0.113.2\n", "f:2: openvpn cannot read this line"},
    };
    for (const auto& [text, says] : bad) {
        try {
            plan::check_ovpn_remotes(text, "f", notes);
            ADD_FAILURE() << text;
        } catch (const usage_error& e) {
            EXPECT_EQ(std::string(e.what()).rfind(says, 0), 0u) << e.what();
        }
    }
    // Data of an inline block is no option, whatever it looks like.
    EXPECT_NO_THROW(plan::check_ovpn_remotes("<ca>\nremote 203.0.113.2 99999\nport 0\n</ca>\nremote 203.0.113.2\n",
                                             "f", notes));
    EXPECT_TRUE(notes.empty());
    // The lowest of the addresses a name has; a numeric one as it is.
    auto r = plan::resolve_udp("203.0.113.2", "51820");
    EXPECT_EQ(r.status, plan::lookup_status::ok);
    EXPECT_EQ(r.endpoint, "203.0.113.2:51820");
}

TEST(plan_tunnel, uapi_request_has_hex_keys_and_numeric_endpoints) {
    auto r = tunnel::uapi_set_request(plan::parse_wg_quick(wg_file(), "x.conf"));
    EXPECT_EQ(r.rfind("set=1\nprivate_key=d8b3172351d9af046b7c0a09e1ca955ddce290f1e1847", 0), 0u) << r;
    EXPECT_NE(r.find("\nreplace_peers=true\npublic_key=3dae55c610d2330ff374dea9909672506374eca1b6baa47e46418edac9d9aa68\n"),
              std::string::npos) << r;
    EXPECT_NE(r.find("endpoint=203.0.113.2:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\n"
                     "allowed_ip=0.0.0.0/0\nallowed_ip=::/0\n"),
              std::string::npos) << r;
    EXPECT_TRUE(r.ends_with("\n\n"));
    auto bad = plan::parse_wg_quick(wg_file(), "x.conf");
    bad.private_key = "not-a-key";
    EXPECT_THROW(tunnel::uapi_set_request(bad), moat::error);
}

TEST(plan_tunnel, confined_containers_get_the_tunnel_and_its_dns) {
    auto conf = write_temp(wg_file());
    auto m = load("[tunnels.vpn0]\ntype = \"wireguard\"\nconfig = \"" + conf + "\"\n"
                  "[containers.c]\nprivateNetwork = true\nhostAddress = \"10.171.1.1\"\nlocalAddress = \"10.171.1.2\"\n"
                  "egress = \"vpn:vpn0\"\n");
    std::vector<plan::container_plan> plans = {plan::plan_container(m.containers[0])};
    auto tunnels = plan::plan_tunnels(m, plans, "/usr/bin/moat");
    ASSERT_EQ(tunnels.size(), 1u);
    EXPECT_EQ(tunnels[0].device, "tn-vpn0");
    EXPECT_EQ(tunnels[0].table, plan::tunnel_table("vpn0"));
    ASSERT_EQ(plans.size(), 2u);
    EXPECT_EQ(plans[0].egress, "vpn");
    EXPECT_EQ(plans[0].tunnel_if, "tn-vpn0");
    EXPECT_EQ(plans[0].dns, std::vector<std::string>{"10.9.0.1"});
    const auto& host = plans[1];
    EXPECT_EQ(host.name, plan::tunnels_container);
    EXPECT_TRUE(host.tunnel_host);
    EXPECT_FALSE(host.private_network);  // the device lives in the host's namespace
    ASSERT_EQ(host.services.size(), 1u);
    EXPECT_EQ(host.services[0].argv[1], "__tunnel");
    EXPECT_EQ(plan::tunnel_from_json(nlohmann::json::parse(host.services[0].argv[2])), tunnels[0]);
    EXPECT_EQ(tunnel::daemon_argv(tunnels[0]), (std::vector<std::string>{"wireguard-go", "-f", "tn-vpn0"}));
    std::remove(conf.c_str());
}

// wg-quick's DNS takes names as search domains (PiVPN's files, a company's
// `DNS = 10.0.0.53, corp.example`); they were exit 2. They reach a confined
// container's resolv.conf with the tunnel's resolvers, and only then (a
// container's own `dns` keeps its own resolv.conf). A plan without them
// records no key, so an upgrade recreates nothing.
TEST(plan_tunnel, wg_quick_dns_names_are_search_domains_of_the_confined_containers) {
    std::string text = wg_file();
    text.replace(text.find("DNS = 10.9.0.1"), 14, "DNS = 10.9.0.1, corp.example, lan., fd00:9::53");
    auto c = plan::parse_wg_quick(text, "x.conf");
    EXPECT_EQ(c.dns, (std::vector<std::string>{"10.9.0.1", "fd00:9::53"}));
    EXPECT_EQ(c.dns_search, (std::vector<std::string>{"corp.example", "lan."}));
    for (const char* bad : {"10.9.0.300", "corp..example", "-corp.example", "corp example", "a_b.c-.d", "1.2.3"}) {
        std::string t = wg_file();
        t.replace(t.find("DNS = 10.9.0.1"), 14, std::string("DNS = 10.9.0.1, ") + bad);
        try {
            plan::parse_wg_quick(t, "x.conf");
            ADD_FAILURE() << bad;
        } catch (const usage_error& e) {
            EXPECT_EQ(e.what(), "x.conf:5: DNS \"" + std::string(bad) + "\" is neither an address nor a search domain");
        }
    }

    auto conf = write_temp(text);
    auto m = load("[tunnels.vpn0]\ntype = \"wireguard\"\nconfig = \"" + conf + "\"\n"
                  "[containers.c]\nprivateNetwork = true\nhostAddress = \"10.171.1.1\"\nlocalAddress = \"10.171.1.2\"\n"
                  "egress = \"vpn:vpn0\"\n"
                  "[containers.own]\nprivateNetwork = true\nhostAddress = \"10.171.2.1\"\nlocalAddress = \"10.171.2.2\"\n"
                  "egress = \"vpn:vpn0\"\ndns = [\"10.9.0.7\"]\n");
    std::vector<plan::container_plan> plans = {plan::plan_container(m.containers[0]),
                                               plan::plan_container(m.containers[1])};
    auto tunnels = plan::plan_tunnels(m, plans, "/usr/bin/moat");
    ASSERT_EQ(tunnels.size(), 1u);
    EXPECT_EQ(tunnels[0].dns_search, c.dns_search);
    EXPECT_EQ(plan::tunnel_from_json(plan::to_json(tunnels[0])), tunnels[0]);
    EXPECT_EQ(plans[0].dns, c.dns);
    EXPECT_EQ(plans[0].dns_search, c.dns_search);
    EXPECT_EQ(plan::plan_from_json(plan::to_json(plans[0])).dns_search, c.dns_search);
    EXPECT_EQ(plans[1].dns, std::vector<std::string>{"10.9.0.7"});
    EXPECT_TRUE(plans[1].dns_search.empty());
    EXPECT_FALSE(plan::to_json(plans[1]).contains("dns_search"));  // control: absent when empty
    std::remove(conf.c_str());
}

TEST(plan_tunnel, openvpn_ignores_pushed_routes_and_dns_and_user_scripts_and_leaves_the_device_alone) {
    plan::tunnel_plan t;
    t.name = "p";
    t.type = "openvpn";
    t.config_path = "/etc/moat/p.ovpn";
    t.device = "tn-p";
    auto argv = tunnel::daemon_argv(t);
    std::string line;
    for (const auto& a : argv) {
        line += a + " ";
    }
    // The daemon reads the runner's sanitised copy, opens the device moat
    // made through its own clone node, and configures nothing.
    for (const char* must : {"openvpn --config /run/moat-tunnel/p/config.ovpn --dev tn-p --dev-type tun",
                             "--dev-node /dev/net/tn-p", "--ifconfig-noexec", "--route-noexec", "--disable-dco",
                             "--route-nopull", "--pull-filter ignore redirect-gateway",
                             "--pull-filter ignore dhcp-option", "--script-security 1",
                             "--management /run/moat-tunnel/p/management.sock unix --management-client"}) {
        EXPECT_NE(line.find(must), std::string::npos) << must << "\n" << line;
    }
}

TEST(plan_tunnel, the_daemon_runs_as_a_uid_of_its_own) {
    plan::tunnel_plan a, b;
    a.table = plan::tunnel_table("vpn0");
    b.table = plan::tunnel_table("vpn1");
    auto who = tunnel::daemon_identity_for(a);
    EXPECT_EQ(who.uid, a.table);
    EXPECT_EQ(who.gid, a.table);
    EXPECT_GE(who.uid, 0x6d740000u);
    EXPECT_NE(who.uid, tunnel::daemon_identity_for(b).uid);
}

TEST(plan_tunnel, openvpn_files_named_by_path_are_checked_and_bound_into_tunnels) {
    char dir[] = "/tmp/moat-ovpn-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string d = dir;
    std::ofstream(d + "/ca.crt") << "CA";
    std::ofstream(d + "/client.key") << "KEY";
    std::ofstream(d + "/p.ovpn") << "client\nca ca.crt\nkey " << d << "/client.key\ncert ca.crt\nuser nobody\n";
    auto m = load("[tunnels.p]\ntype = \"openvpn\"\nconfig = \"" + d + "/p.ovpn\"\n"
                  "[containers.c]\nprivateNetwork = true\nhostAddress = \"10.171.1.1\"\nlocalAddress = \"10.171.1.2\"\n"
                  "egress = \"vpn:p\"\ndns = [\"10.8.0.1\"]\n");
    std::vector<plan::container_plan> plans = {plan::plan_container(m.containers[0])};
    auto tunnels = plan::plan_tunnels(m, plans, "/usr/bin/moat");
    ASSERT_EQ(tunnels.size(), 1u);
    EXPECT_EQ(tunnels[0].files, (std::vector<std::string>{d + "/ca.crt", d + "/client.key"}));
    EXPECT_EQ(plan::tunnel_from_json(plan::to_json(tunnels[0])), tunnels[0]);
    std::vector<std::string> bound;
    for (const auto& mp : plans.back().mounts) {
        if (mp.host_path == mp.mount_point && mp.read_only) {
            bound.push_back(mp.mount_point);
        }
    }
    for (const auto& f : {d + "/ca.crt", d + "/client.key", d + "/p.ovpn"}) {
        EXPECT_EQ(std::count(bound.begin(), bound.end(), f), 1) << f;
    }
    // A named file that is missing fails `up` with the line that names it.
    std::ofstream(d + "/p.ovpn") << "client\ncert missing.crt\n";
    plans = {plan::plan_container(m.containers[0])};
    try {
        plan::plan_tunnels(m, plans, "/usr/bin/moat");
        ADD_FAILURE();
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find(d + "/p.ovpn:2: cert " + d + "/missing.crt: No such file"),
                  std::string::npos) << e.what();
        EXPECT_EQ(std::string(e.what()).rfind("test.toml:", 0), 0u) << e.what();
    }
    std::filesystem::remove_all(d);
}

TEST(plan_tunnel, openvpn_credentials_keys_are_checked_bound_digested_and_masked) {
    char dir[] = "/tmp/moat-ovpn-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string d = dir;
    std::ofstream(d + "/ca.crt") << "CA";
    std::ofstream(d + "/pass") << "s3cret\n";
    std::ofstream(d + "/p.ovpn") << "client\nca ca.crt\nauth-user-pass\n";
    std::ofstream(d + "/unused.ovpn") << "ca /etc\ncert " << d << "/ca.crt\n";
    std::filesystem::create_directory(d + "/a-dir");
    auto toml = [&](const std::string& keys) {
        return "[tunnels.p]\ntype = \"openvpn\"\nconfig = \"" + d + "/p.ovpn\"\n" + keys +
               "[tunnels.unused]\ntype = \"openvpn\"\nconfig = \"" + d + "/unused.ovpn\"\n"
               "[containers.c]\nprivateNetwork = true\nhostAddress = \"10.171.1.1\"\nlocalAddress = \"10.171.1.2\"\n"
               "egress = \"vpn:p\"\ndns = [\"10.8.0.1\"]\n";
    };
    auto m = load(toml("username = \"u\"\npasswordFile = \"" + d + "/pass\"\n"));
    std::vector<plan::container_plan> plans = {plan::plan_container(m.containers[0])};
    auto tunnels = plan::plan_tunnels(m, plans, "/usr/bin/moat");
    ASSERT_EQ(tunnels.size(), 1u);
    const auto& t = tunnels[0];
    EXPECT_EQ(t.username, "u");
    EXPECT_EQ(t.password_file, d + "/pass");
    EXPECT_EQ(t.files, (std::vector<std::string>{d + "/ca.crt"}));
    EXPECT_EQ(t.digests.count(d + "/pass"), 1u);
    EXPECT_EQ(plan::tunnel_from_json(plan::to_json(t)), t);
    EXPECT_EQ(plan::to_json(t).dump().find("s3cret"), std::string::npos);  // paths travel, never the password
    auto bound = std::count_if(plans.back().mounts.begin(), plans.back().mounts.end(),
                               [&](const plan::mount_plan& mp) { return mp.host_path == d + "/pass" && mp.read_only; });
    EXPECT_EQ(bound, 1);
    // Masked everywhere: regular files only, of used and unused tunnels.
    EXPECT_EQ(plan::tunnel_secret_files(m),
              (std::vector<std::string>{d + "/p.ovpn", d + "/pass", d + "/ca.crt", d + "/unused.ovpn"}));
    // An edited password file is another digest.
    std::ofstream(d + "/pass") << "rotated\n";
    plans = {plan::plan_container(m.containers[0])};
    EXPECT_NE(plan::plan_tunnels(m, plans, "/usr/bin/moat")[0].digests, t.digests);
    // Refused at the key: a directory, an empty password, a one-line credentials file.
    std::ofstream(d + "/one-line") << "u\n";
    std::ofstream(d + "/empty") << "";
    for (const auto& [keys, says] : std::vector<std::pair<std::string, std::string>>{
             {"username = \"u\"\npasswordFile = \"" + d + "/a-dir\"\n", "test.toml:5:1: tunnel 'p': passwordFile " +
                                                                         d + "/a-dir: not a regular file"},
             {"username = \"u\"\npasswordFile = \"" + d + "/empty\"\n", "test.toml:5:1: tunnel 'p': passwordFile " +
                                                                         d + "/empty: its first line (the password) is empty"},
             {"credentialsFile = \"" + d + "/one-line\"\n", "test.toml:4:1: tunnel 'p': credentialsFile " + d +
                                                              "/one-line: needs two lines"}}) {
        auto bad = load(toml(keys));
        plans = {plan::plan_container(bad.containers[0])};
        try {
            plan::plan_tunnels(bad, plans, "/usr/bin/moat");
            ADD_FAILURE() << keys;
        } catch (const usage_error& e) {
            EXPECT_EQ(std::string(e.what()).rfind(says, 0), 0u) << e.what();
        }
    }
    std::filesystem::remove_all(d);
}

// A provider's file naming one of the host's secrets would hand it to the
// daemon (and `auth-user-pass FILE` sends its first lines to the server):
// refused at the line, wherever the path leads (host_secrets.hpp).
TEST(plan_tunnel, no_host_secret_is_handed_to_a_daemon) {
    char dir[] = "/tmp/moat-ovpn-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string d = dir;
    std::filesystem::create_directories(d + "/state/c");
    std::ofstream(d + "/ca.crt") << "CA";
    std::filesystem::permissions(d + "/ca.crt", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::ofstream(d + "/state/c/record") << "{}";
    std::ofstream(d + "/pipe.key") << "KEY";
    std::filesystem::create_symlink("/etc/shadow", d + "/innocent.crt");
    auto toml = [&](const std::string& config, const std::string& keys) {
        return "[tunnels.p]\ntype = \"openvpn\"\nconfig = \"" + config + "\"\n" + keys +
               "[containers.c]\nprivateNetwork = true\nhostAddress = \"10.171.1.1\"\nlocalAddress = \"10.171.1.2\"\n"
               "egress = \"vpn:p\"\ndns = [\"10.8.0.1\"]\n"
               "[pipes.x]\nmode = \"encrypt\"\nsource = \"127.0.0.1:1\"\ntarget = \"127.0.0.1:2\"\nkeyFile = \"" + d +
               "/pipe.key\"\n";
    };
    auto plan_with = [&](const std::string& ovpn_lines, const std::string& keys = "",
                         const std::string& config = "") -> std::string {
        std::ofstream(d + "/p.ovpn") << "client\n" << ovpn_lines;
        auto m = load(toml(config.empty() ? d + "/p.ovpn" : config, keys));
        std::vector<plan::container_plan> plans = {plan::plan_container(m.containers[0])};
        try {
            plan::plan_tunnels(m, plans, "/usr/bin/moat", {}, d + "/state");
            return "";
        } catch (const usage_error& e) {
            return e.what();
        }
    };
    // Control: the same shapes with an ordinary file are planned.
    EXPECT_EQ(plan_with("ca ca.crt\n"), "");
    EXPECT_EQ(plan_with("ca ca.crt\n", "username = \"u\"\npasswordFile = \"" + d + "/ca.crt\"\n"), "");
    const std::string shadow = ": it is the host's /etc/shadow: moat hands none of the host's secrets to a tunnel daemon";
    for (const auto& [lines, says] : std::vector<std::pair<std::string, std::string>>{
             {"ca ca.crt\nauth-user-pass /etc/shadow\n", "p.ovpn:3: auth-user-pass /etc/shadow" + shadow},
             {"ca innocent.crt\n", "p.ovpn:2: ca " + d + "/innocent.crt" + shadow},  // through a symlink
             {"tls-auth pipe.key\n", "p.ovpn:2: tls-auth " + d + "/pipe.key: it is the key file of pipe 'x', " + d +
                                          "/pipe.key"},
             {"ca state/c/record\n", "p.ovpn:2: ca " + d + "/state/c/record: it is in moat's state directory " + d +
                                          "/state"}}) {
        auto what = plan_with(lines);
        EXPECT_NE(what.find(d + "/" + says), std::string::npos) << lines << " -> " << what;
        EXPECT_EQ(what.rfind("test.toml:", 0), 0u) << what;
    }
    auto config = plan_with("", "", "/etc/shadow");
    EXPECT_NE(config.find("test.toml:3:1: tunnel 'p': /etc/shadow" + shadow), std::string::npos) << config;
    auto creds = plan_with("ca ca.crt\n", "credentialsFile = \"" + d + "/innocent.crt\"\n");
    EXPECT_NE(creds.find("tunnel 'p': credentialsFile " + d + "/innocent.crt" + shadow), std::string::npos) << creds;
    std::filesystem::remove_all(d);
}

TEST(plan_tunnel, wireguard_mtu_is_read_and_privileged_listen_ports_are_refused) {
    std::string with_mtu = wg_file();
    with_mtu.insert(with_mtu.find("DNS"), "MTU = 1380\n");
    EXPECT_EQ(plan::parse_wg_quick(with_mtu, "x.conf").mtu, 1380u);
    EXPECT_FALSE(plan::parse_wg_quick(wg_file(), "x.conf").mtu);
    std::string low = wg_file();
    low.insert(low.find("DNS"), "MTU = 100\n");
    EXPECT_THROW(plan::parse_wg_quick(low, "x.conf"), usage_error);
    std::string port = wg_file();
    port.insert(port.find("DNS"), "ListenPort = 500\n");
    auto conf = write_temp(port);
    auto m = load("[tunnels.vpn0]\ntype = \"wireguard\"\nconfig = \"" + conf + "\"\n");
    try {
        plan::plan_tunnel(m.tunnels[0], plan::host_secrets("a tunnel daemon"));
        ADD_FAILURE();
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("ListenPort 500"), std::string::npos) << e.what();
    }
    std::remove(conf.c_str());
}

TEST(plan_tunnel, openvpn_confinement_needs_an_explicit_dns) {
    auto conf = write_temp("client\ndev tun\nremote 203.0.113.2 1194\n");
    auto m = load("[tunnels.p]\ntype = \"openvpn\"\nconfig = \"" + conf + "\"\n"
                  "[containers.c]\nprivateNetwork = true\nhostAddress = \"10.171.1.1\"\nlocalAddress = \"10.171.1.2\"\n"
                  "egress = \"vpn:p\"\n");
    std::vector<plan::container_plan> plans = {plan::plan_container(m.containers[0])};
    EXPECT_THROW(plan::plan_tunnels(m, plans, "/usr/bin/moat"), usage_error);
    plans = {plan::plan_container(m.containers[0])};
    plans[0].dns = {"10.8.0.1"};
    EXPECT_EQ(plan::plan_tunnels(m, plans, "/usr/bin/moat").size(), 1u);
    std::remove(conf.c_str());
}

TEST(routing, confined_containers_get_a_table_with_no_way_around_the_tunnel) {
    plan::container_plan p;
    p.name = "c";
    p.egress = "vpn";
    p.tunnel = "vpn0";
    p.host_if = "ve-c";
    p.bridge_if = "mb-lab";
    p.v4 = plan::address_pair{*sys::ip_prefix::parse("10.172.0.1/24"), *sys::ip_prefix::parse("10.172.0.7/24"), false};
    plan::container_plan nat = p;
    nat.name = "n";
    nat.egress = "nat";
    auto rp = converge::routing_for({p, nat});
    auto table = plan::tunnel_table("vpn0");
    std::vector<std::string> routes, rules;
    for (const auto& r : rp.routes) {
        routes.push_back(r.str());
    }
    for (const auto& r : rp.rules) {
        rules.push_back(r.str());
    }
    auto has = [](const std::vector<std::string>& v, const std::string& needle) {
        return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return s.find(needle) != std::string::npos; });
    };
    EXPECT_TRUE(has(routes, "10.172.0.0/24 dev mb-lab table " + std::to_string(table))) << ::testing::PrintToString(routes);
    EXPECT_TRUE(has(routes, "unreachable default table " + std::to_string(table))) << ::testing::PrintToString(routes);
    EXPECT_EQ(std::count_if(rp.routes.begin(), rp.routes.end(),
                            [](const netlink::route& r) { return r.type == netlink::route_type::unreachable; }),
              2);  // IPv4 and IPv6
    EXPECT_TRUE(has(rules, "from 10.172.0.7/32 lookup " + std::to_string(table))) << ::testing::PrintToString(rules);
    EXPECT_FALSE(has(rules, "10.172.0.0"));  // not the subnet: a NAT member shares it
    EXPECT_TRUE(has(rules, "fwmark 0x6d6f6174"));
    EXPECT_TRUE(converge::routing_for({nat}).rules.empty());
}
