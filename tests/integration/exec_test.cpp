// `moat exec` and `moat login` never hand the operator's terminal or
// descriptors to a container: the real binary, run on a host pseudo-terminal
// that stands in for the operator's, against an attacker inside.
#include "exec_harness.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

using moat::test::lab;
using namespace moat::test::exec;

namespace {

const char* config = "[containers.c]\nprivateNetwork = true\n";
const std::string python = "/usr/bin/python3";

// The attack: TIOCSTI of a command line into stdin and into /dev/tty, then a
// background process that keeps /proc/<command>/fd/0 open and, once the
// command has returned, writes LATER into it and its inherited stdio, reads
// from them (what it steals it shows as STOLEN: on its stdout, so that a
// read of the injected line is seen too) and tries TIOCSTI again, for a
// second.
const char* attack = R"(
import fcntl, os, select, signal, sys, termios, time
def sti(fd):
    try:
        for c in b"echo INJECTED\n":
            fcntl.ioctl(fd, termios.TIOCSTI, bytes([c]))
        return "ok"
    except OSError as e:
        return "err%d" % e.errno
res = [sti(0)]
try:
    tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    res += ["devtty-open", sti(tty)]
except OSError as e:
    res.append("devtty-err%d" % e.errno)
parent = os.getpid()
if os.fork() == 0:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    fds = [0, 1, 2]
    try:
        fds.append(os.open("/proc/%d/fd/0" % parent, os.O_RDWR | os.O_NOCTTY))
    except OSError:
        pass
    while os.getppid() == parent:
        time.sleep(0.02)
    time.sleep(0.5)
    for _ in range(10):
        for fd in fds:
            try:
                os.write(fd, b"LATER\n")
            except OSError:
                pass
            try:
                if select.select([fd], [], [], 0)[0]:
                    os.write(1, b"STOLEN:" + os.read(fd, 100))
            except OSError:
                pass
            sti(fd)
        time.sleep(0.1)
    os._exit(0)
print("ATTACK " + " ".join(res), flush=True)
)";
void up(lab& l) {
    auto r = l.moat("up -f " + l.write("c.toml", config));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
}

// What the attack left on the outer terminal: the output that arrived after
// `argv` exited (while the background writer was at work) and the input
// queue. The attack's own report line must have come through while it ran.
struct attack_result {
    int code;
    std::string report, late_output, input, output;
};

attack_result run_attack(const std::vector<std::string>& argv, bool tty_stdin, const std::string& typed = "") {
    outer_terminal t;
    termios before = t.modes();
    pid_t pid = start_on(t, argv, tty_stdin);
    if (!typed.empty()) {
        t.type(typed);
    }
    attack_result r{wait_reading(t, pid), "", "", "", ""};
    size_t end = t.output.size();
    t.read_for(2000ms);  // the background writer's second, and then some
    std::smatch m;
    if (std::regex_search(t.output, m, std::regex("ATTACK[^\r\n]*"))) {
        r.report = m.str();
    }
    r.late_output = t.output.substr(end);
    r.input = t.pending_input();
    r.output = t.output;
    EXPECT_TRUE(same_modes(before, t.modes())) << "the terminal's settings were not restored";
    return r;
}

}  // namespace

