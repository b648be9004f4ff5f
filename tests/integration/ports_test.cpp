// Busy host ports (issue 13): `moat up` refuses a forward or a host pipe
// whose port a host socket already holds — exit 2, the entry's
// file:line:col, the socket and its process, and nothing created — and a
// file whose ports are free comes up and stays idempotent while its own
// host pipe listens.
#include "lab.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

using moat::test::lab;
using moat::test::sh;

namespace {

// A socket of this test process made in network namespace `ns` (a socket
// belongs to the namespace it was created in), bound, and listening if TCP:
// a "host service" whose holder is known (this pid).
struct host_socket {
    int fd = -1;
    host_socket(const std::string& ns, int family, int type, const std::string& address, int port, bool v6only = true) {
        std::thread([&] {
            int nsfd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
            if (nsfd < 0 || ::setns(nsfd, CLONE_NEWNET) != 0) return;
            ::close(nsfd);
            fd = ::socket(family, type | SOCK_CLOEXEC, 0);
        }).join();
        int one = 1, v6 = v6only ? 1 : 0;
        sockaddr_storage ss{};
        socklen_t len;
        if (family == AF_INET) {
            auto* a = reinterpret_cast<sockaddr_in*>(&ss);
            a->sin_family = AF_INET;
            a->sin_port = htons(std::uint16_t(port));
            ::inet_pton(AF_INET, address.c_str(), &a->sin_addr);
            len = sizeof *a;
        } else {
            auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(std::uint16_t(port));
            ::inet_pton(AF_INET6, address.c_str(), &a->sin6_addr);
            len = sizeof *a;
            ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6);
        }
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
                  (type != SOCK_STREAM || ::listen(fd, 8) == 0);
        if (!ok) throw std::runtime_error("cannot bind the lab's host socket " + address + ":" + std::to_string(port));
    }
    ~host_socket() { ::close(fd); }
};

std::string container(int tcp_port, int udp_port) {
    return R"(
[containers.web]
privateNetwork = true
hostAddress = "10.171.13.1"
localAddress = "10.171.13.2"
forwardPorts = [
  { hostPort = )" + std::to_string(tcp_port) + R"(, containerPort = 80 },
  { protocol = "udp", hostPort = )" + std::to_string(udp_port) + R"( },
]
)";
}

std::string host_pipe(const std::string& source, const std::string& key) {
    return R"(
[pipes.front]
mode = "encrypt"
source = ")" + source + R"("
target = "127.0.0.1:9"
keyFile = ")" + key + R"("
)";
}

// What a refused `up` must not have made in the lab's host.
std::string residue(lab& l) {
    std::string out;
    if (sh("test -e " + l.state_dir()).code == 0) out += "state dir " + l.state_dir() + "\n";
    auto tables = l.in("nft list tables");
    if (!tables.out.empty()) out += "nft: " + tables.out;
    auto links = l.in("ip -o link show | grep -v ': lo:'");
    if (!links.out.empty()) out += "links: " + links.out;
    return out;
}

std::string pid_text() { return "(pid " + std::to_string(::getpid()) + " "; }

}  // namespace

TEST(BusyPorts, ForwardOnABusyPortIsRefusedBeforeAnythingIsMade) {
    lab l;
    host_socket tcp(l.host_ns(), AF_INET, SOCK_STREAM, "0.0.0.0", 7070);
    host_socket udp(l.host_ns(), AF_INET, SOCK_DGRAM, "0.0.0.0", 5353);
    auto r = l.moat("up -f " + l.write("moat.toml", container(7070, 5354)));
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("moat.toml:7:5: error: container 'web': forwardPorts tcp 7070: port already in use on the host: "
                         "tcp 0.0.0.0:7070 " + pid_text()), std::string::npos) << r.err;
    EXPECT_EQ(residue(l), "");
    // UDP: a bound, unconnected socket holds the port.
    r = l.moat("up -f " + l.write("moat.toml", container(7071, 5353)));
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("moat.toml:8:23: error: container 'web': forwardPorts udp 5353: port already in use on the host: "
                         "udp 0.0.0.0:5353 " + pid_text()), std::string::npos) << r.err;
    EXPECT_EQ(residue(l), "");
}

