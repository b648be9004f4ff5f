// Service logs through the real binary (issue 13): bounded against a
// flooding or hostile service, kept across a recreate and gone after
// `down`, the reason a service last ended, and -f across rotation.
#include "lab.hpp"
#include "log_files.hpp"
#include "../fuzz/terminal_safe.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

using moat::test::lab;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The default cap: two files of 1 MiB; "+ one line": 16 KiB and its stamp.
constexpr std::uintmax_t cap = 2 * (1 << 20);
constexpr std::uintmax_t one_line = 16 * 1024 + 25;

void up_ok(lab& l, const std::string& toml) {
    auto r = l.moat("up -f " + l.write("c.toml", toml));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
}

std::string logs_dir(const lab& l, const std::string& c) { return l.state_dir() + "/containers/" + c + "/logs"; }

// Bytes of the files of one log (<service>.log*), or of the whole directory.
std::uintmax_t bytes_of(const lab& l, const std::string& c, const std::string& service = "") {
    return moat::test::log_files_bytes(logs_dir(l, c), service.empty() ? "" : service + ".log");
}

nlohmann::json service_status(lab& l, const std::string& c, const std::string& service) {
    auto st = nlohmann::json::parse(l.moat("status --json").out);
    for (const auto& ct : st["containers"]) {
        if (ct["name"] == c && ct["services"].contains(service)) {
            return ct["services"][service];
        }
    }
    return nlohmann::json::object();
}

// Lines of a log file that do not start "2026-11-29T01:02:03.456Z ".
int unstamped_lines(const std::string& path) {
    static const std::regex stamp("^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z ");
    std::ifstream in(path);
    int bad = 0;
    for (std::string line; std::getline(in, line);) {
        bad += std::regex_search(line.substr(0, 25), stamp) ? 0 : 1;
    }
    return bad;
}

// A file's size; 0 when it is not there (fs::file_size would throw).
std::uintmax_t size_of(const std::string& path) {
    std::error_code ec;
    auto n = fs::file_size(path, ec);
    return ec ? 0 : n;
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (cond()) {
            return true;
        }
        std::this_thread::sleep_for(100ms);
    }
    return cond();
}

}  // namespace

// `yes` as fast as it can for 3 s. On the old code the log file grew by
// hundreds of MB (the service wrote into it directly); `head -c` only keeps
// that from filling the lab machine's disk.
TEST(Logs, AFloodingServiceStaysUnderTheCapAndTheContainerAnswers) {
    lab l;
    up_ok(l, R"toml(
[containers.c]
[containers.c.services.flood]
script = 'timeout 3 yes | head -c 300000000; echo flood-over; sleep 100000'
[containers.c.services.quiet]
script = 'echo still-here; sleep 100000'
)toml");
    std::this_thread::sleep_for(1500ms);
    auto before = std::chrono::steady_clock::now();
    auto st = l.moat("status --json");
    EXPECT_EQ(st.code, 0) << st.err;
    EXPECT_LT(std::chrono::steady_clock::now() - before, 2s) << "moat status during the flood";
    EXPECT_LE(bytes_of(l, "c", "flood"), cap + one_line);
    ASSERT_TRUE(eventually([&] { return l.moat("logs c flood").out.find(" flood-over\n") != std::string::npos; }))
        << bytes_of(l, "c", "flood");
    EXPECT_LE(bytes_of(l, "c", "flood"), cap + one_line);
    // Exactly one rotated file, each file under its 1 MiB, every line stamped.
    EXPECT_TRUE(fs::exists(logs_dir(l, "c") + "/flood.log.1"));
    EXPECT_FALSE(fs::exists(logs_dir(l, "c") + "/flood.log.2"));
    EXPECT_LE(size_of(logs_dir(l, "c") + "/flood.log"), cap / 2);
    EXPECT_LE(size_of(logs_dir(l, "c") + "/flood.log.1"), cap / 2);
    EXPECT_EQ(unstamped_lines(logs_dir(l, "c") + "/flood.log.1"), 0);
    EXPECT_EQ(unstamped_lines(logs_dir(l, "c") + "/flood.log"), 0);
    EXPECT_EQ(service_status(l, "c", "flood")["state"], "running");
    EXPECT_EQ(service_status(l, "c", "flood")["log_errors"], 0);
    EXPECT_NE(l.moat("logs c quiet").out.find(" still-here\n"), std::string::npos);
    before = std::chrono::steady_clock::now();
    EXPECT_EQ(l.moat("down").code, 0);
    EXPECT_LT(std::chrono::steady_clock::now() - before, 5s) << "moat down";
    EXPECT_FALSE(fs::exists(l.state_dir()));
}

