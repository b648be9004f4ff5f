// The init's bounded logs (src/init/log_file.hpp): timestamps, line
// splitting, rotation boundaries, pruning, and a full disk.
#include "init/journal.hpp"
#include "init/log_file.hpp"
#include "sys/fs.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <regex>
#include <sstream>

namespace moat::test {
namespace {

using init::log_limits;
using init::detail::line_log;
using init::detail::rfc3339_ms;
using init::detail::rotating_log;
using init::detail::wall_clock;

class log_dir {
public:
    log_dir() {
        char tmpl[] = "/tmp/moat-log-test-XXXXXX";
        if (!::mkdtemp(tmpl)) {
            throw std::runtime_error("mkdtemp failed");
        }
        _path = tmpl;
        _fd = ::open(_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    ~log_dir() {
        ::close(_fd);
        sys::remove_tree(_path);
    }
    int fd() const { return _fd; }
    const std::string& path() const { return _path; }
    std::string read(const std::string& name) const {
        return sys::path_exists(_path + "/" + name) ? sys::read_file(_path + "/" + name) : "";
    }
    bool exists(const std::string& name) const { return sys::path_exists(_path + "/" + name); }
    void write(const std::string& name, const std::string& text) const {
        sys::write_file_atomic(_path + "/" + name, text, 0600, false);
    }

private:
    std::string _path;
    int _fd = -1;
};

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        out.push_back(line);
    }
    return out;
}

wall_clock::time_point at_ms(long long ms) { return wall_clock::time_point(std::chrono::milliseconds(ms)); }

TEST(InitLog, TimestampsAreRfc3339UtcWithMilliseconds) {
    EXPECT_EQ(rfc3339_ms(at_ms(0)), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(rfc3339_ms(at_ms(1795914123456LL)), "2026-11-29T01:02:03.456Z");
    EXPECT_EQ(rfc3339_ms(at_ms(1795914123999LL)), "2026-11-29T01:02:03.999Z");
    EXPECT_EQ(rfc3339_ms(at_ms(-1)), "1969-12-31T23:59:59.999Z");
    // Leap days and century years (2000 is a leap year), against Python's datetime.
    EXPECT_EQ(rfc3339_ms(at_ms(1709251199999LL)), "2024-02-29T23:59:59.999Z");
    EXPECT_EQ(rfc3339_ms(at_ms(951868800000LL)), "2000-03-01T00:00:00.000Z");
    EXPECT_EQ(rfc3339_ms(at_ms(4102444799000LL)), "2099-12-31T23:59:59.000Z");
    EXPECT_EQ(rfc3339_ms(at_ms(-31622400000LL)), "1968-12-31T00:00:00.000Z");
}

TEST(InitLog, EachLineGetsTheTimeItsFirstByteWasRead) {
    log_dir d;
    line_log log(d.fd(), "svc.log", {});
    log.feed("one\ntwo\nthr", at_ms(1000));
    EXPECT_EQ(d.read("svc.log"), "1970-01-01T00:00:01.000Z one\n1970-01-01T00:00:01.000Z two\n");
    log.feed("ee\n\nfour", at_ms(2500));
    // "three" started at 1.000 s; the empty line is a line too.
    EXPECT_EQ(lines_of(d.read("svc.log")).at(2), "1970-01-01T00:00:01.000Z three");
    EXPECT_EQ(lines_of(d.read("svc.log")).at(3), "1970-01-01T00:00:02.500Z ");
    EXPECT_EQ(lines_of(d.read("svc.log")).size(), 4u);  // "four" waits for its newline
    log.flush();
    EXPECT_EQ(lines_of(d.read("svc.log")).at(4), "1970-01-01T00:00:02.500Z four");
    log.flush();  // nothing pending: nothing written
    EXPECT_EQ(lines_of(d.read("svc.log")).size(), 5u);
}

TEST(InitLog, LinesWithoutNewlineAreCutAtTheLimit) {
    log_dir d;
    log_limits limits;
    limits.line = 100;
    line_log log(d.fd(), "svc.log", limits);
    log.feed(std::string(250, 'x'), at_ms(0));
    auto lines = lines_of(d.read("svc.log"));
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], "1970-01-01T00:00:00.000Z " + std::string(100, 'x'));
    EXPECT_EQ(lines[1], lines[0]);
    // 50 pending + 60 more with a newline: cut at 100, then the rest.
    log.feed(std::string(60, 'y') + "\n" + std::string(100, 'z') + "\n", at_ms(0));
    lines = lines_of(d.read("svc.log"));
    ASSERT_EQ(lines.size(), 5u);
    EXPECT_EQ(lines[2].substr(25), std::string(50, 'x') + std::string(50, 'y'));
    EXPECT_EQ(lines[3].substr(25), std::string(10, 'y'));
    EXPECT_EQ(lines[4].substr(25), std::string(100, 'z'));  // exactly the limit: one line
}

// Writes `count` numbered lines of 20 bytes through a rotating_log.
void write_numbered(rotating_log& log, int from, int count) {
    for (int i = from; i < from + count; ++i) {
        char line[32];
        std::snprintf(line, sizeof line, "line %014d\n", i);
        log.append(line);
    }
}

// The files, oldest first, must hold whole lines, each at most `size`
// bytes, and together a contiguous tail of what was written.
void expect_tail(const log_dir& d, const std::vector<std::string>& files, std::uint64_t size, int last) {
    std::string all;
    for (const auto& f : files) {
        auto text = d.read(f);
        EXPECT_LE(text.size(), size) << f;
        EXPECT_TRUE(text.empty() || text.back() == '\n') << f;
        all += text;
    }
    auto lines = lines_of(all);
    ASSERT_FALSE(lines.empty());
    int first = last - static_cast<int>(lines.size()) + 1;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        char want[32];
        std::snprintf(want, sizeof want, "line %014d", first + static_cast<int>(i));
        ASSERT_EQ(lines[i], want) << "at " << i;
    }
}

