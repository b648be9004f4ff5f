// Namespace handling: open_in() never leaves the calling thread elsewhere,
// sockets stay bound to the namespace they were opened in, sysctls are
// per namespace.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>

#include "netlink/netlink.hpp"
#include "netlink/sysctl.hpp"
#include "netlink_lab.hpp"
#include "sys/error.hpp"

namespace moat::netlink::test {
namespace {

TEST(netlink_netns, open_in_returns_the_thread_to_its_namespace) {
    lab_ns ns;
    auto before = current_netns_inode();
    auto s = socket::open_in(ns.fd());
    EXPECT_EQ(current_netns_inode(), before);

    // The socket acts in the lab namespace though this thread is not there.
    s.create_veth("vn-0", "vn-1");
    EXPECT_TRUE(ns.link("vn-0").is_object());
    EXPECT_EQ(run("ip -j link show vn-0").status, 1);  // not in our own namespace
    EXPECT_EQ(current_netns_inode(), before);
}

TEST(netlink_netns, open_in_failures_leave_the_thread_in_place) {
    auto before = current_netns_inode();
    EXPECT_THROW(socket::open_in(-1), std::system_error);
    EXPECT_EQ(current_netns_inode(), before);
    sys::unique_fd not_a_netns(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    EXPECT_THROW(socket::open_in(not_a_netns.get()), std::system_error);
    EXPECT_EQ(current_netns_inode(), before);
}

TEST(netlink_netns, failure_after_entering_still_returns) {
    lab_ns ns;
    auto before = current_netns_inode();
    // libnl is opened on first use (netlink/libnl.cpp): opened here first,
    // so that what runs out of descriptors below is the socket, not dlopen.
    socket::open();
    // Leave room for exactly one more descriptor: netns_guard uses it to
    // remember where the thread came from, so the netlink socket() inside
    // the lab namespace then fails with EMFILE.
    int lowest = ::dup(0);
    ASSERT_GE(lowest, 0);
    ::close(lowest);
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
    rlimit tight = old;
    tight.rlim_cur = static_cast<rlim_t>(lowest + 1);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
    std::exception_ptr failure;
    try {
        socket::open_in(ns.fd());
    } catch (...) {
        failure = std::current_exception();
    }
    // Restore before looking at anything: UBSan's vptr check itself needs
    // a descriptor (it probes memory through a pipe).
    ::setrlimit(RLIMIT_NOFILE, &old);
    ASSERT_TRUE(failure);
    try {
        std::rethrow_exception(failure);
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("opening rtnetlink socket"), std::string::npos) << e.what();
    }
    EXPECT_EQ(current_netns_inode(), before);
}

TEST(netlink_netns, open_in_a_thread_that_entered_the_namespace) {
    lab_ns ns;
    ns.in([&] {
        auto s = socket::open();
        s.create_bridge("br-open");
    });
    EXPECT_EQ(ns.link("br-open")["linkinfo"]["info_kind"], "bridge");
}

TEST(netlink_netns, sysctl_is_per_namespace) {
    lab_ns ns;
    auto root_before = get_sysctl("net/ipv4/ip_forward");  // read only, never written
    ns.in([] {
        EXPECT_EQ(get_sysctl("net/ipv4/ip_forward"), "0");
        set_sysctl("net/ipv4/ip_forward", "1");
        EXPECT_EQ(get_sysctl("net.ipv4.ip_forward"), "1");
        set_sysctl("net.ipv6.conf.all.forwarding", "1");
        EXPECT_EQ(get_sysctl("net/ipv6/conf/all/forwarding"), "1");
    });
    EXPECT_EQ(must("ip netns exec " + ns.name() + " cat /proc/sys/net/ipv4/ip_forward"), "1\n");
    EXPECT_EQ(must("ip netns exec " + ns.name() + " cat /proc/sys/net/ipv6/conf/all/forwarding"), "1\n");
    EXPECT_EQ(get_sysctl("net/ipv4/ip_forward"), root_before);

    EXPECT_THROW(get_sysctl("../etc/passwd"), moat::error);
    EXPECT_THROW(get_sysctl("/net/ipv4/ip_forward"), moat::error);
    EXPECT_THROW(get_sysctl("net/../../etc/passwd"), moat::error);
    try {
        get_sysctl("net/ipv4/no_such_knob");
        FAIL();
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("reading sysctl net/ipv4/no_such_knob"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace moat::netlink::test
