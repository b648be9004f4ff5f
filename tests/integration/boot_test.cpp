// Issue 15, "Boot": the systemd unit's own ExecStart=/ExecStopPost= lines
// (read from dist/systemd/moat@.service.in, %i and the install's paths
// substituted) run in a lab namespace as systemd would run them: in a cgroup
// of their own that stands for the unit's delegated one (this machine's PID 1
// is not systemd), with a NOTIFY_SOCKET the test listens on and the unit's
// Environment=. Readiness, restart of a killed init, the process titles, a
// clean stop on SIGTERM, recovery after kill -9 (ExecStopPost, gc), and
// `check --watch` as a watchdog.
#include "lab.hpp"
#include "residue.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

using moat::test::lab;
using moat::test::pid_of;
using moat::test::residue;
using moat::test::sh;
using moat::test::snapshot;

namespace {

const char* config = R"(
[containers.svc]
privateNetwork = true
hostAddress = "10.171.40.1"
localAddress = "10.171.40.2"
[containers.svc.services.idle]
exec = ["/bin/sleep", "100000"]
)";

std::string read_all(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
}

// The unit's lines as systemd would run them for instance `instance`, with
// the build's moat and the lab's directory for @MOAT_CONFDIR@.
struct unit_lines {
    std::vector<std::string> exec_start, exec_stop_post;
    std::vector<std::string> environment;
};

std::vector<std::string> words(std::string line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string w; in >> w;) {
        out.push_back(w);
    }
    return out;
}

unit_lines read_unit(const lab& l, const std::string& instance) {
    std::string text = read_all(moat::test::source_dir() + "/dist/systemd/moat@.service.in");
    replace_all(text, "@MOAT_BINDIR@/moat", moat::test::moat_binary());
    replace_all(text, "@MOAT_CONFDIR@", l.dir());
    replace_all(text, "%i", instance);
    unit_lines u;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("ExecStart=", 0) == 0) u.exec_start = words(line.substr(10));
        if (line.rfind("ExecStopPost=", 0) == 0) u.exec_stop_post = words(line.substr(13));
        if (line.rfind("Environment=", 0) == 0) u.environment.push_back(line.substr(12));
    }
    return u;
}

std::string cgroup2_mount() {
    auto r = sh("findmnt -n -t cgroup2 -o TARGET | head -n1");
    return r.out.substr(0, r.out.find('\n'));
}

