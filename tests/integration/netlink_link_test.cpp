// Links through moat::netlink, checked against `ip -j` in throw-away namespaces.
#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>

#include "netlink/netlink.hpp"
#include "netlink/owner.hpp"
#include "netlink/watch.hpp"
#include "netlink_lab.hpp"
#include "sys/error.hpp"

namespace moat::netlink::test {
namespace {

std::optional<link_info> find(const std::vector<link_info>& links, const std::string& name) {
    auto it = std::find_if(links.begin(), links.end(), [&](const link_info& l) { return l.name == name; });
    return it == links.end() ? std::nullopt : std::optional<link_info>(*it);
}

TEST(netlink_link, veth_peer_created_directly_in_other_netns_as_eth0) {
    lab_ns host, container;
    auto hs = socket::open_in(host.fd());
    // An eth0 already exists on the host side: names are per namespace, so
    // the container's eth0 can still be created directly.
    hs.create_veth("eth0", "peer0");
    hs.create_veth("ve-webapp", "eth0", container.fd());

    auto h = host.link("ve-webapp");
    ASSERT_FALSE(h.is_null());
    EXPECT_EQ(h["linkinfo"]["info_kind"], "veth");
    auto c = container.link("eth0");
    ASSERT_FALSE(c.is_null());
    EXPECT_EQ(c["linkinfo"]["info_kind"], "veth");
    EXPECT_TRUE(host.link("peer0").is_object());
    EXPECT_TRUE(container.link("peer0").is_null());
    EXPECT_EQ(container.ip("link show").size(), 2u);  // lo and eth0, nothing else

    auto cs = socket::open_in(container.fd());
    auto mine = find(cs.links(), "eth0");
    ASSERT_TRUE(mine);
    EXPECT_EQ(mine->kind, "veth");
    EXPECT_EQ(mine->index, c["ifindex"].get<int>());
    EXPECT_FALSE(mine->up);
}

TEST(netlink_link, veth_born_down_as_a_bridge_port_with_a_chosen_peer_mac) {
    lab_ns host, container;
    auto hs = socket::open_in(host.fd());
    hs.create_bridge("br-t", mac_address{0x02, 0x11, 0x22, 0x33, 0x44, 0x55});
    hs.create_veth("ve-t", "eth0", {container.fd(), "br-t", mac_address{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}});
    auto h = host.link("ve-t");
    ASSERT_FALSE(h.is_null());
    EXPECT_FALSE(has_flag(h, "UP"));  // marked by its caller first (container/network.cpp)
    EXPECT_EQ(h["master"], "br-t");
    auto c = container.link("eth0");
    ASSERT_FALSE(c.is_null());
    EXPECT_FALSE(has_flag(c, "UP"));  // the peer cannot be opened before the pair is joined
    EXPECT_EQ(c["address"], "02:aa:bb:cc:dd:ee");
    EXPECT_EQ(host.link("br-t")["address"], "02:11:22:33:44:55");
    // A bridge of that name again, or a port of a missing bridge: refused.
    EXPECT_THROW(hs.create_bridge("br-t"), error);
    EXPECT_THROW(hs.create_veth("ve-u", "eth1", {container.fd(), "br-missing", std::nullopt}), std::exception);
}

TEST(netlink_link, temporary_peer_name_renamed_to_eth0_inside) {
    lab_ns host, container;
    auto hs = socket::open_in(host.fd());
    auto cs = socket::open_in(container.fd());
    hs.create_veth("ve-a", "vt-a1b2c3", container.fd());
    cs.rename_link("vt-a1b2c3", "eth0");
    cs.set_up("eth0");
    hs.set_up("ve-a");
    EXPECT_TRUE(container.link("vt-a1b2c3").is_null());
    auto c = container.link("eth0");
    ASSERT_FALSE(c.is_null());
    EXPECT_TRUE(has_flag(c, "UP"));
    EXPECT_TRUE(has_flag(host.link("ve-a"), "UP"));
    ASSERT_TRUE(cs.link("eth0"));
    EXPECT_TRUE(cs.link("eth0")->up);
}

TEST(netlink_link, set_up_and_down_loopback) {
    lab_ns ns;
    auto s = socket::open_in(ns.fd());
    EXPECT_FALSE(has_flag(ns.link("lo"), "UP"));
    s.set_up("lo");
    EXPECT_TRUE(has_flag(ns.link("lo"), "UP"));
    EXPECT_TRUE(s.link("lo")->up);
    s.set_down("lo");
    EXPECT_FALSE(has_flag(ns.link("lo"), "UP"));
}

TEST(netlink_link, link_index_by_name) {
    lab_ns ns;
    auto s = socket::open_in(ns.fd());
    EXPECT_EQ(s.link_index("lo"), 1);
    EXPECT_EQ(s.link_index("nosuch0"), std::nullopt);
    s.create_veth("vx-1", "vx-2");
    EXPECT_EQ(s.link_index("vx-1"), ns.link("vx-1")["ifindex"].get<int>());
    EXPECT_EQ(s.link_index("vx-2"), ns.link("vx-2")["ifindex"].get<int>());
}

TEST(netlink_link, delete_is_idempotent_and_takes_the_peer_along) {
    lab_ns host, container;
    auto s = socket::open_in(host.fd());
    s.create_veth("ve-del", "eth0", container.fd());
    ASSERT_TRUE(container.link("eth0").is_object());
    EXPECT_TRUE(s.delete_link("ve-del"));
    EXPECT_TRUE(host.link("ve-del").is_null());
    EXPECT_TRUE(container.link("eth0").is_null());
    EXPECT_FALSE(s.delete_link("ve-del"));
}

// Issue 17: many veths deleted in one request through a device group; only
// this instance's, the rest as delete_link_if_owned() treats them.
TEST(netlink_link, links_deleted_together_only_if_owned) {
    lab_ns host, c1, c2, c3, c4;
    auto s = socket::open_in(host.fd());
    const std::string me = "0123456789ab", other = "ba9876543210";
    s.create_veth("ve-a", "eth0", c1.fd());
    s.create_veth("ve-b", "eth0", c2.fd());
    s.create_veth("ve-other", "eth0", c3.fd());
    s.create_veth("ve-bystander", "eth0", c4.fd());  // ours too, but not asked for
    s.create_veth("ve-unmarked", "peer-unmarked");
    for (const char* n : {"ve-a", "ve-b", "ve-bystander"}) {
        s.set_alias(n, owner_alias(me, std::string("container ") + n));
    }
    s.set_alias("ve-other", owner_alias(other, "container x"));
    auto r = s.delete_links_if_owned({"ve-a", "ve-other", "ve-gone", "ve-b", "ve-unmarked"}, me, false);
    ASSERT_EQ(r.size(), 5u);
    EXPECT_EQ(r[0].what, owned_deletion::result::deleted);
    EXPECT_EQ(r[1].what, owned_deletion::result::kept);
    EXPECT_NE(r[1].reason.find(other), std::string::npos) << r[1].reason;
    EXPECT_EQ(r[2].what, owned_deletion::result::absent);
    EXPECT_EQ(r[3].what, owned_deletion::result::deleted);
    EXPECT_EQ(r[4].what, owned_deletion::result::kept);  // no mark, legacy = false
    EXPECT_TRUE(host.link("ve-a").is_null());
    EXPECT_TRUE(host.link("ve-b").is_null());
    EXPECT_TRUE(c1.link("eth0").is_null());  // the peers went with them
    EXPECT_TRUE(c2.link("eth0").is_null());
    EXPECT_TRUE(host.link("ve-other").is_object());
    EXPECT_TRUE(host.link("ve-unmarked").is_object());
    auto bystander = host.link("ve-bystander");
    ASSERT_TRUE(bystander.is_object());
    EXPECT_TRUE(c4.link("eth0").is_object());
    // The group was theirs alone: the bystander stayed in the default one.
    EXPECT_EQ(bystander.value("group", std::string("default")), "default") << bystander;
    // Nothing left to do: all absent or kept, no request fails.
    r = s.delete_links_if_owned({"ve-a", "ve-b"}, me);
    EXPECT_EQ(r[0].what, owned_deletion::result::absent);
    EXPECT_EQ(r[1].what, owned_deletion::result::absent);
}

TEST(netlink_link, eexist_is_reported_and_distinguishable) {
    lab_ns ns;
    auto s = socket::open_in(ns.fd());
    s.create_veth("ve-webapp", "ve-peer");
    try {
        s.create_veth("ve-webapp", "ve-peer2");
        FAIL() << "second create succeeded";
    } catch (const error& e) {
        EXPECT_TRUE(e.exists());
        EXPECT_EQ(e.code().value(), EEXIST);
        EXPECT_NE(std::string(e.what()).find("creating veth ve-webapp"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("File exists"), std::string::npos) << e.what();
    }
    // The CLI's context chaining keeps the errno.
    try {
        try {
            s.create_bridge("ve-webapp");
        } catch (...) {
            add_context("starting container webapp");
        }
        FAIL() << "bridge with a taken name was created";
    } catch (const moat::error& e) {
        EXPECT_EQ(e.code(), EEXIST);
        EXPECT_EQ(std::string(e.what()).rfind("starting container webapp: creating bridge ve-webapp: ", 0), 0u)
            << e.what();
    }
}

TEST(netlink_link, names_longer_than_15_bytes_are_refused_before_sending) {
    lab_ns ns;
    auto s = socket::open_in(ns.fd());
    EXPECT_THROW(s.create_veth("0123456789abcdef", "p0"), moat::error);
    EXPECT_THROW(s.create_veth("p0", "0123456789abcdef"), moat::error);
    EXPECT_THROW(s.create_bridge("0123456789abcdef"), moat::error);
    EXPECT_THROW(s.create_veth("", "p0"), moat::error);
    EXPECT_THROW(s.create_veth("a/b", "p0"), moat::error);
    EXPECT_THROW(s.set_up("0123456789abcdef"), moat::error);
    EXPECT_EQ(ns.ip("link show").size(), 1u);  // nothing was created
    s.create_veth("0123456789abcde", "p0");     // exactly 15 is fine
    EXPECT_TRUE(ns.link("0123456789abcde").is_object());
}

TEST(netlink_link, missing_link_errors_name_it) {
    lab_ns ns;
    auto s = socket::open_in(ns.fd());
    try {
        s.set_up("nosuch0");
        FAIL();
    } catch (const error& e) {
        EXPECT_TRUE(e.not_found()) << e.what();
        EXPECT_NE(std::string(e.what()).find("setting nosuch0 up"), std::string::npos) << e.what();
    }
}

TEST(netlink_link, bridge_and_master) {
    lab_ns ns;
    auto s = socket::open_in(ns.fd());
    s.create_bridge("br-lab");
    s.create_veth("vb-1", "vb-1p");
    s.set_master("vb-1", "br-lab");
    s.set_up("br-lab");

    auto br = ns.link("br-lab");
    EXPECT_EQ(br["linkinfo"]["info_kind"], "bridge");
    EXPECT_EQ(ns.link("vb-1")["master"], "br-lab");
    auto links = s.links();
    auto mbr = find(links, "br-lab");
    auto mvb = find(links, "vb-1");
    ASSERT_TRUE(mbr && mvb);
    EXPECT_EQ(mbr->kind, "bridge");
    EXPECT_TRUE(mbr->up);
    EXPECT_EQ(mvb->master, mbr->index);

    s.clear_master("vb-1");
    EXPECT_FALSE(ns.link("vb-1").contains("master"));
    EXPECT_EQ(s.link("vb-1")->master, 0);
    EXPECT_THROW(s.set_master("vb-1", "nosuch-br"), error);
}

TEST(netlink_link, mtu_and_move_between_namespaces) {
    lab_ns a, b;
    auto s = socket::open_in(a.fd());
    s.create_veth("vm-1", "vm-2");
    s.set_mtu("vm-1", 1400);
    EXPECT_EQ(a.link("vm-1")["mtu"], 1400);
    EXPECT_EQ(s.link("vm-1")->mtu, 1400u);
    s.move_link("vm-2", b.fd());
    EXPECT_TRUE(a.link("vm-2").is_null());
    EXPECT_TRUE(b.link("vm-2").is_object());
}

// The watch wakes for links and addresses of its own namespace only, and
// drain() leaves it quiet until the next change.
TEST(netlink_link, change_watch_wakes_for_its_namespace_only) {
    lab_ns host, other;
    change_watch watch(host.fd());
    auto readable = [&](int ms) {
        pollfd p{watch.fd(), POLLIN, 0};
        return ::poll(&p, 1, ms) == 1;
    };
    EXPECT_FALSE(readable(0));
    EXPECT_FALSE(watch.drain());

    auto os = socket::open_in(other.fd());
    os.create_bridge("br-elsewhere");
    os.add_address("br-elsewhere", *sys::ip_prefix::parse("192.0.2.1/24"));
    EXPECT_FALSE(readable(200)) << "a change in another namespace woke the watch";

    auto hs = socket::open_in(host.fd());
    hs.create_bridge("br-here");
    EXPECT_TRUE(readable(2000)) << "a new link did not wake the watch";
    EXPECT_TRUE(watch.drain());
    EXPECT_FALSE(readable(0));
    hs.add_address("br-here", *sys::ip_prefix::parse("192.0.2.1/24"));
    EXPECT_TRUE(readable(2000)) << "a new address did not wake the watch";
    EXPECT_TRUE(watch.drain());
    hs.set_up("br-here");
    EXPECT_TRUE(readable(2000)) << "a link going up did not wake the watch";
    EXPECT_TRUE(watch.drain());
    EXPECT_FALSE(watch.drain());
}

}  // namespace
}  // namespace moat::netlink::test
