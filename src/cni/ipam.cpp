#include "cni/ipam.hpp"

#include "sys/error.hpp"
#include "sys/spawn.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

extern char** environ;

namespace moat::cni::ipam {
namespace {

using nlohmann::json;

struct pipe_pair {
    sys::unique_fd read, write;
};

pipe_pair make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw sys::errno_error("creating a pipe to the IPAM plugin");
    }
    return {sys::unique_fd(fds[0]), sys::unique_fd(fds[1])};
}

// The spawned plugin: killed and reaped if we leave before waiting for it.
struct child {
    pid_t pid = -1;
    ~child() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
            }
        }
    }
    int wait() {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0) {
            if (errno != EINTR) {
                throw sys::errno_error("waiting for the IPAM plugin");
            }
        }
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
};

// A plugin that exits without reading its stdin must not kill us with
// SIGPIPE: the write then fails with EPIPE, which we ignore.
struct ignore_sigpipe {
    struct sigaction old {};
    ignore_sigpipe() {
        struct sigaction ign {};
        ign.sa_handler = SIG_IGN;
        ::sigaction(SIGPIPE, &ign, &old);
    }
    ~ignore_sigpipe() { ::sigaction(SIGPIPE, &old, nullptr); }
};

// The plugin's stdio is our pipes and nothing else of ours (the state lock)
// leaks; SIGPIPE back to its default, whatever ignore_sigpipe did here.
void prepare(sys::spawn_setup& s, int in, int out, int err) {
    s.dup2(in, 0);
    s.dup2(out, 1);
    s.dup2(err, 2);
    s.close_from(3);
    sigset_t none, pipe;
    sigemptyset(&none);
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    s.signal_mask(none);
    s.default_signals(pipe);
}

std::vector<std::string> environment(const std::string& command, const std::map<std::string, std::string>& overrides) {
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string entry = *e;
        std::string key = entry.substr(0, entry.find('='));
        if (key != "CNI_COMMAND" && !overrides.count(key)) {
            env.push_back(std::move(entry));
        }
    }
    env.push_back("CNI_COMMAND=" + command);
    for (const auto& [k, v] : overrides) {
        env.push_back(k + "=" + v);
    }
    return env;
}

// One pipe end the pump serves: stdin to feed, or stdout/stderr to drain.
struct stream {
    sys::unique_fd fd;
    std::string* sink = nullptr;  // nullptr: the plugin's stdin
};

// Returns false when the stream is done (EOF, all written, or the plugin
// closed its end: EPIPE).
bool serve(stream& s, const std::string& input, std::size_t& sent) {
    if (s.sink == nullptr) {
        ssize_t w = ::write(s.fd.get(), input.data() + sent, input.size() - sent);
        if (w > 0) {
            sent += static_cast<std::size_t>(w);
        }
        return sent < input.size() && (w >= 0 || errno == EAGAIN || errno == EINTR);
    }
    char buf[4096];
    ssize_t r = ::read(s.fd.get(), buf, sizeof buf);
    if (r > 0) {
        s.sink->append(buf, static_cast<std::size_t>(r));
    }
    return r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR));
}

// Feeds stdin and drains stdout and stderr at once: a plugin that writes
// much before it reads must not deadlock against us.
void pump(sys::unique_fd in, sys::unique_fd out, sys::unique_fd err, const std::string& input, output& o) {
    ignore_sigpipe guard;
    std::vector<stream> streams;
    if (!input.empty()) {
        ::fcntl(in.get(), F_SETFL, O_NONBLOCK);
        streams.push_back({std::move(in), nullptr});
    } else {
        in.reset();  // EOF at once: the plugin's read of its stdin must end
    }
    streams.push_back({std::move(out), &o.out});
    streams.push_back({std::move(err), &o.err});
    std::size_t sent = 0;
    while (!streams.empty()) {
        std::vector<pollfd> p;
        for (const auto& s : streams) {
            p.push_back({s.fd.get(), static_cast<short>(s.sink == nullptr ? POLLOUT : POLLIN), 0});
        }
        if (::poll(p.data(), p.size(), -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw sys::errno_error("polling the IPAM plugin's pipes");
        }
        for (std::size_t i = p.size(); i-- > 0;) {
            if (p[i].revents != 0 && !serve(streams[i], input, sent)) {
                streams.erase(streams.begin() + static_cast<std::ptrdiff_t>(i));
            }
        }
    }
}

std::string stdin_of(const request& r) { return r.config.dump(); }

std::string plugin_of(const request& r, const netconf& nc) { return find_plugin(nc.ipam_type, r.path); }

}  // namespace