TEST(BusyPorts, AddressesAndFamiliesDecide) {
    lab l;
    // 127.0.0.1:7070 is shadowed too: the forward's DNAT covers every local address.
    host_socket loopback(l.host_ns(), AF_INET, SOCK_STREAM, "127.0.0.1", 7070);
    // [::]:7071 without IPV6_V6ONLY takes IPv4 as well; with it, not.
    host_socket dual(l.host_ns(), AF_INET6, SOCK_STREAM, "::", 7071, false);
    host_socket v6(l.host_ns(), AF_INET6, SOCK_STREAM, "::", 7072, true);
    auto r = l.moat("up -f " + l.write("moat.toml", container(7070, 5354)));
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("tcp 127.0.0.1:7070 " + pid_text()), std::string::npos) << r.err;
    r = l.moat("up -f " + l.write("moat.toml", container(7071, 5354)));
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("tcp [::]:7071 " + pid_text()), std::string::npos) << r.err;
    EXPECT_EQ(residue(l), "");
    // Positive control: the container has no IPv6, so an IPv6-only socket
    // on its port is no conflict.
    r = l.moat("up -f " + l.write("moat.toml", container(7072, 5354)));
    EXPECT_EQ(r.code, 0) << r.out << r.err;
}

TEST(BusyPorts, HostPipeOnABusyPortIsRefused) {
    lab l;
    std::string key = l.dir() + "/pipe.key";
    ASSERT_EQ(l.moat("keygen " + key).code, 0);
    host_socket tcp(l.host_ns(), AF_INET, SOCK_STREAM, "0.0.0.0", 7070);
    // A specific address meets the wildcard listener.
    auto r = l.moat("up -f " + l.write("moat.toml", host_pipe("127.0.0.1:7070", key)));
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("moat.toml:4:1: error: pipe 'front': source 127.0.0.1:7070: port already in use on the host: "
                         "tcp 0.0.0.0:7070 " + pid_text()), std::string::npos) << r.err;
    EXPECT_EQ(residue(l), "");
    // A forward and a host pipe of one file on one port: refused by the file alone.
    r = l.moat("up -f " + l.write("moat.toml", container(7075, 5354) + host_pipe("127.0.0.1:7075", key)));
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("pipe 'front': source 127.0.0.1:7075: port already in use on the host: container 'web': "
                         "forwardPorts tcp 7075 at line 7"), std::string::npos) << r.err;
    EXPECT_EQ(residue(l), "");
}

// Positive control: free ports come up, and a second `up` is "unchanged"
// although moat's own host pipe now holds its port.
TEST(BusyPorts, FreePortsComeUpAndStayIdempotent) {
    lab l;
    std::string key = l.dir() + "/pipe.key";
    ASSERT_EQ(l.moat("keygen " + key).code, 0);
    host_socket tcp(l.host_ns(), AF_INET, SOCK_STREAM, "0.0.0.0", 7070);
    host_socket udp(l.host_ns(), AF_INET, SOCK_DGRAM, "0.0.0.0", 5353);
    std::string file = l.write("moat.toml", container(7080, 5354) + host_pipe("127.0.0.1:7081", key));
    auto r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    bool listening = false;
    for (int i = 0; i < 50 && !listening; ++i) {
        listening = l.in("ss -ltnH 'sport = :7081'").out.find("127.0.0.1:7081") != std::string::npos;
        if (!listening) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(listening) << l.moat("logs _pipes").out;
    r = l.moat("up -f " + file);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("web"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("created"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("recreated"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("no changes"), std::string::npos) << r.out;
    // `moat plan` of the same file says the same: nothing is busy.
    EXPECT_EQ(l.moat("plan -f " + file).code, 0);
}
