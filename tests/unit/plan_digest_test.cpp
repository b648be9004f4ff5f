// Issue 14: the content of the files a definition depends on is part of
// its plan (plan/digest.hpp). An edited file changes the hash of the one
// container that reads it, the same content keeps every hash, and the
// digest of a pipe's key is not the key spiped derives from it.
#include "config/loader.hpp"
#include "plan/digest.hpp"
#include "plan/pipes.hpp"
#include "plan/tunnel.hpp"
#include "sys/hash.hpp"

#include <gtest/gtest.h>

#include <openssl/sha.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace moat;

namespace {

struct temp_dir {
    std::string path;
    temp_dir() {
        char t[] = "/tmp/moat-digest-test-XXXXXX";
        path = ::mkdtemp(t);
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const std::string& content) const {
        std::ofstream(path + "/" + name, std::ios::trunc) << content;
        return path + "/" + name;
    }
};

const char* wg_key = "2LMXI1HZrwRrfAoJ4cqVXdzikPHhhHcaq//k8D0Lw3g=";
const char* wg_peer = "Pa5VxhDSMw/zdN6pkJZyUGN07KG2uqR+RkGO2snZqmg=";

std::string wg_file(int keepalive) {
    return std::string("[Interface]\nPrivateKey = ") + wg_key + "\nAddress = 10.9.0.2/32\nDNS = 10.9.0.1\n[Peer]\n" +
           "PublicKey = " + wg_peer + "\nEndpoint = 203.0.113.2:51820\nAllowedIPs = 0.0.0.0/0\n" +
           "PersistentKeepalive = " + std::to_string(keepalive) + "\n";
}

config::model load(const std::string& toml) {
    auto m = config::load_string(toml, "test.toml", config::format::toml);
    config::validate(m);
    return m;
}

// The plans of `up` for m: its containers, their pipes and tunnels.
std::vector<plan::container_plan> plans_of(const config::model& m) {
    std::vector<plan::container_plan> plans;
    for (const auto& c : m.containers) {
        plans.push_back(plan::plan_container(c));
    }
    plan::plan_pipes(m, plans, "/usr/bin/moat", true);
    plan::plan_tunnels(m, plans, "/usr/bin/moat");
    return plans;
}

std::map<std::string, std::string> hashes(const std::vector<plan::container_plan>& plans) {
    std::map<std::string, std::string> out;
    for (const auto& p : plans) {
        out[p.name] = plan::hash(p);
    }
    return out;
}

const plan::container_plan& named(const std::vector<plan::container_plan>& plans, const std::string& name) {
    for (const auto& p : plans) {
        if (p.name == name) return p;
    }
    throw std::runtime_error("no plan " + name);
}

}  // namespace

TEST(plan_digest, follows_the_content_and_is_not_spipeds_key) {
    temp_dir d;
    auto a = d.write("a", std::string(32, 'A'));
    auto b = d.write("b", std::string(32, 'B'));
    auto a2 = d.write("a2", std::string(32, 'A'));
    EXPECT_EQ(plan::file_digest(a).size(), 64u);
    EXPECT_EQ(plan::file_digest(a), plan::file_digest(a2));
    EXPECT_EQ(plan::file_digest(a), plan::text_digest(std::string(32, 'A')));
    EXPECT_NE(plan::file_digest(a), plan::file_digest(b));
    // spiped's key is SHA-256 of the key file: the digest must not be it.
    unsigned char md[SHA256_DIGEST_LENGTH];
    std::string content(32, 'A');
    SHA256(reinterpret_cast<const unsigned char*>(content.data()), content.size(), md);
    std::string plain;
    for (unsigned char c : md) {
        char hex[3];
        std::snprintf(hex, sizeof hex, "%02x", c);
        plain += hex;
    }
    EXPECT_NE(plan::file_digest(a), plain);
    EXPECT_THROW(plan::file_digest(d.path + "/missing"), std::system_error);
}