TEST(Exec, InjectionIntoTheTerminalStaysInTheContainer) {
    // Positive control: run on the host with the terminal as its controlling
    // terminal (what the old exec handed the command), the same attack types
    // into the operator's shell and writes after it returned.
    {
        auto host = run_attack({python, "-c", attack}, true);
        EXPECT_EQ(host.code, 0);
        EXPECT_EQ(host.report, "ATTACK ok devtty-open ok") << host.output;
        EXPECT_NE(host.input.find("echo INJECTED"), std::string::npos) << host.input;
        EXPECT_NE(host.late_output.find("LATER"), std::string::npos) << host.late_output;
        EXPECT_NE(host.late_output.find("STOLEN:echo INJECTED"), std::string::npos) << host.late_output;
    }
    lab l;
    up(l);
    // Terminal mode. Two layers hold, each alone: the seccomp filter
    // refuses TIOCSTI outright (EPERM, "err1"), and the terminal is the
    // container's own pty, so what the background process writes to and
    // reads from /proc/<command>/fd/0 later never reaches the operator.
    auto exec = run_attack(moat_argv(l, {"exec", "c", "--", python, "-c", attack}), true);
    EXPECT_EQ(exec.code, 0);
    EXPECT_EQ(exec.report, "ATTACK err1 devtty-open err1") << exec.output;
    EXPECT_EQ(exec.input, "");
    EXPECT_EQ(exec.late_output, "") << exec.output;
    // Pipe mode with the terminal still moat's controlling terminal: the
    // command has none, so /dev/tty (the host's device node) opens nothing.
    auto piped = run_attack(moat_argv(l, {"exec", "c", "--", python, "-c", attack}), false);
    EXPECT_EQ(piped.code, 0);
    EXPECT_EQ(piped.report, "ATTACK err1 devtty-err6") << piped.output;  // seccomp's EPERM, ENXIO
    EXPECT_EQ(piped.input, "");
    EXPECT_EQ(piped.late_output, "") << piped.output;
    // moat login: the operator types the attack into the container's shell.
    std::string b64 = moat::test::sh("printf %s '" + std::string(attack) + "' | base64 -w0").out;
    auto login = run_attack(moat_argv(l, {"login", "c"}), true,
                            "python3 -c \"$(echo " + b64 + " | base64 -d)\"; exit 4\r");
    EXPECT_EQ(login.code, 4);
    EXPECT_EQ(login.report, "ATTACK err1 devtty-open err1") << login.output;
    EXPECT_EQ(login.input, "");
    EXPECT_EQ(login.late_output, "") << login.output;
}

TEST(Exec, CommandGetsNoDescriptorOfTheCallers) {
    lab l;
    up(l);
    std::string dir = l.dir();
    // Positive control: the listing shows an inherited fd 7 on the host, and
    // through it the host's /tmp.
    auto host = moat::test::sh("exec 7<" + dir + "; ls -l /proc/self/fd; ls /proc/self/fd/7/..");
    EXPECT_NE(host.out.find("7 -> " + dir), std::string::npos) << host.out;
    EXPECT_NE(host.out.find("moat-lab-" + l.id()), std::string::npos) << host.out;

    auto in = moat::test::sh("exec 7<" + dir + "; " + moat_cmd(l) + " exec c -- ls -l /proc/self/fd");
    ASSERT_EQ(in.code, 0) << in.err;
    std::regex entry(R"(\s(\d+) -> (\S+))");
    std::set<int> fds;
    for (std::sregex_iterator it(in.out.begin(), in.out.end(), entry), end; it != end; ++it) {
        int fd = std::stoi((*it)[1]);
        fds.insert(fd);
        if (fd <= 2) {
            EXPECT_EQ((*it)[2].str().rfind("pipe:[", 0), 0u) << in.out;
        }
    }
    EXPECT_EQ(fds, (std::set<int>{0, 1, 2, 3})) << in.out;  // 3: ls's own /proc/self/fd
    auto escape = moat::test::sh("exec 7<" + dir + "; " + moat_cmd(l) + " exec c -- sh -c 'ls /proc/self/fd/7/..'");
    EXPECT_NE(escape.code, 0);
    EXPECT_EQ(escape.out.find("moat-lab-"), std::string::npos) << escape.out;

    // Terminal mode: 0-2 are a pty of the container's own devpts instance.
    outer_terminal t;
    const char* probe = "import os; pts = os.stat('/dev/pts/ptmx').st_dev; "
                        "print('FDS', sorted(int(f) for f in os.listdir('/proc/self/fd')), "
                        "all(os.fstat(i).st_dev == pts and os.major(os.fstat(i).st_rdev) == 136 for i in (0, 1, 2)))";
    pid_t pid = start_on(t, moat_argv(l, {"exec", "c", "--", python, "-c", probe}), true, dir);
    EXPECT_EQ(wait_reading(t, pid), 0);
    EXPECT_NE(t.output.find("FDS [0, 1, 2, 3] True"), std::string::npos) << t.output;
}