TEST(InitLog, RotatesBetweenLinesAndKeepsTheCap) {
    log_dir d;
    log_limits limits;
    limits.line = 100;
    limits.size = 1000;  // 50 lines of 20 bytes
    limits.files = 2;
    rotating_log log(d.fd(), "svc.log", limits);
    write_numbered(log, 0, 50);
    EXPECT_EQ(d.read("svc.log").size(), 1000u);  // exactly full: not rotated yet
    EXPECT_FALSE(d.exists("svc.log.1"));
    write_numbered(log, 50, 1);
    EXPECT_EQ(d.read("svc.log.1").size(), 1000u);
    EXPECT_EQ(d.read("svc.log"), "line 00000000000050\n");
    write_numbered(log, 51, 500);
    EXPECT_FALSE(d.exists("svc.log.2"));
    expect_tail(d, {"svc.log.1", "svc.log"}, 1000, 550);
    EXPECT_EQ(log.errors(), 0u);
}

TEST(InitLog, BatchesAreSplitAtLineBoundaries) {
    log_dir d;
    log_limits limits;
    limits.line = 100;
    limits.size = 1000;
    rotating_log log(d.fd(), "svc.log", limits);
    write_numbered(log, 0, 45);  // 900 bytes; then a batch of 10 lines: 5 fit
    std::string batch;
    for (int i = 45; i < 55; ++i) {
        char line[32];
        std::snprintf(line, sizeof line, "line %014d\n", i);
        batch += line;
    }
    log.append(batch);
    EXPECT_EQ(d.read("svc.log.1").size(), 1000u);
    EXPECT_EQ(d.read("svc.log").size(), 100u);
    expect_tail(d, {"svc.log.1", "svc.log"}, 1000, 54);
}

TEST(InitLog, MoreFilesShiftAndOneFileStartsOver) {
    log_dir d;
    log_limits limits;
    limits.line = 100;
    limits.size = 1000;
    limits.files = 4;
    {
        rotating_log log(d.fd(), "a.log", limits);
        write_numbered(log, 0, 1000);
    }
    EXPECT_TRUE(d.exists("a.log.3"));
    EXPECT_FALSE(d.exists("a.log.4"));
    expect_tail(d, {"a.log.3", "a.log.2", "a.log.1", "a.log"}, 1000, 999);
    limits.files = 1;
    rotating_log one(d.fd(), "b.log", limits);
    write_numbered(one, 0, 120);
    EXPECT_FALSE(d.exists("b.log.1"));
    expect_tail(d, {"b.log"}, 1000, 119);
    EXPECT_EQ(d.read("b.log").size(), 400u);  // 100 lines, 20 more: started over at 100
}

TEST(InitLog, AFileLeftByAnEarlierInitCountsTowardsTheCap) {
    log_dir d;
    d.write("svc.log", std::string(990, 'o') + "\n");  // a recreated container's log
    log_limits limits;
    limits.line = 100;
    limits.size = 1000;
    rotating_log log(d.fd(), "svc.log", limits);
    write_numbered(log, 0, 1);
    EXPECT_EQ(d.read("svc.log.1").size(), 991u);
    EXPECT_EQ(d.read("svc.log"), "line 00000000000000\n");
}

TEST(InitLog, ASymlinkPlantedAsTheLogIsNotFollowed) {
    log_dir d;
    ASSERT_EQ(::symlink((d.path() + "/elsewhere").c_str(), (d.path() + "/svc.log").c_str()), 0);
    rotating_log log(d.fd(), "svc.log", {});
    log.append("x\n");
    EXPECT_FALSE(d.exists("elsewhere"));
    EXPECT_EQ(log.errors(), 1u);
    EXPECT_NE(log.last_error().find("opening svc.log"), std::string::npos) << log.last_error();
}

