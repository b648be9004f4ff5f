// Routes through moat::netlink, checked against `ip -j route`.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>

#include "netlink/netlink.hpp"
#include "netlink_lab.hpp"
#include "sys/error.hpp"

namespace moat::netlink::test {
namespace {

sys::ip_prefix pfx(const char* s) { return *sys::ip_prefix::parse(s); }
sys::ip_address addr(const char* s) { return *sys::ip_address::parse(s); }

struct route_lab {
    lab_ns ns;
    socket s = socket::open_in(ns.fd());
    route_lab() {
        s.create_veth("vr-0", "vr-1");
        s.set_up("vr-0");
        s.set_up("vr-1");
        s.add_address("vr-0", pfx("10.171.5.1/24"));
        s.add_address("vr-0", pfx("fc00:5::1/64"));
    }
};

bool contains(const std::vector<route>& rs, const std::function<bool(const route&)>& pred) {
    return std::any_of(rs.begin(), rs.end(), pred);
}

// default_route_device(): the device of the main table's first unicast
// default route, named in the socket's own namespace (the lab's, not this
// process's); an unreachable default, one in another table and a more
// specific route do not count.
TEST(netlink_route, default_route_device_names_the_first_unicast_default) {
    route_lab lab;
    EXPECT_EQ(lab.s.default_route_device(table_main, AF_INET), "");
    route other;
    other.family = AF_INET;
    other.dev = "vr-0";
    other.table = 1000;
    lab.s.add_route(other);
    route unreachable;
    unreachable.family = AF_INET;
    unreachable.type = route_type::unreachable;
    unreachable.metric = 10;
    lab.s.add_route(unreachable);
    route specific;
    specific.destination = pfx("10.171.6.0/24");
    specific.dev = "vr-1";
    lab.s.add_route(specific);
    EXPECT_EQ(lab.s.default_route_device(table_main, AF_INET), "");
    route r;
    r.gateway = addr("10.171.5.254");
    r.dev = "vr-0";
    r.metric = 20;
    lab.s.add_route(r);
    EXPECT_EQ(lab.s.default_route_device(table_main, AF_INET), "vr-0");
    EXPECT_EQ(lab.s.default_route_device(table_main, AF_INET6), "");
    EXPECT_EQ(lab.s.default_route_device(1000, AF_INET), "vr-0");
}

TEST(netlink_route, default_via_gateway) {
    route_lab lab;
    route r;
    r.gateway = addr("10.171.5.254");
    r.dev = "vr-0";
    lab.s.add_route(r);

    auto ip = lab.ns.ip("route show default");
    ASSERT_EQ(ip.size(), 1u);
    EXPECT_EQ(ip[0]["gateway"], "10.171.5.254");
    EXPECT_EQ(ip[0]["dev"], "vr-0");
    EXPECT_EQ(ip[0]["protocol"], "static");

    auto mine = lab.s.routes(table_main, AF_INET);
    EXPECT_TRUE(contains(mine, [](const route& x) {
        return !x.destination && x.gateway == addr("10.171.5.254") && x.dev == "vr-0" &&
               x.type == route_type::unicast && x.table == table_main;
    }));
    // The kernel's own connected route is listed too, with its device.
    EXPECT_TRUE(contains(mine, [](const route& x) {
        return x.destination == pfx("10.171.5.0/24") && x.dev == "vr-0" && !x.gateway;
    }));

    EXPECT_TRUE(lab.s.delete_route(r));
    EXPECT_EQ(lab.ns.ip("route show default").size(), 0u);
    EXPECT_FALSE(lab.s.delete_route(r));
}

TEST(netlink_route, gateway_without_dev_and_ipv6_default) {
    route_lab lab;
    route v4;
    v4.destination = pfx("198.51.100.0/24");
    v4.gateway = addr("10.171.5.2");
    lab.s.add_route(v4);
    auto ip = lab.ns.ip("route show 198.51.100.0/24");
    ASSERT_EQ(ip.size(), 1u);
    EXPECT_EQ(ip[0]["dev"], "vr-0");  // resolved by the kernel from the gateway

    route v6;
    v6.gateway = addr("fc00:5::2");
    v6.dev = "vr-0";
    lab.s.add_route(v6);
    auto ip6 = lab.ns.ip("-6 route show default");
    ASSERT_EQ(ip6.size(), 1u);
    EXPECT_EQ(ip6[0]["gateway"], "fc00:5::2");
    EXPECT_TRUE(contains(lab.s.routes(table_main, AF_INET6), [](const route& x) {
        return !x.destination && x.gateway == addr("fc00:5::2") && x.family == AF_INET6;
    }));
    EXPECT_TRUE(lab.s.delete_route(v6));
    EXPECT_FALSE(lab.s.delete_route(v6));
}

TEST(netlink_route, unreachable_in_custom_table_with_metric) {
    route_lab lab;
    for (int family : {AF_INET, AF_INET6}) {
        route r;
        r.family = family;
        r.type = route_type::unreachable;
        r.table = 1000;
        r.metric = 50;
        lab.s.add_route(r);
    }
    auto ip = lab.ns.ip("route show table 1000");
    ASSERT_EQ(ip.size(), 1u);
    EXPECT_EQ(ip[0]["type"], "unreachable");
    EXPECT_EQ(ip[0]["dst"], "default");
    EXPECT_EQ(ip[0]["metric"], 50);
    auto ip6 = lab.ns.ip("-6 route show table 1000");
    ASSERT_EQ(ip6.size(), 1u);
    EXPECT_EQ(ip6[0]["type"], "unreachable");
    EXPECT_EQ(ip6[0]["metric"], 50);

    auto mine = lab.s.routes(1000, AF_UNSPEC);
    EXPECT_EQ(mine.size(), 2u);
    for (auto& x : mine) {
        EXPECT_EQ(x.type, route_type::unreachable);
        EXPECT_EQ(x.metric, 50u);
        EXPECT_EQ(x.table, 1000u);
        EXPECT_FALSE(x.destination);
        // A listed route deletes as it is.
        EXPECT_TRUE(lab.s.delete_route(x));
        EXPECT_FALSE(lab.s.delete_route(x));
    }
    EXPECT_EQ(lab.ns.ip("route show table 1000").size(), 0u);
    EXPECT_EQ(lab.ns.ip("-6 route show table 1000").size(), 0u);
}

TEST(netlink_route, eexist_replace_and_kernel_explanations) {
    route_lab lab;
    route r;
    r.destination = pfx("203.0.113.0/24");
    r.gateway = addr("10.171.5.254");
    lab.s.add_route(r);
    try {
        lab.s.add_route(r);
        FAIL() << "second add succeeded";
    } catch (const error& e) {
        EXPECT_TRUE(e.exists()) << e.what();
        EXPECT_NE(std::string(e.what()).find("adding route 203.0.113.0/24 via 10.171.5.254"),
                  std::string::npos)
            << e.what();
    }
    r.gateway = addr("10.171.5.253");
    lab.s.replace_route(r);
    auto ip = lab.ns.ip("route show 203.0.113.0/24");
    ASSERT_EQ(ip.size(), 1u);
    EXPECT_EQ(ip[0]["gateway"], "10.171.5.253");

    route off_link;
    off_link.gateway = addr("192.0.2.1");  // no connected route to it
    try {
        lab.s.add_route(off_link);
        FAIL() << "route via an unreachable gateway was accepted";
    } catch (const error& e) {
        EXPECT_EQ(e.code().value(), ENETUNREACH) << e.what();
        EXPECT_NE(std::string(e.what()).find("(kernel: "), std::string::npos) << e.what();
    }
}

// add_route_if_new answers "already there" with false, not an exception;
// any other refusal still throws.
TEST(netlink_route, add_if_new_is_false_for_an_identical_route_and_throws_otherwise) {
    route_lab lab;
    route r;
    r.destination = pfx("203.0.113.0/24");
    r.gateway = addr("10.171.5.254");
    EXPECT_TRUE(lab.s.add_route_if_new(r));
    EXPECT_FALSE(lab.s.add_route_if_new(r));
    EXPECT_EQ(lab.ns.ip("route show 203.0.113.0/24").size(), 1u);
    route off_link;
    off_link.gateway = addr("192.0.2.1");
    try {
        lab.s.add_route_if_new(off_link);
        FAIL() << "route via an unreachable gateway was accepted";
    } catch (const error& e) {
        EXPECT_EQ(e.code().value(), ENETUNREACH) << e.what();
    }
    // Not found is not "exists": deleting twice is false the second time.
    EXPECT_TRUE(lab.s.delete_route(r));
    EXPECT_FALSE(lab.s.delete_route(r));
}

TEST(netlink_route, bad_input_is_refused_before_sending) {
    route_lab lab;
    route none;  // no family, no destination, no gateway
    none.type = route_type::unreachable;
    EXPECT_THROW(lab.s.add_route(none), moat::error);
    route mixed;
    mixed.destination = pfx("10.0.0.0/8");
    mixed.gateway = addr("fc00:5::2");
    EXPECT_THROW(lab.s.add_route(mixed), moat::error);
    route missing_dev;
    missing_dev.destination = pfx("10.0.0.0/8");
    missing_dev.dev = "nosuch0";
    EXPECT_THROW(lab.s.add_route(missing_dev), error);
    EXPECT_FALSE(lab.s.delete_route(missing_dev));
}

TEST(netlink_route, host_bits_are_cleared) {
    route_lab lab;
    route r;
    r.destination = pfx("10.200.1.7/16");
    r.dev = "vr-0";
    lab.s.add_route(r);
    EXPECT_EQ(lab.ns.ip("route show 10.200.0.0/16").size(), 1u);
    EXPECT_EQ(r.str(), "10.200.0.0/16 dev vr-0 table 254 metric 0");
    EXPECT_TRUE(lab.s.delete_route(r));
}

}  // namespace
}  // namespace moat::netlink::test