TEST(Exec, PipesCarryDataAndStatus) {
    lab l;
    up(l);
    std::string m = moat_cmd(l);
    auto big = moat::test::sh("cd " + l.dir() + " && head -c 1048576 /dev/urandom > in && " + m +
                              " exec c -- cat < in > out && cmp in out && wc -c < out");
    EXPECT_EQ(big.code, 0) << big.err;
    EXPECT_EQ(big.out, "1048576\n");
    EXPECT_EQ(moat::test::sh("echo hi | " + m + " exec c -- cat").out, "hi\n");
    auto split = l.moat("exec c -- sh -c 'echo out; echo err >&2; exit 3'");
    EXPECT_EQ(split.code, 3);
    EXPECT_EQ(split.out, "out\n");
    EXPECT_EQ(split.err, "err\n");
    // Only PATH and HOME (and TERM on a terminal), none of the caller's.
    auto env = moat::test::sh("env -i HOME=/home/op BASH_ENV=/home/op/.evil ENV=/home/op/.evil PATH=/home/op/bin:/usr/bin:/bin " +
                              m + " exec c -- env");
    EXPECT_EQ(env.out, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOME=/root\n") << env.err;

    auto missing = l.moat("exec c -- /nonexistent");
    EXPECT_EQ(missing.code, 127);
    EXPECT_NE(missing.err.find("/nonexistent"), std::string::npos) << missing.err;
    EXPECT_NE(missing.err.find("No such file or directory"), std::string::npos) << missing.err;
    EXPECT_EQ(l.moat("exec c -- no-such-command-anywhere").code, 127);
    ASSERT_EQ(l.moat("exec c -- touch /tmp/not-executable").code, 0);
    auto denied = l.moat("exec c -- /tmp/not-executable");
    EXPECT_EQ(denied.code, 126);
    EXPECT_NE(denied.err.find("/tmp/not-executable"), std::string::npos) << denied.err;
    EXPECT_NE(denied.err.find("Permission denied"), std::string::npos) << denied.err;
}

TEST(Exec, ClosedStdoutEndsTheCommandNotMoat) {
    lab l;
    up(l);
    std::string m = moat_cmd(l);
    // moat's stdout closed early: the command gets EPIPE (here it ignores
    // SIGPIPE and exits 9 on the failed write) and moat ends with its status
    // instead of dying of SIGPIPE itself (141) or hanging.
    auto epipe = moat::test::sh("bash -c '" + m + " exec c -- sh -c \"trap \\\"\\\" PIPE; while echo y; do :; done; exit 9\" "
                                "| head -c 4 >/dev/null; echo ${PIPESTATUS[0]}'", 20s);
    EXPECT_EQ(epipe.out, "9\n") << epipe.err;
    auto yes = moat::test::sh("bash -c '" + m + " exec c -- yes | head -c 4 >/dev/null; echo ${PIPESTATUS[0]}'", 20s);
    EXPECT_EQ(yes.out, "141\n") << yes.err;
}

TEST(Exec, SignalsToMoatReachTheCommandInPipeMode) {
    lab l;
    up(l);
    // SIGTERM to moat reaches the command; nothing is left running. SIGINT
    // too: the command traps it and exits 7 (moat dying of it would be 130).
    auto started = [&](const std::string& script) {
        int out[2];
        EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
        pid_t pid = ::fork();
        if (pid == 0) {
            ::dup2(::open("/dev/null", O_RDONLY), 0);
            ::dup2(out[1], 1);
            exec_argv(moat_argv(l, {"exec", "c", "--", "sh", "-c", script}));
        }
        ::close(out[1]);
        char buf[16] = {};
        EXPECT_GT(::read(out[0], buf, sizeof buf - 1), 0);
        EXPECT_STREQ(buf, "STARTED\n");
        ::close(out[0]);
        return pid;
    };
    pid_t pid = started("echo STARTED; exec sleep 100");
    EXPECT_EQ(l.moat("exec c -- pgrep -x sleep").code, 0);  // the control: it runs
    ::kill(pid, SIGTERM);
    EXPECT_EQ(wait_exit(pid, 10s), 143);
    EXPECT_EQ(l.moat("exec c -- pgrep -x sleep").code, 1);
    pid = started("trap 'exit 7' INT; echo STARTED; while :; do sleep 0.1; done");
    ::kill(pid, SIGINT);
    EXPECT_EQ(wait_exit(pid, 10s), 7);
}

TEST(Exec, TerminalModeSizeSettingsAndLogin) {
    lab l;
    up(l);
    outer_terminal t(37, 123);
    termios before = t.modes();
    auto run = [&](const std::vector<std::string>& cmd) {
        t.output.clear();
        std::vector<std::string> args = {"exec", "c", "--"};
        args.insert(args.end(), cmd.begin(), cmd.end());
        return wait_reading(t, start_on(t, moat_argv(l, args)));
    };
    EXPECT_EQ(run({"tty"}), 0);
    EXPECT_TRUE(std::regex_search(t.output, std::regex("^/dev/pts/[0-9]+\r\n$"))) << t.output;
    EXPECT_EQ(run({"stty", "size"}), 0);
    EXPECT_EQ(t.output, "37 123\r\n");
    EXPECT_EQ(run({"sh", "-c", "exit 5"}), 5);
    EXPECT_EQ(run({"env"}), 0);
    EXPECT_NE(t.output.find("TERM="), std::string::npos) << t.output;
    EXPECT_TRUE(same_modes(before, t.modes()));

    // moat login: a login shell on the container's pty, in its HOME; the
    // caller's environment (its HOME, a BASH_ENV to run) does not come along.
    t.output.clear();
    // The operator's dotfiles (a HOME with a .bashrc and .profile that say
    // so) are not run, and the host's /root is not the container's.
    std::string home = l.dir() + "/op-home";
    ASSERT_EQ(::mkdir(home.c_str(), 0755), 0);
    for (const char* rc : {"/.bashrc", "/.profile", "/.bash_profile"}) {
        l.write("op-home" + std::string(rc), "echo HOST-DOTFILE-RAN\n");
    }
    std::vector<std::string> login = {"env", "HOME=" + home, "BASH_ENV=" + home + "/.bashrc", "ENV=" + home + "/.bashrc",
                                      "FOO=leak"};
    for (const auto& a : moat_argv(l, {"login", "c"})) {
        login.push_back(a);
    }
    pid_t pid = start_on(t, login);
    t.type("tty; echo \"HOME=$HOME PWD=$PWD FOO=${FOO:-unset} BASH_ENV=${BASH_ENV:-unset}\"; "
           "echo ROOT-HAS-$(ls -A /root | wc -l)-FILES; exit 4\r");
    EXPECT_EQ(wait_reading(t, pid), 4);
    EXPECT_TRUE(std::regex_search(t.output, std::regex("/dev/pts/[0-9]+\r\n"))) << t.output;
    EXPECT_NE(t.output.find("HOME=/root PWD=/root FOO=unset BASH_ENV=unset"), std::string::npos) << t.output;
    EXPECT_EQ(t.output.find("HOST-DOTFILE-RAN"), std::string::npos) << t.output;
    EXPECT_NE(t.output.find("ROOT-HAS-0-FILES"), std::string::npos) << t.output;
    EXPECT_TRUE(same_modes(before, t.modes()));
}

TEST(Exec, TerminalModeSignals) {
    lab l;
    up(l);
    outer_terminal t;
    termios before = t.modes();

    // A resize of the operator's terminal reaches the command (SIGWINCH).
    t.output.clear();
    const char* winch = "import os, signal; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGWINCH}); "
                        "print('READY', flush=True); signal.sigwait({signal.SIGWINCH}); "
                        "s = os.get_terminal_size(0); print('SIZE', s.lines, s.columns)";
    pid_t pid = start_on(t, moat_argv(l, {"exec", "c", "--", python, "-c", winch}));
    ASSERT_TRUE(t.read_until("READY", 10s)) << t.output;
    t.resize(41, 99);
    EXPECT_EQ(wait_reading(t, pid), 0);
    EXPECT_NE(t.output.find("SIZE 41 99"), std::string::npos) << t.output;

    // SIGTERM and SIGHUP to moat end the command; the terminal is restored.
    for (int sig : {SIGTERM, SIGHUP}) {
        t.output.clear();
        pid = start_on(t, moat_argv(l, {"exec", "c", "--", "sh", "-c", "echo STARTED; exec sleep 100"}));
        ASSERT_TRUE(t.read_until("STARTED", 10s)) << t.output;
        EXPECT_FALSE(t.modes().c_lflag & ICANON);  // moat's raw mode
        ::kill(pid, sig);
        EXPECT_EQ(wait_reading(t, pid, 10s), 128 + sig);
        EXPECT_TRUE(same_modes(before, t.modes())) << "signal " << sig;
    }
    EXPECT_EQ(l.moat("exec c -- pgrep -x sleep").code, 1);

    // ^C is a byte for the container's line discipline, which signals the
    // command's foreground job; SIGINT sent to moat goes the same way. The
    // command traps it and exits 7: had moat died of it, the status were 130.
    const std::string trap = "trap 'exit 7' INT; echo STARTED; while :; do sleep 0.1; done";
    for (bool typed : {true, false}) {
        t.output.clear();
        pid = start_on(t, moat_argv(l, {"exec", "c", "--", "sh", "-c", trap}));
        ASSERT_TRUE(t.read_until("STARTED", 10s)) << t.output;
        typed ? t.type("\x03") : static_cast<void>(::kill(pid, SIGINT));
        EXPECT_EQ(wait_reading(t, pid, 10s), 7) << (typed ? "typed ^C" : "SIGINT to moat");
    }
    EXPECT_TRUE(same_modes(before, t.modes()));
}

// `moat run` relays the same way: the init allocates the command's pty in
// the container's devpts (terminal mode) or gets the relay's pipes, and
// nothing of the caller's reaches the command.
TEST(Exec, RunRelaysTooAndPassesNoDescriptor) {
    lab l;
    auto run = [&](const std::vector<std::string>& cmd) {
        std::vector<std::string> args = {"run", "--rm", "--network", "none", "--"};
        args.insert(args.end(), cmd.begin(), cmd.end());
        return moat_argv(l, args);
    };
    auto term = run_attack(run({python, "-c", attack}), true);
    EXPECT_EQ(term.code, 0);
    EXPECT_EQ(term.report, "ATTACK err1 devtty-open err1") << term.output;
    EXPECT_EQ(term.input, "");
    EXPECT_EQ(term.late_output, "") << term.output;
    auto piped = run_attack(run({python, "-c", attack}), false);
    EXPECT_EQ(piped.code, 0);
    EXPECT_EQ(piped.report, "ATTACK err1 devtty-err6") << piped.output;
    EXPECT_EQ(piped.input, "");
    EXPECT_EQ(piped.late_output, "") << piped.output;

    std::string dir = l.dir();
    auto fds = moat::test::sh("exec 7<" + dir + "; " + moat_cmd(l) + " run --rm --network none -- ls -l /proc/self/fd");
    ASSERT_EQ(fds.code, 0) << fds.err;
    std::regex entry(R"(\s(\d+) -> (\S+))");
    std::set<int> seen;
    for (std::sregex_iterator it(fds.out.begin(), fds.out.end(), entry), end; it != end; ++it) {
        seen.insert(std::stoi((*it)[1]));
        if (std::stoi((*it)[1]) <= 2) {
            EXPECT_EQ((*it)[2].str().rfind("pipe:[", 0), 0u) << fds.out;
        }
    }
    EXPECT_EQ(seen, (std::set<int>{0, 1, 2, 3})) << fds.out;
    auto status = moat::test::sh("echo data | " + moat_cmd(l) + " run --rm --network none -- sh -c 'cat; exit 7'");
    EXPECT_EQ(status.code, 7);
    EXPECT_EQ(status.out, "data\n");
}