// A hostile service: it reopens its stdout (on the old code, the log file
// itself, O_APPEND: no cap could hold), and tries every descriptor of the
// init (PID 1 holds init.log and the log directory). What it says comes
// last, so the flood has not rotated it away.
TEST(Logs, AServiceCannotReachItsLogFile) {
    lab l;
    up_ok(l, R"toml(
[containers.c]
[containers.c.services.hostile]
script = '''
head -c 3000000 /dev/zero | tr '\0' x >> /proc/self/fd/1
for f in /proc/1/fd/*; do head -c 3000000 /dev/zero >> "$f" && echo "wrote $f"; done 2>/dev/null
echo
echo "own stdout: $(readlink /proc/$$/fd/1)"
ls /proc/1/fd >/dev/null 2>&1 && echo "init fds: listed" || echo "init fds: refused"
echo hostile-done; sleep 100000
'''
)toml");
    std::string log;
    ASSERT_TRUE(eventually([&] { return (log = l.moat("logs c hostile").out).find("hostile-done\n") != std::string::npos; }))
        << bytes_of(l, "c");
    // Positive control: its own descriptors are there, and are a pipe (the
    // shell's: $$, not the command substitution's).
    EXPECT_TRUE(std::regex_search(log, std::regex(" own stdout: pipe:\\[[0-9]+\\]\n"))) << log.substr(0, 300);
    EXPECT_NE(log.find(" init fds: refused\n"), std::string::npos) << log.substr(0, 300);
    EXPECT_EQ(log.find("wrote /proc/1/fd/"), std::string::npos);
    EXPECT_LE(bytes_of(l, "c", "hostile"), cap + one_line);
    EXPECT_LE(bytes_of(l, "c"), 2 * cap + 4 * one_line);  // with init.log and services.json
    // The same from `moat exec` (root of the container, its capabilities),
    // and the log file's host path, which the container does not see. The
    // host does (positive control).
    auto file = logs_dir(l, "c") + "/hostile.log";
    EXPECT_TRUE(fs::exists(file));
    auto exec = l.moat("exec c -- sh -c 'ls /proc/1/fd; echo x >> " + file + "'");
    EXPECT_NE(exec.code, 0);
    EXPECT_NE(exec.err.find("Permission denied"), std::string::npos) << exec.err;
    EXPECT_LE(bytes_of(l, "c", "hostile"), cap + one_line);
}

