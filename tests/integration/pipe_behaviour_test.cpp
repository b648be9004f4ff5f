// spiped's operational behaviour: many connections at once, -n, -o, SIGTERM
// draining, daemonizing with a pidfile, spipe, Unix sockets, keygen.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <future>
#include <gtest/gtest.h>

#include "pipe_harness.hpp"

using namespace pipe_test;

namespace {

std::string loop(int port) { return "127.0.0.1:" + std::to_string(port); }

int connect_nb(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(std::uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    return fd;
}

std::string read_all(int fd) {
    std::string out;
    char buf[65536];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) out.append(buf, std::size_t(r));
    return out;
}

}  // namespace

// All 1000 connections are open at the same time (none is half-closed
// until the target has seen every one of them). They are opened at most 8
// ahead of the target: the listen backlog is spiped's 10, and a burst of
// SYNs beyond that is dropped by the kernel (for spiped just the same).
TEST(PipeBehaviour, ThousandConcurrentConnections) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 65536);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ASSERT_GE(rl.rlim_cur, 4200u) << "needs a higher RLIMIT_NOFILE hard limit";
    temp_dir dir;
    echo_server target;
    std::string key = dir.file("key");
    write_file(key, "k");
    int dport = free_port(), eport = free_port();
    process dec = start_pipe("moat", false, dport, loop(target.port()), key, {"-n", "0"});
    process enc = start_pipe("moat", true, eport, loop(dport), key, {"-n", "0"});
    constexpr int n = 1000;
    std::vector<int> fds;
    std::vector<std::string> sent(n), got(n);
    std::vector<std::size_t> off(n, 0);
    std::vector<bool> eof(n, false), shut(n, false);
    for (int i = 0; i < n; ++i) sent[i] = make_data(3000 + std::size_t(i), unsigned(i));
    int open = n;
    char buf[65536];
    auto end = std::chrono::steady_clock::now() + 90s;
    while (open > 0 && std::chrono::steady_clock::now() < end) {
        while (int(fds.size()) < n && fds.size() < target.connections() + 8) {
            fds.push_back(connect_nb(eport));
        }
        const bool all_in = target.connections() == std::size_t(n);
        int m = int(fds.size());
        std::vector<pollfd> p(m);
        for (int i = 0; i < m; ++i) {
            p[i] = {eof[i] ? -1 : fds[i], short(POLLIN | (off[i] < sent[i].size() ? POLLOUT : 0)), 0};
        }
        poll(p.data(), nfds_t(m), 20);
        for (int i = 0; i < m; ++i) {
            if (p[i].revents & POLLOUT) {
                ssize_t w = send(fds[i], sent[i].data() + off[i], sent[i].size() - off[i], MSG_NOSIGNAL);
                if (w > 0) off[i] += std::size_t(w);
            }
            if (all_in && !shut[i] && off[i] == sent[i].size()) {
                shutdown(fds[i], SHUT_WR);
                shut[i] = true;
            }
            if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = read(fds[i], buf, sizeof buf);
                if (r > 0) {
                    got[i].append(buf, std::size_t(r));
                } else if (r == 0 || errno != EAGAIN) {
                    eof[i] = true;
                    --open;
                }
            }
        }
    }
    int good = 0;
    for (int i = 0; i < int(fds.size()); ++i) {
        good += got[i] == sent[i];
        close(fds[i]);
    }
    EXPECT_EQ(good, n);
    EXPECT_EQ(target.connections(), std::size_t(n));
}

TEST(PipeBehaviour, ConnectionLimitHoldsNewConnectionsBack) {
    temp_dir dir;
    echo_server target;
    std::string key = dir.file("key");
    write_file(key, "k");
    int dport = free_port(), eport = free_port();
    process dec = start_pipe("spiped", false, dport, loop(target.port()), key);
    process enc = start_pipe("moat", true, eport, loop(dport), key, {"-n", "1"});
    int first = connect_nb(eport);
    std::this_thread::sleep_for(300ms);  // first is accepted and piped
    auto second = std::async(std::launch::async, [&] { return roundtrip(eport, "second", 10s); });
    EXPECT_EQ(second.wait_for(700ms), std::future_status::timeout);  // waits in the kernel queue
    EXPECT_EQ(target.connections(), 1u);
    close(first);
    reply r = second.get();
    EXPECT_EQ(r.data, "second");
}

// CPU time (user + system) of a process so far, in seconds (proc(5): fields 14 and 15).
static double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