// What systemd does for the unit, minus systemd: a cgroup for it, the
// notify socket, the environment, the lab's network namespace.
class fake_unit {
public:
    fake_unit(lab& l, const std::string& instance) : _lab(l), _unit(read_unit(l, instance)) {
        _cgroup = cgroup2_mount() + "/mt-boot-" + l.id();
        if (::mkdir(_cgroup.c_str(), 0755) != 0) throw std::runtime_error("mkdir " + _cgroup);
        _socket_path = l.dir() + "/notify";
        _socket = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", _socket_path.c_str());
        if (::bind(_socket, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
    }
    ~fake_unit() {
        if (_pid > 0) {
            ::kill(_pid, SIGKILL);
            ::waitpid(_pid, nullptr, 0);
        }
        ::close(_socket);
        // As systemd stops a unit (KillMode=mixed once the main process is
        // gone): SIGKILL to all of its cgroup (cgroup.kill takes the whole
        // subtree), ExecStopPost=, then the cgroup tree goes. Whatever a
        // failed test left in the unit's cgroup goes with it.
        sh("echo 1 > " + _cgroup + "/cgroup.kill; sleep 0.2");
        stop_post();
        sh("find " + _cgroup + " -depth -type d -exec rmdir {} + 2>/dev/null");
    }

    const unit_lines& unit() const { return _unit; }
    const std::string& cgroup() const { return _cgroup; }
    pid_t pid() const { return _pid; }
    std::string log() const { return read_all(_lab.dir() + "/unit.log"); }

    void start() { _pid = spawn(_unit.exec_start); }
    // ExecStopPost=, run to its end; its exit code.
    int stop_post() {
        pid_t p = spawn(_unit.exec_stop_post);
        int st = 0;
        ::waitpid(p, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    // Waits for the main process; its exit code, or -1 on timeout.
    int wait_exit(std::chrono::seconds limit) {
        if (_exited) return WIFEXITED(_status) ? WEXITSTATUS(_status) : 128 + WTERMSIG(_status);
        for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;) {
            int st = 0;
            if (::waitpid(_pid, &st, WNOHANG) == _pid) {
                _pid = -1;
                return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return -1;
    }
    // Datagrams until one contains `what` (returned), or "" after `limit`
    // or once the main process exited with nothing more queued.
    std::string await(const std::string& what, std::chrono::seconds limit) {
        for (auto end = std::chrono::steady_clock::now() + limit;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
            if (left.count() <= 0) return "";
            pollfd p{_socket, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 200))) <= 0) {
                if (_pid > 0 && ::waitpid(_pid, &_status, WNOHANG) == _pid) {
                    _pid = -1;
                    _exited = true;
                }
                if (_exited) return "";
                continue;
            }
            char buf[4096];
            ssize_t n = ::recv(_socket, buf, sizeof buf, 0);
            if (n <= 0) continue;
            std::string msg(buf, static_cast<size_t>(n));
            _received += msg + "\n---\n";
            if (msg.find(what) != std::string::npos) return msg;
        }
    }
    const std::string& received() const { return _received; }

private:
    pid_t spawn(const std::vector<std::string>& argv) {
        std::string procs = _cgroup + "/cgroup.procs", netns = "/run/netns/" + _lab.host_ns();
        std::string log = _lab.dir() + "/unit.log";
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        pid_t pid = ::fork();
        if (pid == 0) {
            int fd = ::open(procs.c_str(), O_WRONLY);
            if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(120);
            int ns = ::open(netns.c_str(), O_RDONLY);
            if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) ::_exit(121);
            int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
            ::dup2(out, 1);
            ::dup2(out, 2);
            ::setenv("NOTIFY_SOCKET", _socket_path.c_str(), 1);
            ::setenv("MOAT_STATE_DIR", _lab.state_dir().c_str(), 1);
            for (const auto& e : _unit.environment) ::putenv(const_cast<char*>(e.c_str()));
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        return pid;
    }

    lab& _lab;
    unit_lines _unit;
    std::string _cgroup, _socket_path, _received;
    int _socket = -1;
    pid_t _pid = -1;
    int _status = 0;
    bool _exited = false;  // reaped by await(): the status is in _status
};

nlohmann::json container(lab& l, const std::string& name) {
    auto st = moat::test::status_json(l);
    for (const auto& c : st.value("containers", nlohmann::json::array())) {
        if (c["name"] == name) return c;
    }
    return nlohmann::json::object();
}

// A new init for `name`, other than `old`, running; 0 after `limit`.
int await_new_init(lab& l, const std::string& name, int old, std::chrono::seconds limit) {
    for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;) {
        auto c = container(l, name);
        if (c.value("state", "") == "running" && c.value("pid", 0) != old && c.value("pid", 0) > 0) {
            return c["pid"];
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return 0;
}

std::vector<std::string> cmdline(int pid) {
    std::string raw = read_all("/proc/" + std::to_string(pid) + "/cmdline");
    std::vector<std::string> out;
    std::string cur;
    for (char c : raw) {
        if (c == '\0') {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

}  // namespace

TEST(Boot, UnitStartsSupervisesAndStopsCleanly) {
    lab l;
    l.write("box.toml", config);
    fake_unit u(l, "box");
    ASSERT_FALSE(u.unit().exec_start.empty());
    u.start();
    auto ready = u.await("READY=1", std::chrono::seconds(90));
    ASSERT_FALSE(ready.empty()) << u.received() << u.log();
    // Ready means running: the container is up when READY=1 arrives.
    auto c = container(l, "svc");
    ASSERT_EQ(c.value("state", ""), "running") << c.dump() << u.log();
    int init = c["pid"];
    auto made = snapshot(l);

    // Delegation: the container's cgroup is below the unit's, moat in a leaf.
    EXPECT_EQ(c.value("cgroup", "").rfind(u.cgroup() + "/moat/", 0), 0u) << c.dump();
    EXPECT_NE(read_all(u.cgroup() + "/supervisor/cgroup.procs").find(std::to_string(u.pid())), std::string::npos);
    EXPECT_EQ(read_all(u.cgroup() + "/cgroup.procs"), "");

    // ps: the init is "moat-init svc", not a copy of `moat up --foreground -f ...`.
    EXPECT_EQ(cmdline(init), (std::vector<std::string>{"moat-init", "svc"}));
    EXPECT_EQ(read_all("/proc/" + std::to_string(init) + "/comm"), "moat-init\n");

    // A dead init is started again.
    auto first_kill = std::chrono::steady_clock::now();
    ASSERT_EQ(::kill(init, SIGKILL), 0);
    int again = await_new_init(l, "svc", init, std::chrono::seconds(20));
    ASSERT_GT(again, 0) << u.log();
    EXPECT_NE(u.log().find("svc"), std::string::npos) << u.log();
    made.pids.push_back(again);
    // Back-off: killed again at once, it comes back no sooner than 1 s
    // after the first restart began (which was after the first kill).
    ASSERT_EQ(::kill(again, SIGKILL), 0);
    int third = await_new_init(l, "svc", again, std::chrono::seconds(20));
    ASSERT_GT(third, 0) << u.log();
    EXPECT_GE(std::chrono::steady_clock::now() - first_kill, std::chrono::seconds(1)) << u.log();
    made.pids.push_back(third);

    // SIGTERM: STOPPING=1, everything down, exit 0; ExecStopPost finds nothing.
    ASSERT_EQ(::kill(u.pid(), SIGTERM), 0);
    EXPECT_FALSE(u.await("STOPPING=1", std::chrono::seconds(30)).empty()) << u.received();
    EXPECT_EQ(u.wait_exit(std::chrono::seconds(60)), 0) << u.log();
    EXPECT_EQ(u.stop_post(), 0) << u.log();
    EXPECT_EQ(residue(l, made), "");
    EXPECT_FALSE(std::ifstream(u.cgroup() + "/moat").good()) << "moat's cgroups below the unit's stay";
}

TEST(Boot, KilledSupervisorIsCleanedUpByExecStopPost) {
    lab l;
    l.write("box.toml", config);
    fake_unit u(l, "box");
    u.start();
    ASSERT_FALSE(u.await("READY=1", std::chrono::seconds(90)).empty()) << u.received() << u.log();
    auto made = snapshot(l);
    ASSERT_EQ(made.pids.size(), 1u);
    ::kill(u.pid(), SIGKILL);
    u.wait_exit(std::chrono::seconds(10));
    // No systemd here to kill the cgroup: the init lives on, ExecStopPost's
    // `down -f` finds it through the record.
    EXPECT_EQ(u.stop_post(), 0) << u.log();
    EXPECT_EQ(residue(l, made), "");
}

TEST(Boot, GcFindsCgroupsBelowTheUnitWithoutTheStateDir) {
    lab l;
    l.write("box.toml", config);
    fake_unit u(l, "box");
    u.start();
    ASSERT_FALSE(u.await("READY=1", std::chrono::seconds(90)).empty()) << u.received() << u.log();
    auto made = snapshot(l);
    ::kill(u.pid(), SIGKILL);
    u.wait_exit(std::chrono::seconds(10));
    // The state dir is lost: `up` refuses for the unrecorded container, gc
    // finds its cgroup below the unit's and removes it.
    ASSERT_EQ(sh("rm -rf " + l.state_dir()).code, 0);
    auto up = l.moat("up -q -f " + l.dir() + "/box.toml");
    EXPECT_EQ(up.code, 2) << up.err;
    EXPECT_NE(up.err.find("svc"), std::string::npos) << up.err;
    auto gc = l.moat("gc");
    EXPECT_EQ(gc.code, 0) << gc.err;
    EXPECT_NE(gc.out.find("mt-boot-" + l.id() + "/moat/"), std::string::npos) << gc.out;
    EXPECT_EQ(residue(l, made), "");
}

TEST(Boot, CheckWatchFeedsTheWatchdog) {
    lab l;
    auto file = l.write("box.toml", config);
    ASSERT_EQ(l.moat("up -q -f " + file).code, 0);
    fake_unit u(l, "box");
    // moat-check.service's line, with a short period.
    std::string text = read_all(moat::test::source_dir() + "/dist/systemd/moat-check.service.in");
    auto at = text.find("ExecStart=");
    ASSERT_NE(at, std::string::npos);
    auto line = text.substr(at + 10, text.find('\n', at) - at - 10);
    replace_all(line, "@MOAT_BINDIR@/moat", moat::test::moat_binary());
    replace_all(line, "--watch 60", "--watch 1");
    auto& argv = const_cast<unit_lines&>(u.unit()).exec_start;
    argv = words(line);
    u.start();
    auto first = u.await("READY=1", std::chrono::seconds(30));
    ASSERT_FALSE(first.empty()) << u.received() << u.log();
    EXPECT_NE(first.find("WATCHDOG=1"), std::string::npos) << first;
    EXPECT_FALSE(u.await("WATCHDOG=1", std::chrono::seconds(10)).empty()) << u.received();
    // A failing check: no WATCHDOG=1 while it fails (the veth is gone).
    ASSERT_EQ(l.in("ip link del ve-svc").code, 0);
    auto failing = u.await("failing", std::chrono::seconds(15));
    ASSERT_FALSE(failing.empty()) << u.received() << u.log();
    EXPECT_EQ(failing.find("WATCHDOG=1"), std::string::npos) << failing;
    ::kill(u.pid(), SIGTERM);
    u.wait_exit(std::chrono::seconds(10));
}