std::string find_plugin(const std::string& type, const std::vector<std::string>& path) {
    std::string list;
    for (const auto& dir : path) {
        list += (list.empty() ? "" : " ") + dir;
    }
    if (type.empty() || type.find('/') != std::string::npos || type == "." || type == "..") {
        throw error(code::invalid_config, "\"ipam\": \"type\" must name a plugin binary, not \"" + type + "\"");
    }
    for (const auto& dir : path) {
        std::string file = dir + "/" + type;
        struct stat st {};
        if (::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(file.c_str(), X_OK) == 0) {
            return file;
        }
    }
    throw error(code::invalid_config, "failed to find plugin \"" + type + "\" in path [" + list + "]",
                "the \"ipam\" plugin is looked for in the directories of CNI_PATH");
}

output run(const std::string& plugin, const std::string& command, const std::string& stdin_text,
           const std::map<std::string, std::string>& overrides) {
    auto in = make_pipe();
    auto out = make_pipe();
    auto err = make_pipe();
    auto env = environment(command, overrides);
    std::vector<char*> envp;
    for (auto& e : env) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    std::string argv0 = plugin;
    char* argv[] = {argv0.data(), nullptr};
    child c;
    {
        sys::spawn_setup s("preparing to run the IPAM plugin " + plugin);
        prepare(s, in.read.get(), out.write.get(), err.write.get());
        if (int e = s.spawn(c.pid, plugin.c_str(), argv, envp.data()); e != 0) {
            c.pid = -1;
            throw error(code::internal, "cannot run the IPAM plugin " + plugin, std::strerror(e));
        }
    }
    in.read.reset();
    out.write.reset();
    err.write.reset();
    output o;
    pump(std::move(in.write), std::move(out.read), std::move(err.read), stdin_text, o);
    o.status = c.wait();
    return o;
}

error error_of(const output& o, const std::string& type) {
    auto j = json::parse(o.out, nullptr, false);
    if (j.is_object() && j.contains("code") && j["code"].is_number_integer() && j.contains("msg") &&
        j["msg"].is_string()) {
        std::string details = j.contains("details") && j["details"].is_string() ? j["details"].get<std::string>() : "";
        return error(static_cast<enum code>(j["code"].get<int>()), j["msg"].get<std::string>(), details);
    }
    std::string why = o.err.empty() ? o.out : o.err;
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) {
        why.pop_back();
    }
    return error(code::internal, "the IPAM plugin \"" + type + "\" failed with exit status " + std::to_string(o.status),
                 why);
}

result parse_result(const std::string& out, const std::string& type) {
    auto j = json::parse(out, nullptr, false);
    if (!j.is_object()) {
        throw error(code::decoding_failure, "the IPAM plugin \"" + type + "\" printed no JSON result", out);
    }
    try {
        return result_from_json(j);
    } catch (const error& e) {
        std::string what = e.what();
        if (what.rfind("prevResult: ", 0) == 0) {
            what = what.substr(12);
        }
        throw error(code::decoding_failure, "the IPAM plugin \"" + type + "\" returned a result moat cannot read: " +
                                                what);
    }
}

result exec_add(const request& r, const netconf& nc) {
    auto o = run(plugin_of(r, nc), "ADD", stdin_of(r));
    if (o.status != 0) {
        throw error_of(o, nc.ipam_type);
    }
    return parse_result(o.out, nc.ipam_type);
}

void exec_del(const request& r, const netconf& nc, const std::map<std::string, std::string>& overrides) {
    auto o = run(plugin_of(r, nc), "DEL", stdin_of(r), overrides);
    if (o.status != 0) {
        throw error_of(o, nc.ipam_type);
    }
}

void exec_check(const request& r, const netconf& nc) {
    auto o = run(plugin_of(r, nc), "CHECK", stdin_of(r));
    if (o.status != 0) {
        throw error_of(o, nc.ipam_type);
    }
}

lease::lease(const request& r, const netconf& nc) : _r(r), _nc(nc) {
    if (!nc.ipam_type.empty()) {
        _result = exec_add(r, nc);
    }
}

lease::~lease() {
    if (!_result || _kept) {
        return;
    }
    try {
        exec_del(_r, _nc);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moat: releasing the IPAM lease of the failed ADD: %s\n", e.what());
    }
}

}  // namespace moat::cni::ipam