TEST(InitLog, PruneRemovesLogsOfServicesNoLongerRunAndFilesPastTheCount) {
    log_dir d;
    for (const char* f : {"web.log", "web.log.1", "web.log.2", "old.log", "old.log.1", "init.log", "init.log.1",
                          "init.log.5", "services.json", "notes.txt"}) {
        d.write(f, "x\n");
    }
    init::detail::prune_logs(d.fd(), {"web", "new"}, 2);
    for (const char* kept : {"web.log", "web.log.1", "init.log", "init.log.1", "services.json", "notes.txt"}) {
        EXPECT_TRUE(d.exists(kept)) << kept;
    }
    for (const char* gone : {"web.log.2", "old.log", "old.log.1", "init.log.5"}) {
        EXPECT_FALSE(d.exists(gone)) << gone;
    }
}

bool write_proc(const char* path, const std::string& text) {
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    if (fd >= 0) {
        ::close(fd);
    }
    return ok;
}

// A full disk: a 64 KiB tmpfs in a mount namespace of a child (a user
// namespace makes that possible without root). Writes fail with ENOSPC,
// are counted, and never throw; rotating drops the oldest file, which frees
// space, and writing resumes. Returns the child's exit code.
int full_disk_child(const std::string& dir) {
    // Root inside the user namespace must be someone outside, or it could
    // create no file (EOVERFLOW).
    std::string uid = "0 " + std::to_string(::getuid()) + " 1";
    std::string gid = "0 " + std::to_string(::getgid()) + " 1";
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0 || !write_proc("/proc/self/uid_map", uid) ||
        !write_proc("/proc/self/setgroups", "deny") || !write_proc("/proc/self/gid_map", gid) ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=64k") != 0) {
        std::fprintf(stderr, "no tmpfs in a user namespace here: %s\n", std::strerror(errno));
        return 2;
    }
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    log_limits limits;
    limits.line = 1000;
    limits.size = 40 * 1024;  // two files of 40 KiB do not fit in 64 KiB
    limits.files = 2;
    rotating_log log(fd, "svc.log", limits);
    std::string line(999, 'x');
    line += '\n';
    int first_error = -1;
    for (int i = 0; i < 200; ++i) {
        log.append(line);
        if (log.errors() > 0 && first_error < 0) {
            first_error = i;
        }
    }
    log.append("last line\n");
    struct stat st {};
    ::fstatat(fd, "svc.log", &st, 0);
    std::string tail(10, '\0');
    int cur = ::openat(fd, "svc.log", O_RDONLY | O_CLOEXEC);
    bool last = cur >= 0 && st.st_size >= 10 && ::pread(cur, tail.data(), 10, st.st_size - 10) == 10 && tail == "last line\n";
    bool full = first_error >= 0 && log.last_error().find("No space left on device") != std::string::npos;
    std::fprintf(stderr, "errors %llu, first at line %d, last \"%s\", current file %lld bytes\n",
                 static_cast<unsigned long long>(log.errors()), first_error, log.last_error().c_str(),
                 static_cast<long long>(st.st_size));
    return full && last && st.st_size <= 40 * 1024 ? 0 : 1;
}

TEST(InitLog, AFullDiskIsCountedAndSurvived) {
    log_dir d;
    EXPECT_EXIT(::_exit(full_disk_child(d.path())), ::testing::ExitedWithCode(0), "");
}

// services.json is written when what it says changes, not at every
// change of the init's own state: a command's exit and the stop it begins
// published the same text twice, two files written and renamed on the way
// from the command's exit to the init's (issue 17). The file is replaced
// by hand between the calls: a write would put the status back.
TEST(Journal, ServicesJsonIsRewrittenOnlyWhenItsTextChanges) {
    log_dir d;
    init::detail::journal j(d.fd(), log_limits{});
    init::detail::service_status web;
    web.name = "web";
    web.state = "running";
    web.pid = 42;
    j.status({web});
    const std::string first = d.read("services.json");
    ASSERT_NE(first.find("\"web\""), std::string::npos) << first;
    ASSERT_NE(first.find("\"running\""), std::string::npos) << first;

    d.write("services.json", "replaced\n");
    j.status({web});  // the same text: not written
    EXPECT_EQ(d.read("services.json"), "replaced\n");

    web.state = "exited";  // control: a change is written at once
    web.pid = 0;
    j.status({web});
    const std::string changed = d.read("services.json");
    EXPECT_NE(changed.find("\"exited\""), std::string::npos) << changed;
    EXPECT_FALSE(d.exists("services.json.tmp"));
}

}  // namespace
}  // namespace moat::test
