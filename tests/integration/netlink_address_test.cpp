// Addresses through moat::netlink, checked against `ip -j addr`.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "netlink/netlink.hpp"
#include "netlink_lab.hpp"
#include "sys/error.hpp"

namespace moat::netlink::test {
namespace {

sys::ip_prefix pfx(const char* s) { return *sys::ip_prefix::parse(s); }
sys::ip_address addr(const char* s) { return *sys::ip_address::parse(s); }

// addr_info entries of `ifname` from `ip -j addr`.
nlohmann::json addr_info(const lab_ns& ns, const std::string& ifname) {
    for (auto& l : ns.ip("addr show dev " + ifname)) {
        return l["addr_info"];
    }
    return nlohmann::json::array();
}

nlohmann::json find_local(const nlohmann::json& infos, const std::string& local) {
    for (auto& a : infos) {
        if (a["local"] == local) {
            return a;
        }
    }
    return nullptr;
}

std::vector<address_info> v4_only(std::vector<address_info> all) {
    std::erase_if(all, [](const address_info& a) { return !a.local.address.is_v4(); });
    return all;  // the kernel adds fe80:: link-local addresses by itself
}

// A veth pair with both ends up, as moat leaves it: DAD would run on it.
struct veth_lab {
    lab_ns ns;
    socket s = socket::open_in(ns.fd());
    veth_lab() {
        s.create_veth("va-0", "va-1");
        s.set_up("va-0");
        s.set_up("va-1");
    }
};

TEST(netlink_address, ipv4_add_list_delete) {
    veth_lab lab;
    lab.s.add_address("va-0", pfx("10.171.1.1/30"));
    auto a = find_local(addr_info(lab.ns, "va-0"), "10.171.1.1");
    ASSERT_FALSE(a.is_null());
    EXPECT_EQ(a["prefixlen"], 30);
    EXPECT_EQ(a["family"], "inet");

    auto mine = v4_only(lab.s.addresses("va-0"));
    ASSERT_EQ(mine.size(), 1u);
    EXPECT_EQ(mine[0].local, pfx("10.171.1.1/30"));
    EXPECT_EQ(mine[0].ifname, "va-0");
    EXPECT_FALSE(mine[0].peer);

    // The whole-namespace listing names the interfaces itself.
    bool seen = false;
    for (auto& x : lab.s.addresses()) {
        seen |= x.ifname == "va-0" && x.local == pfx("10.171.1.1/30");
    }
    EXPECT_TRUE(seen);

    EXPECT_TRUE(lab.s.delete_address("va-0", pfx("10.171.1.1/30")));
    EXPECT_TRUE(find_local(addr_info(lab.ns, "va-0"), "10.171.1.1").is_null());
    EXPECT_FALSE(lab.s.delete_address("va-0", pfx("10.171.1.1/30")));
    EXPECT_FALSE(lab.s.delete_address("nosuch0", pfx("10.171.1.1/30")));
}

TEST(netlink_address, ipv4_twice_is_eexist) {
    veth_lab lab;
    lab.s.add_address("va-0", pfx("10.171.1.1/30"));
    try {
        lab.s.add_address("va-0", pfx("10.171.1.1/30"));
        FAIL() << "second add succeeded";
    } catch (const error& e) {
        EXPECT_TRUE(e.exists()) << e.what();
        EXPECT_NE(std::string(e.what()).find("adding address 10.171.1.1/30 to va-0"), std::string::npos);
    }
    EXPECT_THROW(lab.s.add_address("nosuch0", pfx("10.1.1.1/24")), error);
}

TEST(netlink_address, ipv6_is_usable_at_once) {
    veth_lab lab;
    lab.s.add_address("va-0", pfx("fc00::1/64"));
    // No tentative window: the address is bindable right now.
    lab.ns.in([] {
        int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd, 0);
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        inet_pton(AF_INET6, "fc00::1", &sa.sin6_addr);
        int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        int err = errno;
        ::close(fd);
        EXPECT_EQ(rc, 0) << std::strerror(err);
    });
    auto a = find_local(addr_info(lab.ns, "va-0"), "fc00::1");
    ASSERT_FALSE(a.is_null());
    EXPECT_EQ(a["prefixlen"], 64);
    EXPECT_FALSE(a.contains("tentative"));
    EXPECT_TRUE(a.value("nodad", false));

    bool seen = false;
    for (auto& x : lab.s.addresses("va-0")) {
        if (x.local == pfx("fc00::1/64")) {
            seen = true;
            EXPECT_FALSE(x.tentative);
        }
    }
    EXPECT_TRUE(seen);
    EXPECT_TRUE(lab.s.delete_address("va-0", pfx("fc00::1/64")));
    EXPECT_FALSE(lab.s.delete_address("va-0", pfx("fc00::1/64")));
}

TEST(netlink_address, point_to_point_peer) {
    veth_lab lab;
    lab.s.add_address("va-0", pfx("10.171.2.1/32"), addr("10.171.2.2"));
    auto a = find_local(addr_info(lab.ns, "va-0"), "10.171.2.1");
    ASSERT_FALSE(a.is_null());
    EXPECT_EQ(a["address"], "10.171.2.2");
    EXPECT_EQ(a["prefixlen"], 32);
    auto mine = v4_only(lab.s.addresses("va-0"));
    ASSERT_EQ(mine.size(), 1u);
    ASSERT_TRUE(mine[0].peer);
    EXPECT_EQ(*mine[0].peer, addr("10.171.2.2"));
    EXPECT_THROW(lab.s.add_address("va-0", pfx("10.171.3.1/32"), addr("fc00::2")), moat::error);
}

}  // namespace
}  // namespace moat::netlink::test
