// Policy routing rules through moat::netlink, checked against `ip -j rule`.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>

#include "netlink/netlink.hpp"
#include "netlink_lab.hpp"
#include "sys/error.hpp"

namespace moat::netlink::test {
namespace {

sys::ip_prefix pfx(const char* s) { return *sys::ip_prefix::parse(s); }

nlohmann::json rule_at(const lab_ns& ns, const std::string& family_flag, int priority) {
    for (auto& r : ns.ip(family_flag + " rule show")) {
        if (r["priority"] == priority) {
            return r;
        }
    }
    return nullptr;
}

std::optional<rule> mine_at(socket& s, int family, std::uint32_t priority) {
    for (auto& r : s.rules(family)) {
        if (r.family == family && r.priority == priority) {
            return r;
        }
    }
    return std::nullopt;
}

TEST(netlink_rule, add_list_delete) {
    lab_ns ns;
    auto s = socket::open_in(ns.fd());
    s.create_veth("vu-0", "vu-1");

    rule from;
    from.priority = 1000;
    from.from = pfx("10.171.0.0/16");
    from.table = 1000;
    s.add_rule(from);

    rule mark;
    mark.family = AF_INET;
    mark.priority = 1001;
    mark.fwmark = 0x1;
    mark.fwmask = 0xff;
    mark.table = 100;
    s.add_rule(mark);

    rule iif;
    iif.family = AF_INET;
    iif.priority = 1002;
    iif.iif = "vu-0";
    iif.action = rule_action::unreachable;
    s.add_rule(iif);

    rule v6;
    v6.priority = 1000;
    v6.from = pfx("fc00:171::/48");
    v6.to = pfx("2001:db8::/32");
    v6.table = 1000;
    s.add_rule(v6);

    auto j = rule_at(ns, "-4", 1000);
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j["src"], "10.171.0.0");
    EXPECT_EQ(j["srclen"], 16);
    EXPECT_EQ(j["table"], "1000");
    j = rule_at(ns, "-4", 1001);
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j["fwmark"], "0x1");
    EXPECT_EQ(j["fwmask"], "0xff");
    EXPECT_EQ(j["table"], "100");
    j = rule_at(ns, "-4", 1002);
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j["iif"], "vu-0");
    EXPECT_EQ(j["action"], "unreachable");
    j = rule_at(ns, "-6", 1000);
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j["src"], "fc00:171::");
    EXPECT_EQ(j["dst"], "2001:db8::");
    EXPECT_EQ(j["dstlen"], 32);

    auto m = mine_at(s, AF_INET, 1000);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->from, pfx("10.171.0.0/16"));
    EXPECT_EQ(m->table, 1000u);
    EXPECT_EQ(m->action, rule_action::to_table);
    EXPECT_FALSE(m->fwmark);
    m = mine_at(s, AF_INET, 1001);
    ASSERT_TRUE(m && m->fwmark);
    EXPECT_EQ(*m->fwmark, 0x1u);
    EXPECT_EQ(m->fwmask, 0xffu);
    EXPECT_EQ(m->str(), "1001: from all fwmark 0x1/0xff lookup 100");
    m = mine_at(s, AF_INET, 1002);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->iif, "vu-0");
    EXPECT_EQ(m->action, rule_action::unreachable);
    m = mine_at(s, AF_INET6, 1000);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->to, pfx("2001:db8::/32"));
    // The kernel's own rules are listed as well.
    EXPECT_TRUE(mine_at(s, AF_INET, 32766));

    for (const rule* r : {&from, &mark, &iif, &v6}) {
        EXPECT_TRUE(s.delete_rule(*r)) << r->str();
        EXPECT_FALSE(s.delete_rule(*r)) << r->str();
    }
    EXPECT_TRUE(rule_at(ns, "-4", 1000).is_null());
    EXPECT_TRUE(rule_at(ns, "-4", 1001).is_null());
    EXPECT_TRUE(rule_at(ns, "-4", 1002).is_null());
    EXPECT_TRUE(rule_at(ns, "-6", 1000).is_null());
    EXPECT_EQ(ns.ip("-4 rule show").size(), 3u);  // local, main, default remain
}

TEST(netlink_rule, duplicate_is_eexist_and_bad_rules_are_refused_before_sending) {
    lab_ns ns;
    auto s = socket::open_in(ns.fd());
    rule r;
    r.priority = 500;
    r.from = pfx("10.171.1.0/24");
    r.table = 100;
    s.add_rule(r);
    try {
        s.add_rule(r);
        FAIL() << "duplicate rule accepted";
    } catch (const error& e) {
        EXPECT_TRUE(e.exists()) << e.what();
        EXPECT_NE(std::string(e.what()).find("adding rule 500: from 10.171.1.0/24 lookup 100"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_FALSE(s.add_rule_if_new(r));  // the same, answered without an exception
    rule other = r;
    other.priority = 501;
    EXPECT_TRUE(s.add_rule_if_new(other));
    EXPECT_TRUE(s.delete_rule(other));
    EXPECT_FALSE(s.delete_rule(other));
    rule no_family;
    no_family.table = 100;
    EXPECT_THROW(s.add_rule(no_family), moat::error);
    EXPECT_THROW(s.add_rule_if_new(no_family), moat::error);
    rule no_table;
    no_table.from = pfx("10.0.0.0/8");
    EXPECT_THROW(s.add_rule(no_table), moat::error);
}

}  // namespace
}  // namespace moat::netlink::test