// A hostile service writes what terminals act on: a window title, the
// clipboard (OSC 52: a command planted there runs at the next paste), a
// cleared screen, a carriage return before a forged time stamp, CSI as a C1
// control in UTF-8 and as a raw byte, a right-to-left override (the line
// displays reordered on a terminal with bidi). `moat logs` shows them as \xHH, with
// one service and with several (prefixed); --raw writes the bytes as logged,
// the positive control that they are really there.
TEST(Logs, AServicesEscapeSequencesDoNotReachTheOperatorsTerminal) {
    lab l;
    up_ok(l, R"toml(
[containers.c]
[containers.c.services.hostile]
script = '''
printf 'title \033]0;owned\007 clip \033]52;c;cm0gLXJmIH4K\007 cls \033[2J\n'
printf 'ok\r2026-01-01T00:00:00.000Z forged\n'
printf 'c1 \302\2332J raw \2332J nul \000 end\n'
printf 'rlo \342\200\256nimda\342\200\254 ok\n'
printf 'caf\303\251\tplain-done\n'
sleep 100000
'''
[containers.c.services.quiet]
exec = ["/bin/sleep", "100000"]
)toml");
    std::string raw;
    ASSERT_TRUE(eventually([&] { return (raw = l.moat("logs --raw c hostile").out).find("plain-done\n") != std::string::npos; }));
    EXPECT_NE(raw.find("\x1b]52;c;cm0gLXJmIH4K\x07"), std::string::npos) << raw;
    EXPECT_NE(raw.find("ok\r2026-01-01T00:00:00.000Z forged"), std::string::npos) << raw;
    EXPECT_NE(raw.find("c1 \xc2\x9b" "2J raw \x9b" "2J"), std::string::npos) << raw;
    EXPECT_NE(raw.find("rlo \xe2\x80\xae" "nimda"), std::string::npos) << raw;
    for (const std::string args : {"logs c hostile", "logs c"}) {
        auto r = l.moat(args);
        ASSERT_EQ(r.code, 0) << r.err;
        std::istringstream lines(r.out);
        int n = 0;
        for (std::string line; std::getline(lines, line); ++n) {
            EXPECT_TRUE(moat::test::terminal_safe(line)) << args << ": " << line;
        }
        EXPECT_GE(n, 4) << r.out;
        EXPECT_NE(r.out.find("title \\x1b]0;owned\\x07 clip \\x1b]52;c;cm0gLXJmIH4K\\x07 cls \\x1b[2J\n"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("ok\\x0d2026-01-01T00:00:00.000Z forged\n"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("c1 \\xc2\\x9b2J raw \\x9b2J nul \\x00 end\n"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("rlo \\xe2\\x80\\xaenimda\\xe2\\x80\\xac ok\n"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("caf\xc3\xa9\tplain-done\n"), std::string::npos) << r.out;  // text as written
    }
    EXPECT_NE(l.moat("logs c").out.find("hostile | "), std::string::npos);  // the prefixed form was the one read
}

// Logs survive `up` recreating (config change) and repairing (dead init) a
// container, a container dropped from the file loses them, and `down`
// leaves nothing.
TEST(Logs, SurviveARecreateAndGoWithDown) {
    lab l;
    const std::string v1 = R"toml(
[containers.c]
[containers.c.services.hello]
script = 'echo "hello VERSION"; sleep 100000'
[containers.other]
[containers.other.services.idle]
script = 'echo idle; sleep 100000'
)toml";
    auto version = [&](const std::string& v, bool with_other) {
        std::string text = std::regex_replace(v1, std::regex("VERSION"), v);
        return with_other ? text : text.substr(0, text.find("[containers.other]"));
    };
    auto logs = [&] { return l.moat("logs c hello").out; };
    up_ok(l, version("v1", true));
    ASSERT_TRUE(eventually([&] { return logs().find("hello v1\n") != std::string::npos; }));
    ASSERT_TRUE(eventually([&] { return fs::exists(logs_dir(l, "other") + "/idle.log"); }));
    auto r = l.moat("up -f " + l.write("c.toml", version("v2", false)));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("recreated"), std::string::npos) << r.out;
    ASSERT_TRUE(eventually([&] { return logs().find("hello v2\n") != std::string::npos; }));
    EXPECT_NE(logs().find("hello v1\n"), std::string::npos) << logs();
    EXPECT_FALSE(fs::exists(l.state_dir() + "/containers/other")) << "dropped from the file";
    // Repair: the init was killed.
    int pid = nlohmann::json::parse(l.moat("status --json").out)["containers"][0]["pid"];
    ASSERT_GT(pid, 0);
    ::kill(pid, SIGKILL);
    ASSERT_TRUE(eventually([&] {
        return nlohmann::json::parse(l.moat("status --json").out)["containers"][0]["state"] != "running";
    }));
    r = l.moat("up -f " + l.write("c.toml", version("v3", false)));
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_TRUE(eventually([&] { return logs().find("hello v3\n") != std::string::npos; }));
    auto all = logs();
    EXPECT_LT(all.find("hello v1\n"), all.find("hello v2\n")) << all;
    EXPECT_LT(all.find("hello v2\n"), all.find("hello v3\n")) << all;
    EXPECT_EQ(l.moat("down").code, 0);
    EXPECT_FALSE(fs::exists(l.state_dir())) << "down leaves no logs behind";
}

// `moat logs` ends a service's lines with how it last ended.
TEST(Logs, ShowWhyAServiceLastDied) {
    lab l;
    up_ok(l, R"toml(
[containers.c]
[containers.c.services.crash]
script = 'echo boom; exit 1'
restart = "always"
[containers.c.services.once]
script = 'echo bye; kill -9 $$'
)toml");
    std::regex restarting("\n-- crash exited with status 1 at 20[0-9-]{8}T[0-9:]{8}\\.[0-9]{3}Z, restarting in "
                          "[0-9]+ ms \\(([0-9]+)(st|nd|rd|th) restart\\)\n$");
    std::string out;
    std::smatch m;
    ASSERT_TRUE(eventually([&] {
        out = l.moat("logs c crash").out;
        return std::regex_search(out, m, restarting) && std::stoi(m[1]) >= 3;
    })) << out;
    EXPECT_NE(out.find(" boom\n"), std::string::npos);
    out = l.moat("logs c once").out;
    EXPECT_TRUE(std::regex_search(out, std::regex("^20[0-9T:.-]+Z bye\n-- once was killed by signal 9 \\(SIGKILL\\) at "
                                                  "20[0-9T:.-]+Z, not restarted \\(restart = \"no\"\\)\n$")))
        << out;
    // Both, prefixed, each with its own end.
    out = l.moat("logs c").out;
    EXPECT_NE(out.find("\n-- crash exited with status 1 at "), std::string::npos) << out;
    EXPECT_NE(out.find("\n-- once was killed by signal 9"), std::string::npos) << out;
}

// A `moat run` kept without --rm has no services: its command wrote to
// its caller. `moat logs NAME` shows what there is, its init's log (how
// the command ended), rather than "no service named ''".
TEST(Logs, AKeptRunShowsItsInitsLog) {
    lab l;
    auto r = l.moat("run --name kept --network none -- sh -c 'echo to-the-caller; exit 3'");
    ASSERT_EQ(r.code, 3) << r.err;
    EXPECT_EQ(r.out, "to-the-caller\n");
    auto out = l.moat("logs kept");
    EXPECT_EQ(out.code, 0) << out.err;
    EXPECT_NE(out.out.find("init of container kept"), std::string::npos) << out.out;
    EXPECT_NE(out.out.find("exited status 3"), std::string::npos) << out.out;
    EXPECT_EQ(out.out.find("to-the-caller"), std::string::npos) << out.out;
    EXPECT_EQ(out.err.find("no service named"), std::string::npos) << out.err;
    // Control: a service it does not have is still refused, by its name.
    auto none = l.moat("logs kept web");
    EXPECT_EQ(none.code, 2);
    EXPECT_NE(none.err.find("has no service named 'web'"), std::string::npos) << none.err;
    EXPECT_EQ(l.moat("down -q").code, 0);
}

// -f keeps reading when the init rotates (3 files of 64 KiB: about 16
// rotations), in order and without a gap.
TEST(Logs, FollowKeepsGoingAcrossRotation) {
    lab l;
    up_ok(l, R"toml(
[containers.c]
logSize = "64K"
logFiles = 3
[containers.c.services.counter]
script = '''
i=0
while [ $i -lt 30000 ]; do
  echo "line $i"; i=$((i+1))
  [ $((i % 100)) -eq 0 ] && sleep 0.01
done
echo counted; sleep 100000
'''
)toml");
    std::string followed = l.dir() + "/followed.txt";
    std::thread follower([&] { l.moat("logs -f c counter > " + followed, 60s); });
    bool done = eventually([&] { return l.moat("logs c counter").out.find(" counted\n") != std::string::npos; }, 40s);
    // logSize and logFiles set the cap: two rotated files, each under 64 KiB.
    EXPECT_TRUE(fs::exists(logs_dir(l, "c") + "/counter.log.2"));
    EXPECT_FALSE(fs::exists(logs_dir(l, "c") + "/counter.log.3"));
    for (const char* f : {"/counter.log", "/counter.log.1", "/counter.log.2"}) {
        EXPECT_LE(size_of(logs_dir(l, "c") + f), 64 * 1024u) << f;
    }
    std::this_thread::sleep_for(300ms);  // -f looks every 0.1 s
    l.moat("down");  // -f ends with its container
    follower.join();
    ASSERT_TRUE(done);
    std::ifstream in(followed);
    int next = 0;
    for (std::string line; std::getline(in, line);) {
        auto text = line.size() > 25 ? line.substr(25) : line;
        if (text.rfind("line ", 0) == 0) {
            ASSERT_EQ(text, "line " + std::to_string(next)) << "a gap or a repeat";
            ++next;
        }
    }
    EXPECT_EQ(next, 30000);
}
