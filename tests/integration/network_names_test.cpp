// Names on networks (container/hosts_file.hpp): members of a bridge network
// resolve each other and the host through /etc/hosts, kept current by `up`
// and `down` in running containers, without restarting them.
#include "network_lab.hpp"

#include <gtest/gtest.h>

using namespace moat::test;

namespace {

constexpr auto npos = std::string::npos;

std::string members(const std::string& extra, const std::string& b_address = "") {
    return R"(
[networks.lab]
subnet = "10.172.8.0/24"

[containers.a]
privateNetwork = true
hostBridge = "lab"

[containers.b]
privateNetwork = true
hostBridge = "lab"
)" + b_address + R"(
[containers.b.services.listen]
script = 'while true; do echo from-b | nc -l -p 7000; done'
restart = "always"

[containers.solo]
privateNetwork = true
hostAddress = "10.172.9.1"
localAddress = "10.172.9.2"
tmpfs = ["/mnt"]
)" + extra;
}

// What `getent hosts NAME` says in `container`: "" when it does not resolve.
std::string lookup(lab& l, const std::string& container, const std::string& name) {
    auto r = l.moat("exec " + container + " -- getent hosts " + name);
    return r.code == 0 ? r.out.substr(0, r.out.find_first_of(" \t")) : "";
}

}  // namespace

TEST(NetworkNames, MembersResolveEachOtherAndTheHostAsMembersComeAndGo) {
    lab l;
    auto file = l.write("moat.toml", members(""));
    auto r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    std::string a = address_of(l, "a"), b = address_of(l, "b");
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(b.empty());
    EXPECT_EQ(lookup(l, "a", "b"), b);
    EXPECT_EQ(lookup(l, "b", "a"), a);
    EXPECT_EQ(lookup(l, "a", "a"), a);
    EXPECT_EQ(lookup(l, "a", "host.containers.internal"), "10.172.8.1");
    EXPECT_EQ(lookup(l, "b", "host.docker.internal"), "10.172.8.1");
    // A TCP connection by name (bash's /dev/tcp resolves through getaddrinfo).
    std::string line;
    eventually([&] { return (line = tcp_line(l, "a", "b", 7000)) == "from-b\n"; });
    EXPECT_EQ(line, "from-b\n");
    // A container on a veth of its own sees itself and the host, no member.
    EXPECT_EQ(lookup(l, "solo", "solo"), "10.172.9.2");
    EXPECT_EQ(lookup(l, "solo", "host.containers.internal"), "10.172.9.1");
    EXPECT_EQ(lookup(l, "solo", "a"), "");
    EXPECT_EQ(lookup(l, "a", "solo"), "");
    // tmpfs (NixOS's key): an empty, writable tmpfs over the host's read-only /mnt.
    auto fs = l.moat("exec solo -- sh -c 'stat -f -c %T /mnt && touch /mnt/x && ls /mnt'");
    EXPECT_EQ(fs.out, "tmpfs\nx\n") << fs.err;
    EXPECT_NE(l.moat("exec a -- touch /mnt/x").code, 0);  // the control: without it, read-only
    // The file is the container's, read-only on /etc/hosts, and no host path shows.
    EXPECT_NE(l.moat("exec a -- sh -c 'echo x >> /etc/hosts'").code, 0);
    auto info = l.moat("exec a -- grep -w /etc/hosts /proc/self/mountinfo").out;
    EXPECT_NE(info.find(" /moat/hosts /etc/hosts "), npos) << info;
    EXPECT_EQ(info.find(l.dir()), npos) << info;

    // A third member, added by a second `up`, shows in the running two.
    ASSERT_EQ(l.moat("exec a -- touch /tmp/still-the-same").code, 0);
    r = l.moat("up -f " + l.write("moat.toml", members(R"(
[containers.c]
privateNetwork = true
hostBridge = "lab"
)")));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    std::string c = address_of(l, "c");
    ASSERT_FALSE(c.empty());
    EXPECT_EQ(l.moat("exec a -- test -f /tmp/still-the-same").code, 0) << "a was restarted";
    EXPECT_EQ(lookup(l, "a", "c"), c);
    EXPECT_EQ(lookup(l, "b", "c"), c);
    EXPECT_EQ(lookup(l, "c", "a"), a);
    EXPECT_EQ(lookup(l, "c", "b"), b);
    EXPECT_EQ(lookup(l, "solo", "c"), "");

    // Removed: its line goes.
    r = l.moat("down c");
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_EQ(lookup(l, "a", "c"), "");
    EXPECT_EQ(lookup(l, "b", "c"), "");
    EXPECT_EQ(lookup(l, "a", "b"), b);

    // Recreated with a new address: the others see the new one.
    r = l.moat("up -f " + l.write("moat.toml", members("", "localAddress = \"10.172.8.77\"")));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_EQ(address_of(l, "b"), "10.172.8.77");
    EXPECT_EQ(lookup(l, "a", "b"), "10.172.8.77");
    EXPECT_EQ(l.moat("exec a -- test -f /tmp/still-the-same").code, 0) << "a was restarted";
}