// The lowest descriptor number a process has free: what its next
// accept4() would get.
static int lowest_free_fd(pid_t pid) {
    std::set<int> used;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
        used.insert(std::stoi(e.path().filename().string()));
    }
    int n = 0;
    while (used.count(n)) ++n;
    return n;
}

// Out of descriptors, accept4() fails with EMFILE and leaves the client
// queued, so the listener stays readable: the pipe must pause accepting
// (as spiped idles) instead of retrying in a loop, and accept again once
// connections close.
TEST(PipeBehaviour, OutOfDescriptorsIdlesAndAcceptsAgainLater) {
    temp_dir dir;
    echo_server target;
    std::string key = dir.file("key");
    write_file(key, "k");
    int dport = free_port(), eport = free_port();
    process dec = start_pipe("spiped", false, dport, loop(target.port()), key);
    process enc = start_pipe("moat", true, eport, loop(dport), key, {"-n", "0"});
    // Three connections through, then the descriptor limit at the lowest
    // free descriptor: the next accept4() fails with EMFILE (with one
    // descriptor left it would accept and drop the client instead).
    std::vector<int> held;
    for (int i = 0; i < 3; ++i) held.push_back(connect_nb(eport));
    for (int i = 0; i < 50 && target.connections() < 3; ++i) std::this_thread::sleep_for(100ms);
    ASSERT_EQ(target.connections(), 3u);
    std::this_thread::sleep_for(200ms);
    rlimit rl{};
    rl.rlim_cur = rl.rlim_max = rlim_t(lowest_free_fd(enc.pid()));
    ASSERT_EQ(prlimit(enc.pid(), RLIMIT_NOFILE, &rl, nullptr), 0);
    for (int i = 0; i < 5; ++i) held.push_back(connect_nb(eport));  // queued: the backlog is 10
    std::this_thread::sleep_for(500ms);
    // Queued, not accepted and dropped: nothing to read, no hang-up.
    for (std::size_t i = 3; i < held.size(); ++i) {
        pollfd p{held[i], POLLIN, 0};
        EXPECT_EQ(poll(&p, 1, 0), 0) << "a queued client was accepted and closed: no EMFILE, the test proves nothing";
    }
    EXPECT_EQ(target.connections(), 3u);
    double before = cpu_seconds(enc.pid());
    std::this_thread::sleep_for(2s);
    double share = (cpu_seconds(enc.pid()) - before) / 2.0;
    std::printf("moat pipe out of descriptors: %.1f%% of one CPU over 2 s\n", share * 100);
    EXPECT_LT(share, 0.05) << "moat pipe spins while out of descriptors";
    for (int fd : held) close(fd);
    // The queued clients (closed by now) are accepted and finished first; a
    // connection accepted while they still hold descriptors may find none for
    // its target and is closed, so a client tries again, as it would.
    reply r;
    auto end = std::chrono::steady_clock::now() + 10s;
    while (r.data != "accepting again" && std::chrono::steady_clock::now() < end) {
        r = roundtrip(eport, "accepting again", 5s);
        if (r.data.empty()) std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(r.data, "accepting again");
}

TEST(PipeBehaviour, HandshakeTimeoutClosesTheConnection) {
    temp_dir dir;
    std::string key = dir.file("key");
    write_file(key, "k");
    // A "peer" that accepts (via the kernel backlog) but never speaks.
    int silent = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(silent, 10);
    socklen_t len = sizeof a;
    getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len);
    int eport = free_port();
    process enc = start_pipe("moat", true, eport, loop(ntohs(a.sin_port)), key, {"-o", "1"});
    auto t0 = std::chrono::steady_clock::now();
    reply r = roundtrip(eport, "hello", 10s);
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_TRUE(r.eof);
    EXPECT_GE(took, 800ms);
    EXPECT_LE(took, 4s);
    close(silent);
}

