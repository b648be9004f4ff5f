// moat logs NAME [SERVICE] [-f]: the service output its init wrote to the
// state directory. Several services are prefixed "service | " like
// `docker compose logs`; -f follows until interrupted or the container ends.
//
// Each line starts with the time the init read it (RFC 3339, UTC, ms). A
// log is <service>.log and the rotated <service>.log.1 (.2, ...: the
// higher, the older), printed oldest first. After a service's lines, a line
// "-- ..." tells how it last ended (services.json): its exit status or
// signal, when, and its restart and back-off. -f reads each log through a
// descriptor: when the init rotates (the name now points to a new file),
// it reads the rest of the old file, then any newer rotated ones, then the
// new file, so rotation loses nothing unless the log turned over completely
// between two looks (0.1 s).
//
// What a service wrote is shown with its control bytes as \xHH (an escape
// sequence from a hostile container would otherwise set the operator's
// window title, write the clipboard or overwrite lines: sys/printable.hpp);
// --raw writes the bytes as logged, colours included.
#include "cli/commands.hpp"
#include "container/runtime.hpp"
#include "state/store.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/printable.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

namespace moat::cli {

namespace {

struct log_source {
    std::string service;
    std::string path;  // the current file, <dir>/<service>.log
    std::string restart;  // its policy, for the "-- " line
    sys::unique_fd fd;
    ino_t ino = 0;
    off_t offset = 0;
    std::string partial;   // an unfinished last line, held until its newline
    std::string reported;  // the last end already told (-f)
};

// How lines are written: with a "service | " prefix when several services
// are shown; as the bytes were logged (--raw) or with every control byte
// as \xHH (sys/printable.hpp), so that a container's output cannot drive
// the operator's terminal.
struct output {
    bool prefixed = false;
    bool raw = false;
};

void print_line(const log_source& src, const output& o, std::string_view line) {
    if (o.prefixed) {
        std::printf("%s | ", src.service.c_str());
    }
    if (o.raw) {
        std::fwrite(line.data(), 1, line.size(), stdout);
    } else {
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);  // CRLF output: the CR only moves the cursor back
        }
        auto safe = sys::printable(line);
        std::fwrite(safe.data(), 1, safe.size(), stdout);
    }
    std::fputc('\n', stdout);
}

void print_lines(log_source& src, const output& o, bool flush_partial) {
    std::string_view all(src.partial);
    size_t start = 0;
    for (size_t nl; (nl = all.find('\n', start)) != std::string::npos; start = nl + 1) {
        print_line(src, o, all.substr(start, nl - start));
    }
    src.partial.erase(0, start);
    if (flush_partial && !src.partial.empty()) {
        print_line(src, o, src.partial);
        src.partial.clear();
    }
}

// Reads what was appended to the open file since the last call.
bool read_more(log_source& src) {
    bool any = false;
    char buf[65536];
    for (ssize_t n; src.fd && (n = ::pread(src.fd.get(), buf, sizeof buf, src.offset)) > 0;) {
        src.offset += n;
        src.partial.append(buf, static_cast<size_t>(n));
        any = true;
    }
    return any;
}

ino_t inode_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// The rotated files that exist, newest (.1) first.
std::vector<std::string> rotated_files(const std::string& path) {
    std::vector<std::string> out;
    for (int k = 1; k <= 10 && sys::path_exists(path + "." + std::to_string(k)); ++k) {
        out.push_back(path + "." + std::to_string(k));
    }
    return out;
}

void read_whole(log_source& src, const std::string& path, const output& o) {
    try {
        src.partial += sys::read_file(path);
    } catch (const std::exception&) {
        return;  // rotated away meanwhile
    }
    print_lines(src, o, true);
}

