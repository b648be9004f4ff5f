// Services' output through the init (as a child subreaper): a pipe, never
// the log file; the cap holds against a flooding or hostile service; the
// init stays responsive; exits are told in services.json.
#include "init_harness.hpp"
#include "log_files.hpp"

#include <sys/stat.h>

#include <regex>

namespace moat::test {
namespace {

using config::restart_policy;

std::uint64_t log_bytes(const init_harness& h, const std::string& service) {
    return log_files_bytes(h.dir(), service + ".log");
}

init::spec small_logs() {
    init::spec s;
    s.logs.size = 64 * 1024;
    s.logs.files = 2;
    return s;
}

TEST(InitOutput, ServicesWriteToAPipeNotTheirLogFile) {
    init_harness h;
    init::spec s;
    s.services = {sh_service("svc", "readlink /proc/self/fd/1 /proc/self/fd/2")};
    h.start(s);
    ASSERT_TRUE(init_harness::eventually([&] { return h.service("svc")["state"] == "exited"; }));
    auto out = h.text("svc.log");
    EXPECT_TRUE(std::regex_search(out, std::regex("^pipe:\\[[0-9]+\\]\npipe:\\[[0-9]+\\]\n$"))) << out;
}

// A service that reopens its own stdout, as a hostile one would to get
// the log file, gets the pipe again: the cap holds. On the old code
// (stdout was the log file, O_APPEND) the 3 MB went straight into it.
TEST(InitOutput, ReopeningStdoutDoesNotGetPastTheCap) {
    init_harness h;
    init::spec s = small_logs();
    s.services = {sh_service("svc", "head -c 3000000 /dev/zero | tr '\\0' x >> /proc/self/fd/1; echo done")};
    h.start(s);
    ASSERT_TRUE(init_harness::eventually([&] { return h.service("svc")["state"] == "exited"; }, 20000ms));
    EXPECT_LE(log_bytes(h, "svc"), 2 * 64 * 1024u);
    EXPECT_NE(h.read("svc.log").find("xdone\n"), std::string::npos);  // after 1728 x of the last cut line
}

// `yes` as fast as it can: the logs stay under the cap, and the loop still
// restarts a crashing service on time and stops at once on SIGTERM.
TEST(InitOutput, AFloodingServiceKeepsTheCapAndTheInitResponsive) {
    init_harness h;
    init::spec s = small_logs();
    s.services = {sh_service("flood", "exec yes"), sh_service("crash", "exit 1", restart_policy::always)};
    h.start(s);
    // 100 + 200 + 400 ms of back-off.
    ASSERT_TRUE(init_harness::eventually([&] { return h.service("crash").value("restarts", 0) >= 3; }, 3000ms));
    std::this_thread::sleep_for(1000ms);
    EXPECT_TRUE(std::filesystem::exists(h.dir() + "/flood.log.1"));  // it did rotate
    EXPECT_LE(log_bytes(h, "flood"), 2 * 64 * 1024u);
    EXPECT_EQ(h.service("flood")["state"], "running");
    auto before = std::chrono::steady_clock::now();
    h.signal(SIGTERM);
    EXPECT_EQ(h.wait(3000ms), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - before, 1500ms);
    EXPECT_LE(log_bytes(h, "flood"), 2 * 64 * 1024u);
    EXPECT_EQ(h.service("flood")["log_errors"], 0);
    // Every line is whole and stamped.
    auto text = h.text("flood.log");
    EXPECT_EQ(text.find("<no timestamp>"), std::string::npos);
    EXPECT_EQ(text.find_first_not_of("y\n"), std::string::npos);
}

TEST(InitOutput, ALastLineWithoutNewlineIsWrittenWhenTheServiceExits) {
    init_harness h;
    init::spec s;
    s.services = {sh_service("svc", "printf 'first\\nno newline'")};
    h.start(s);
    ASSERT_TRUE(init_harness::eventually([&] { return h.service("svc")["state"] == "exited"; }));
    EXPECT_EQ(h.text("svc.log"), "first\nno newline\n");
}

// Daemons a service left behind keep writing into the service's log.
TEST(InitOutput, OutputOfWhatAServiceLeftBehindIsLoggedToo) {
    init_harness h;
    init::spec s;
    s.services = {sh_service("svc", "(sleep 0.3; echo from-orphan) & echo parent-done")};
    h.start(s);
    ASSERT_TRUE(init_harness::eventually([&] { return h.text("svc.log") == "parent-done\nfrom-orphan\n"; }))
        << h.read("svc.log");
}

TEST(InitOutput, StatusTellsWhenAServiceEndedAndItsBackoff) {
    init_harness h;
    init::spec s;
    s.backoff_initial = 3000ms;  // the second restart's: long enough to look at "restarting"
    s.services = {sh_service("crash", "exit 3", restart_policy::always), sh_service("once", "kill -9 $$")};
    h.start(s);
    // The first exit is published as "restarting" too, with 0 ms, until the
    // loop restarts it: on a loaded machine a poll can see that one, so wait
    // for the second exit's (restarts counts the first, immediate restart).
    ASSERT_TRUE(init_harness::eventually([&] {
        auto crash = h.service("crash");
        return crash["state"] == "restarting" && crash.value("restarts", 0) == 1 &&
               h.service("once")["state"] == "exited";
    })) << h.status();
    auto crash = h.service("crash");
    EXPECT_EQ(crash["state"], "restarting");
    EXPECT_EQ(crash["last_exit"], "status 3");
    EXPECT_EQ(crash["restart_in_ms"], 3000);  // the first restart was immediate, the second waits
    std::regex stamp("^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z$");
    EXPECT_TRUE(std::regex_match(crash["last_exit_at"].get<std::string>(), stamp)) << crash;
    auto once = h.service("once");
    EXPECT_EQ(once["last_exit"], "signal 9");
    EXPECT_TRUE(once["restart_in_ms"].is_null()) << once;
    EXPECT_EQ(once["log_errors"], 0);
    EXPECT_TRUE(once["log_error"].is_null()) << once;
    EXPECT_EQ(h.status()["init"]["log_errors"], 0);
}

// A log that cannot be written (here: its name is taken by a directory)
// costs lines, never the init: the errors are counted in services.json and
// the service keeps running (its writes to the pipe still succeed).
TEST(InitOutput, LogWriteErrorsAreCountedNotFatal) {
    init_harness h;
    ASSERT_EQ(::mkdir((h.dir() + "/svc.log").c_str(), 0700), 0);
    init::spec s;
    s.services = {sh_service("svc", "while :; do echo tick; sleep 0.05; done")};
    h.start(s);
    ASSERT_TRUE(init_harness::eventually([&] { return h.service("svc").value("log_errors", 0) >= 5; }, 5000ms))
        << h.status();
    auto svc = h.service("svc");
    EXPECT_EQ(svc["state"], "running");
    EXPECT_NE(svc["log_error"].get<std::string>().find("opening svc.log: Is a directory"), std::string::npos) << svc;
    h.signal(SIGTERM);
    EXPECT_EQ(h.wait(5000ms), 0);
}

// init.log is bounded the same way: a crash loop writes two lines per
// restart.
TEST(InitOutput, InitLogIsBoundedToo) {
    init_harness h;
    init::spec s;
    s.logs.size = 20000;
    s.logs.line = 1000;
    s.backoff_initial = 1ms;
    s.backoff_max = 1ms;
    s.services = {sh_service("crash", "exit 1", restart_policy::always)};
    h.start(s);
    ASSERT_TRUE(init_harness::eventually([&] { return std::filesystem::exists(h.dir() + "/init.log.1"); }, 20000ms));
    h.signal(SIGTERM);
    EXPECT_EQ(h.wait(5000ms), 0);
    EXPECT_LE(std::filesystem::file_size(h.dir() + "/init.log"), 20000u);
    EXPECT_LE(std::filesystem::file_size(h.dir() + "/init.log.1"), 20000u);
    EXPECT_FALSE(std::filesystem::exists(h.dir() + "/init.log.2"));
}

// A recreated container's init finds the logs of the one before: it appends
// to its services' logs and removes those of services it no longer runs.
TEST(InitOutput, AnEarlierInitsLogsAreKeptForItsServicesOnly) {
    init_harness h;
    sys::write_file_atomic(h.dir() + "/svc.log", "2026-01-01T00:00:00.000Z before\n", 0640, false);
    sys::write_file_atomic(h.dir() + "/gone.log", "2026-01-01T00:00:00.000Z old\n", 0640, false);
    init::spec s;
    s.services = {sh_service("svc", "echo after")};
    h.start(s);
    ASSERT_TRUE(init_harness::eventually([&] { return h.service("svc")["state"] == "exited"; }));
    EXPECT_EQ(h.text("svc.log"), "before\nafter\n");
    EXPECT_FALSE(std::filesystem::exists(h.dir() + "/gone.log"));
}

}  // namespace
}  // namespace moat::test
