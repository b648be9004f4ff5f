// moat logs NAME [SERVICE] [-f]: the service output its init wrote to the
// state directory. Several services are prefixed "service | " like
// `docker compose logs`; -f follows until interrupted or the container ends.
#include "cli/commands.hpp"
#include "container/runtime.hpp"
#include "state/store.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

namespace moat::cli {

namespace {

struct log_source {
    std::string service;
    std::string path;
    off_t offset = 0;
    std::string partial;  // an unfinished last line, held until its newline
};

// Prints what was appended since the last call; returns whether anything was.
bool drain(log_source& src, bool prefixed, bool flush_partial) {
    sys::unique_fd fd(::open(src.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return false;
    }
    bool any = false;
    char buf[65536];
    for (;;) {
        ssize_t n = ::pread(fd.get(), buf, sizeof buf, src.offset);
        if (n <= 0) {
            break;
        }
        src.offset += n;
        src.partial.append(buf, static_cast<size_t>(n));
        any = true;
    }
    size_t start = 0;
    for (size_t nl; (nl = src.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
        if (prefixed) {
            std::printf("%s | ", src.service.c_str());
        }
        std::fwrite(src.partial.data() + start, 1, nl + 1 - start, stdout);
    }
    src.partial.erase(0, start);
    if (flush_partial && !src.partial.empty()) {
        std::printf("%s%s\n", prefixed ? (src.service + " | ").c_str() : "", src.partial.c_str());
        src.partial.clear();
    }
    std::fflush(stdout);
    return any;
}

}  // namespace

int cmd_logs(const globals& g, const std::string& name, const std::string& service, bool follow) {
    state::store store(g.state_dir);
    // Read-only: a missing state dir is not created, it has no containers.
    auto rec = store.exists() ? store.load(name) : std::nullopt;
    if (!rec) {
        throw moat::error("no container named '" + name + "' in " + g.state_dir);
    }
    std::string dir = store.container_dir(name) + "/logs";
    std::vector<log_source> sources;
    if (!service.empty()) {
        bool known = service == "init";
        for (const auto& s : rec->spec.at("services")) {
            known = known || s.at("name") == service;
        }
        if (!known) {
            throw usage_error("container '" + name + "' has no service named '" + service + "'");
        }
        sources.push_back({service, dir + "/" + service + ".log", 0, ""});
    } else {
        for (const auto& s : rec->spec.at("services")) {
            std::string svc = s.at("name");
            sources.push_back({svc, dir + "/" + svc + ".log", 0, ""});
        }
    }
    bool prefixed = sources.size() > 1;
    for (auto& s : sources) {
        drain(s, prefixed, !follow);
    }
    while (follow && container::running(*rec)) {
        bool any = false;
        for (auto& s : sources) {
            any = drain(s, prefixed, false) || any;
        }
        if (!any) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    for (auto& s : sources) {
        drain(s, prefixed, true);
    }
    return 0;
}

}  // namespace moat::cli