void open_current(log_source& src) {
    src.fd.reset(::open(src.path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    src.ino = src.fd && ::fstat(src.fd.get(), &st) == 0 ? st.st_ino : 0;
    src.offset = 0;
}

// The init renamed the file we read to .1 (or removed it): finish it, read
// whatever came between, and go on with the new current file.
bool follow_rotation(log_source& src, const output& o) {
    ino_t now = inode_of(src.path);
    if (now == 0 || now == src.ino) {
        return false;
    }
    read_more(src);
    print_lines(src, o, true);
    auto rotated = rotated_files(src.path);
    std::size_t ours = rotated.size();
    for (std::size_t k = 0; k < rotated.size(); ++k) {
        if (src.ino != 0 && inode_of(rotated[k]) == src.ino) {
            ours = k;
        }
    }
    for (std::size_t k = ours; k-- > 0;) {
        read_whole(src, rotated[k], o);
    }
    open_current(src);
    return true;
}

nlohmann::json services_json(const std::string& dir) {
    try {
        return nlohmann::json::parse(sys::read_file(dir + "/services.json"));
    } catch (const std::exception&) {
        return nlohmann::json::object();
    }
}

std::string ordinal(int n) {
    const char* suffix = (n % 100 >= 11 && n % 100 <= 13) ? "th"
                         : n % 10 == 1                    ? "st"
                         : n % 10 == 2                    ? "nd"
                         : n % 10 == 3                    ? "rd"
                                                          : "th";
    return std::to_string(n) + suffix;
}

// "exited with status 1" / "was killed by signal 9 (SIGKILL)"
std::string how_it_ended(const std::string& last_exit) {
    if (last_exit.rfind("signal ", 0) == 0) {
        int sig = std::atoi(last_exit.c_str() + 7);
        const char* abbrev = ::sigabbrev_np(sig);
        return "was killed by " + last_exit + (abbrev ? std::string(" (SIG") + abbrev + ")" : "");
    }
    return "exited with " + last_exit;
}

// "-- greeting exited with status 1 at 2026-...Z, restarting in 400 ms (3rd restart)"
std::string end_line(const log_source& src, const nlohmann::json& st) {
    auto last = st.find("last_exit");
    if (last == st.end() || !last->is_string()) {
        return "";
    }
    std::string line = "-- " + src.service + " " + how_it_ended(*last);
    if (auto at = st.find("last_exit_at"); at != st.end() && at->is_string()) {
        line += " at " + at->get<std::string>();
    }
    std::string state = st.value("state", "");
    int restarts = st.value("restarts", 0);
    if (state == "restarting") {
        auto in = st.find("restart_in_ms");
        line += ", restarting" + (in != st.end() && in->is_number() ? " in " + std::to_string(in->get<long long>()) + " ms" : "") +
                " (" + ordinal(restarts + 1) + " restart)";
    } else if (state == "running") {
        line += ", restarted (" + ordinal(restarts) + " restart)";
    } else if (state == "exited") {
        line += ", not restarted (restart = \"" + src.restart + "\")";
    } else if (state == "stopped") {
        line += " as its container stopped";
    }
    return line;
}

// "-- greeting: 3 log writes failed, lines were lost (last: writing greeting.log: No space left on device)"
std::string error_line(const std::string& who, const nlohmann::json& st) {
    auto n = st.value("log_errors", std::uint64_t{0});
    if (n == 0) {
        return "";
    }
    auto last = st.find("log_error");
    return "-- " + who + ": " + std::to_string(n) + " log write" + (n == 1 ? "" : "s") + " failed, lines were lost" +
           (last != st.end() && last->is_string() ? " (last: " + last->get<std::string>() + ")" : "");
}

// The "-- " lines of a source, from services.json; in follow mode only an
// end not told yet.
void tell_end(log_source& src, const nlohmann::json& all, bool follow) {
    nlohmann::json st = src.service == "init" ? all.value("init", nlohmann::json::object())
                                              : all.value("services", nlohmann::json::object()).value(src.service, nlohmann::json::object());
    std::string end = end_line(src, st);
    std::string key = end.empty() ? "" : st.value("last_exit_at", std::string()) + st.value("last_exit", std::string());
    bool told = key == src.reported;
    src.reported = key;
    if (follow) {
        if (told) {
            return;
        }
    } else {
        std::string errors = error_line(src.service, st);
        end += (end.empty() || errors.empty() ? "" : "\n") + errors;
    }
    if (!end.empty()) {
        std::printf("%s\n", end.c_str());
    }
}

}  // namespace

int cmd_logs(const globals& g, const std::string& name, const std::string& service, bool follow, bool raw) {
    state::store store(g.state_dir);
    // Read-only: a missing state dir is not created, it has no containers.
    auto rec = store.exists() ? store.load(name) : std::nullopt;
    if (!rec) {
        throw moat::error("no container named '" + name + "' in " + g.state_dir);
    }
    std::string dir = store.container_dir(name) + "/logs";
    std::vector<log_source> sources;
    const auto& services = rec->spec.at("services");
    // A container without services (a `moat run` kept without --rm, whose
    // command wrote to its caller) has its init's log and nothing else.
    if (service == "init" || (service.empty() && services.empty())) {
        sources.push_back({"init", dir + "/init.log", "", {}, 0, 0, "", ""});
    }
    for (const auto& s : services) {
        std::string svc = s.at("name");
        if (service.empty() || service == svc) {
            sources.push_back({svc, dir + "/" + svc + ".log", s.value("restart", "no"), {}, 0, 0, "", ""});
        }
    }
    if (sources.empty()) {
        throw usage_error("container '" + name + "' has no service named '" + service + "'");
    }
    const output o{sources.size() > 1, raw};
    // Open every current file first: a rotation while the older ones are
    // read then repeats lines rather than losing them.
    for (auto& s : sources) {
        open_current(s);
    }
    auto status = services_json(dir);
    for (auto& s : sources) {
        auto rotated = rotated_files(s.path);
        for (auto it = rotated.rbegin(); it != rotated.rend(); ++it) {
            read_whole(s, *it, o);
        }
        read_more(s);
        print_lines(s, o, !follow);
        tell_end(s, status, false);
    }
    std::fflush(stdout);
    while (follow && container::running(*rec)) {
        bool any = false;
        for (auto& s : sources) {
            any = read_more(s) || any;
            any = follow_rotation(s, o) || any;
            print_lines(s, o, false);
        }
        status = services_json(dir);
        for (auto& s : sources) {
            tell_end(s, status, true);
        }
        std::fflush(stdout);
        if (!any) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    if (follow) {
        for (auto& s : sources) {
            read_more(s);
            print_lines(s, o, true);
        }
    }
    return 0;
}

}  // namespace moat::cli