TEST(PipeBehaviour, SigtermStopsAcceptingAndDrains) {
    temp_dir dir;
    echo_server target;
    std::string key = dir.file("key");
    write_file(key, "k");
    int dport = free_port(), eport = free_port();
    process dec = start_pipe("moat", false, dport, loop(target.port()), key);
    process enc = start_pipe("moat", true, eport, loop(dport), key);
    int fd = connect_nb(eport);
    pollfd p{fd, POLLOUT, 0};
    poll(&p, 1, 2000);
    std::string data = make_data(100000, 3);
    ASSERT_EQ(send(fd, data.data(), 1000, MSG_NOSIGNAL), 1000);
    std::this_thread::sleep_for(200ms);
    enc.signal(SIGTERM);
    std::this_thread::sleep_for(200ms);
    reply refused = roundtrip(eport, "x", 2s);  // the listener is gone
    EXPECT_TRUE(refused.eof);
    EXPECT_EQ(refused.data, "");
    EXPECT_EQ(enc.wait(100ms), -1) << "exited with a connection still open";
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    ASSERT_EQ(send(fd, data.data() + 1000, data.size() - 1000, MSG_NOSIGNAL), ssize_t(data.size() - 1000));
    shutdown(fd, SHUT_WR);
    EXPECT_TRUE(read_all(fd) == data);
    close(fd);
    int st = enc.wait(3s);
    ASSERT_NE(st, -1);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(PipeBehaviour, DaemonizesAndWritesThePidfile) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);  // so the daemon can be reaped here
    temp_dir dir;
    std::string key = dir.file("key"), pidfile = dir.file("pipe.pid");
    write_file(key, "k");
    int eport = free_port();
    process launcher({driver(), "pipe", "-e", "-s", loop(eport), "-t", loop(free_port()), "-k", key, "-p", pidfile});
    int st = launcher.wait(5s);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    std::ifstream in(pidfile);
    pid_t pid = 0;
    in >> pid;
    ASSERT_GT(pid, 0);
    EXPECT_EQ(kill(pid, 0), 0);
    EXPECT_TRUE(wait_listening(eport));
    kill(pid, SIGTERM);
    int wst = 0;
    EXPECT_EQ(waitpid(pid, &wst, 0), pid);
    EXPECT_TRUE(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
}

TEST(PipeBehaviour, UnixSocketsOnBothEnds) {
    temp_dir dir;
    echo_server target;
    std::string key = dir.file("key"), sock = dir.file("d.sock");
    write_file(key, "k");
    process dec({driver(), "pipe", "-d", "-s", sock, "-t", loop(target.port()), "-k", key, "-F"});
    for (int i = 0; i < 200 && access(sock.c_str(), F_OK) != 0; ++i) std::this_thread::sleep_for(10ms);
    int eport = free_port();
    process enc = start_pipe("spiped", true, eport, sock, key);
    std::string data = make_data(70000, 4);
    EXPECT_TRUE(roundtrip(eport, data).data == data);
}

TEST(PipeBehaviour, SpipeInteroperatesBothWays) {
    temp_dir dir;
    echo_server target;
    std::string key = dir.file("key"), in = dir.file("in"), out = dir.file("out");
    write_file(key, "k");
    std::string data = make_data(123456, 5);
    write_file(in, data);
    for (auto [client, server] : {std::pair{"moat", "spiped"}, {"spipe", "moat"}}) {
        int dport = free_port();
        process dec = start_pipe(server, false, dport, loop(target.port()), key);
        std::vector<std::string> argv = std::string(client) == "moat"
            ? std::vector<std::string>{driver(), "spipe", "-t", loop(dport), "-k", key}
            : std::vector<std::string>{"/usr/bin/spipe", "-t", loop(dport), "-k", key};
        // stdin as a pipe (polled) and as a regular file (not pollable).
        for (bool via_pipe : {true, false}) {
            int ofd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            int ifd = open(in.c_str(), O_RDONLY | O_CLOEXEC);
            int pfd[2] = {-1, -1};
            std::thread feeder;
            if (via_pipe) {
                ASSERT_EQ(pipe2(pfd, O_CLOEXEC), 0);
                feeder = std::thread([&, w = pfd[1]] {
                    (void)!write(w, data.data(), data.size());
                    close(w);
                });
            }
            process spipe(argv, via_pipe ? pfd[0] : ifd, ofd);
            if (via_pipe) close(pfd[0]);
            int st = spipe.wait(10s);
            if (feeder.joinable()) feeder.join();
            close(ofd);
            close(ifd);
            EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << client << " pipe=" << via_pipe;
            std::ifstream o(out, std::ios::binary);
            std::string got((std::istreambuf_iterator<char>(o)), {});
            EXPECT_TRUE(got == data) << client << " pipe=" << via_pipe << " got " << got.size();
        }
    }
}