TEST(plan_digest, a_rotated_key_changes_only_the_containers_of_its_pipes) {
    temp_dir d;
    auto key = d.write("k.key", std::string(32, 'A'));
    auto other = d.write("o.key", std::string(32, 'O'));
    auto m = load("[containers.web]\nprivateNetwork = true\nhostAddress = \"10.171.1.1\"\nlocalAddress = \"10.171.1.2\"\n"
                  "[containers.quiet]\n"
                  "[pipes.in]\nmode = \"decrypt\"\nsource = \"0.0.0.0:8999\"\ntarget = \"127.0.0.1:1\"\nkeyFile = \"" +
                  key + "\"\ncontainer = \"web\"\n"
                  "[pipes.out]\nmode = \"encrypt\"\nsource = \"127.0.0.1:7000\"\ntarget = \"web:8999\"\nkeyFile = \"" +
                  other + "\"\n");
    auto before = plans_of(m);
    auto h0 = hashes(before);
    ASSERT_EQ(h0.size(), 3u);  // web, quiet, _pipes
    // The same bytes in a new file (`cp`, `mv`): nothing changes.
    std::filesystem::remove(key);
    d.write("k.key", std::string(32, 'A'));
    EXPECT_EQ(hashes(plans_of(m)), h0);
    // A new key: the pipe's container only, and it says why.
    d.write("k.key", std::string(32, 'B'));
    auto after = plans_of(m);
    auto h1 = hashes(after);
    EXPECT_NE(h1["web"], h0["web"]);
    EXPECT_EQ(h1["quiet"], h0["quiet"]);
    EXPECT_EQ(h1["_pipes"], h0["_pipes"]);
    EXPECT_EQ(plan::changed_files(plan::to_json(named(before, "web")), named(after, "web")),
              "key file " + key + " changed");
    EXPECT_EQ(plan::changed_files(plan::to_json(named(before, "quiet")), named(after, "quiet")), "");
    // The digest survives the record.
    EXPECT_EQ(plan::hash(plan::plan_from_json(plan::to_json(named(after, "web")))), h1["web"]);
}

TEST(plan_digest, an_edited_tunnel_file_changes_only_tunnels) {
    temp_dir d;
    auto conf = d.write("wg.conf", wg_file(25));
    auto m = load("[tunnels.vpn0]\ntype = \"wireguard\"\nconfig = \"" + conf + "\"\n"
                  "[containers.c]\nprivateNetwork = true\nhostAddress = \"10.171.1.1\"\nlocalAddress = \"10.171.1.2\"\n"
                  "egress = \"vpn:vpn0\"\n");
    auto before = plans_of(m);
    auto h0 = hashes(before);
    ASSERT_EQ(h0.size(), 2u);  // c, _tunnels
    EXPECT_EQ(hashes(plans_of(m)), h0);
    d.write("wg.conf", wg_file(20));
    auto after = plans_of(m);
    auto h1 = hashes(after);
    EXPECT_EQ(h1["c"], h0["c"]);  // confined, not restarted
    EXPECT_NE(h1["_tunnels"], h0["_tunnels"]);
    EXPECT_EQ(plan::changed_files(plan::to_json(named(before, "_tunnels")), named(after, "_tunnels")),
              "tunnel vpn0: " + conf + " changed");
    d.write("wg.conf", wg_file(25));
    EXPECT_EQ(hashes(plans_of(m)), h0);  // back to the same bytes, back to the same hash
}

TEST(plan_digest, a_file_an_ovpn_names_is_a_dependency_too) {
    temp_dir d;
    d.write("ca.crt", "CA 1");
    auto conf = d.write("p.ovpn", "client\nremote 203.0.113.2 1194\nca ca.crt\n");
    auto m = load("[tunnels.p]\ntype = \"openvpn\"\nconfig = \"" + conf + "\"\n"
                  "[containers.c]\nprivateNetwork = true\nhostAddress = \"10.171.1.1\"\nlocalAddress = \"10.171.1.2\"\n"
                  "egress = \"vpn:p\"\ndns = [\"10.8.0.1\"]\n");
    auto before = plans_of(m);
    auto h0 = hashes(before);
    EXPECT_EQ(hashes(plans_of(m)), h0);
    d.write("ca.crt", "CA 2");
    auto after = plans_of(m);
    auto h1 = hashes(after);
    EXPECT_EQ(h1["c"], h0["c"]);
    EXPECT_NE(h1["_tunnels"], h0["_tunnels"]);
    EXPECT_EQ(plan::changed_files(plan::to_json(named(before, "_tunnels")), named(after, "_tunnels")),
              "tunnel p: " + d.path + "/ca.crt changed");
    d.write("p.ovpn", "client\nremote 203.0.113.2 1194\nca ca.crt\nverb 3\n");
    EXPECT_NE(hashes(plans_of(m))["_tunnels"], h1["_tunnels"]);
}

// The digest's bytes are recorded in every container's record: the same
// file must give the same digest across moat versions, or an upgrade would
// restart everything. Known answers, computed apart from moat (Python's
// hashlib.sha256(b"moat plan dependency digest v1\0" + content)).
TEST(plan_digest, keeps_its_known_answers) {
    EXPECT_EQ(plan::text_digest("abc"), "623ffa0b3bd4b92e7d42a1c6489902b22655b24f27e4a08c8656c18f43cf8b61");
    EXPECT_EQ(plan::text_digest(""), "f0e388810d6cc54929d3f9eae905afe28c01cb994c03d21b27bddf95f449fc00");
    temp_dir d;
    EXPECT_EQ(plan::file_digest(d.write("abc", "abc")), plan::text_digest("abc"));
}

TEST(sys_hash, to_hex_is_two_lower_case_digits_per_byte) {
    const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
    EXPECT_EQ(sys::to_hex(bytes), "000fa5ff");
    EXPECT_EQ(sys::to_hex({}), "");
}
