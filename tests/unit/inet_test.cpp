#include "sys/inet.hpp"

#include <gtest/gtest.h>

using moat::sys::ip_address;
using moat::sys::ip_prefix;

TEST(Inet, ParsesStrictly) {
    EXPECT_TRUE(ip_address::parse("10.171.1.2"));
    EXPECT_TRUE(ip_address::parse("fc00::1"));
    for (const char* bad : {"10.1", "10.0.0.256", "010.0.0.1", "1.2.3.4.5", "", "::g", "10.0.0.1 ", "a.b.c.d"}) {
        EXPECT_FALSE(ip_address::parse(bad)) << bad;
    }
}

TEST(Inet, PrefixesAndContainment) {
    auto p = ip_prefix::parse("10.172.0.7/24");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->str(), "10.172.0.7/24");
    EXPECT_EQ(p->network().str(), "10.172.0.0/24");
    EXPECT_TRUE(p->contains(*ip_address::parse("10.172.0.200")));
    EXPECT_FALSE(p->contains(*ip_address::parse("10.172.1.1")));
    EXPECT_FALSE(p->contains(*ip_address::parse("fc00::1")));
    EXPECT_EQ(ip_prefix::parse("10.0.0.1")->length, 32);
    EXPECT_EQ(ip_prefix::parse("fc00::1")->length, 128);
    for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/2x", "fc00::/129"}) {
        EXPECT_FALSE(ip_prefix::parse(bad)) << bad;
    }
    EXPECT_TRUE(ip_prefix::parse("10.0.0.0/8")->overlaps(*ip_prefix::parse("10.1.0.0/16")));
    EXPECT_FALSE(ip_prefix::parse("10.0.0.0/24")->overlaps(*ip_prefix::parse("10.0.1.0/24")));
}

TEST(Inet, NthAddress) {
    auto net = *ip_prefix::parse("169.254.172.0/22");
    EXPECT_EQ(moat::sys::nth_address(net, 1)->str(), "169.254.172.1");
    EXPECT_EQ(moat::sys::nth_address(net, 4 * 255 + 2)->str(), "169.254.175.254");
    EXPECT_FALSE(moat::sys::nth_address(net, 1024));
    EXPECT_EQ(moat::sys::nth_address(*ip_prefix::parse("fc00::/64"), 258)->str(), "fc00::102");
}