TEST(PipeBehaviour, KeygenMakes0600AndRefusesToOverwrite) {
    temp_dir dir;
    std::string key = dir.file("key");
    mode_t old = umask(0);
    process gen({driver(), "keygen", key});
    int st = gen.wait(5s);
    umask(old);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct stat sb{};
    ASSERT_EQ(stat(key.c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 07777, 0600u);
    EXPECT_EQ(sb.st_size, 32);
    std::ifstream f(key, std::ios::binary);
    std::string first((std::istreambuf_iterator<char>(f)), {});
    process again({driver(), "keygen", key});
    st = again.wait(5s);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    std::ifstream f2(key, std::ios::binary);
    std::string second((std::istreambuf_iterator<char>(f2)), {});
    EXPECT_EQ(first, second);
    // Two keys are different (getrandom, not a fixed seed).
    process other({driver(), "keygen", dir.file("key2")});
    other.wait(5s);
    std::ifstream f3(dir.file("key2"), std::ios::binary);
    std::string third((std::istreambuf_iterator<char>(f3)), {});
    EXPECT_EQ(third.size(), 32u);
    EXPECT_NE(first, third);
}

TEST(PipeBehaviour, DropsPrivilegesAfterBinding) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to change user";
    temp_dir dir;
    std::string key = dir.file("key");
    write_file(key, "k");
    chmod(dir.path.c_str(), 0755);
    chmod(key.c_str(), 0644);
    int eport = free_port();
    process enc = start_pipe("moat", true, eport, loop(free_port()), key, {"-u", "nobody:nogroup"});
    std::this_thread::sleep_for(200ms);  // the switch happens right after listen()
    std::ifstream st("/proc/" + std::to_string(enc.pid()) + "/status");
    std::string line, uid, gid;
    while (std::getline(st, line)) {
        if (line.rfind("Uid:", 0) == 0) uid = line;
        if (line.rfind("Gid:", 0) == 0) gid = line;
    }
    EXPECT_EQ(uid, "Uid:\t65534\t65534\t65534\t65534");
    EXPECT_EQ(gid, "Gid:\t65534\t65534\t65534\t65534");
}

// The real moat binary, through symlinks named spiped and spipe, is those
// programs: their names in messages, their flags, the same wire protocol.
TEST(PipeBehaviour, MoatThroughSymlinksIsSpipedAndSpipe) {
    temp_dir dir;
    std::string spiped = dir.file("spiped"), spipe = dir.file("spipe"), key = dir.file("key");
    ASSERT_EQ(symlink(MOAT_BINARY, spiped.c_str()), 0);
    ASSERT_EQ(symlink(MOAT_BINARY, spipe.c_str()), 0);
    write_file(key, "symlinked");
    auto output_of = [&](const std::string& cmd) {
        process sh({"/bin/sh", "-c", cmd + " >" + dir.file("out") + " 2>&1"});
        EXPECT_NE(sh.wait(5s), -1) << cmd;
        std::ifstream o(dir.file("out"));
        return std::string((std::istreambuf_iterator<char>(o)), {});
    };
    EXPECT_EQ(output_of(spiped + " -v").rfind("spiped (moat ", 0), 0u);
    std::string usage = output_of(spiped + " -x");
    EXPECT_EQ(usage.rfind("spiped: unknown option -x\nusage: spiped {-e | -d}", 0), 0u) << usage;
    usage = output_of(spipe + " -k " + key);
    EXPECT_EQ(usage.rfind("spipe: -t and -k are required\nusage: spipe -t", 0), 0u) << usage;

    // Debian's spiped -e -> symlinked spiped -d -> target, and symlinked
    // spipe -> Debian's spiped -d -> target: data there and back.
    echo_server target;
    int dport = free_port(), eport = free_port();
    process dec({spiped, "-d", "-s", loop(dport), "-t", loop(target.port()), "-k", key, "-F"});
    ASSERT_TRUE(wait_listening(dport));
    process enc = start_pipe("spiped", true, eport, loop(dport), key);
    std::string data = make_data(70000, 9);
    int fd = connect_nb(eport);
    pollfd p{fd, POLLOUT, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    ASSERT_EQ(write(fd, data.data(), data.size()), ssize_t(data.size()));
    shutdown(fd, SHUT_WR);
    EXPECT_TRUE(read_all(fd) == data);
    close(fd);

    int plain = free_port();
    process plain_dec = start_pipe("spiped", false, plain, loop(target.port()), key);
    write_file(dir.file("in"), data);
    std::string got = output_of(spipe + " -t " + loop(plain) + " -k " + key + " <" + dir.file("in"));
    EXPECT_TRUE(got == data) << got.size();
}
