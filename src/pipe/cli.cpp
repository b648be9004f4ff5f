// Command lines of spiped 1.6.2 and spipe (same flags, same defaults, usage
// errors exit 1 like spiped), `moat keygen`, and the in-process run().
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <ctime>
#include <thread>

#include "libcrypto/libcrypto.hpp"
#include "pipe/pipe.hpp"
#include "pipe/server.hpp"
#include "sys/error.hpp"

namespace moat::pipe {

namespace {

// `prog` is the name the user typed: "moat pipe", or "spiped" through a symlink.
std::string spiped_usage(const std::string& prog) {
    return "usage: " + prog + " {-e | -d} -s <source socket> -t <target socket> -k <key file>\n"
           "    [-DFj] [-f | -g] [-n <max # connections>] [-o <connection timeout>]\n"
           "    [-p <pidfile>] [-r <rtime> | -R] [--syslog]\n"
           "    [-u {<username> | <:groupname> | <username:groupname>}]\n"
           "       " + prog + " -v\n";
}
std::string spipe_usage(const std::string& prog) {
    return "usage: " + prog + " -t <target socket> -k <key file> [-f | -g] [-j]\n"
           "    [-o <connection timeout>]\n"
           "       " + prog + " -v\n";
}
std::string version(const std::string& prog) { return prog + " (moat 0.1.0, spiped 1.6.2 protocol)"; }

// Parsed getopt-style arguments: flags seen, and values of value options.
struct parsed_args {
    std::set<char> flags;
    std::map<char, std::string> values;
    bool syslog = false;
};

// Throws usage_error on anything spiped would reject at parse time.
parsed_args parse_args(int argc, char** argv, const std::string& with_value, const std::string& flags,
                       bool allow_syslog) {
    parsed_args out;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--syslog" && allow_syslog) {
            out.syslog = true;
            continue;
        }
        if (a.size() < 2 || a[0] != '-' || a[1] == '-') {
            throw usage_error("unexpected argument " + a);
        }
        for (std::size_t j = 1; j < a.size(); ++j) {
            char c = a[j];
            if (with_value.find(c) != std::string::npos) {
                std::string v = a.substr(j + 1);
                if (v.empty()) {
                    if (++i >= argc) {
                        throw usage_error(std::string("missing argument to -") + c);
                    }
                    v = argv[i];
                }
                if (!out.values.emplace(c, v).second) {
                    throw usage_error(std::string("-") + c + " given twice");
                }
                break;
            }
            if (flags.find(c) == std::string::npos) {
                throw usage_error(std::string("unknown option -") + c);
            }
            out.flags.insert(c);
        }
    }
    return out;
}

double parse_number(const std::string& text, char opt, double min, double max) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || errno != 0 || !(v >= min && v <= max)) {
        throw usage_error(std::string("invalid value for -") + opt + ": " + text);
    }
    return v;
}

void drop_privileges(const std::string& spec) {
    auto colon = spec.find(':');
    std::string user = spec.substr(0, colon);
    std::string group_name = colon == std::string::npos ? "" : spec.substr(colon + 1);
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    if (!user.empty()) {
        passwd* pw = getpwnam(user.c_str());
        if (!pw) {
            throw moat::error("no such user: " + user);
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    if (!group_name.empty()) {
        struct group* gr = getgrnam(group_name.c_str());
        if (!gr) {
            throw moat::error("no such group: " + group_name);
        }
        gid = gr->gr_gid;
    }
    // Group first: after setuid we could no longer change it.
    if (gid) {
        sys::check(setgroups(1, &*gid), "setgroups");
        sys::check(setgid(*gid), "setgid");
    }
    if (uid) {
        sys::check(setuid(*uid), "setuid");
    }
}

// fork; the parent returns once the child has written the pidfile.
// Returns true in the child, false in the parent.
bool daemonize(const std::string& prog, const std::string& pidfile) {
    int fds[2];
    sys::check(pipe2(fds, O_CLOEXEC), "creating a pipe");
    sys::unique_fd rd(fds[0]), wr(fds[1]);
    pid_t pid = sys::check(fork(), "forking");
    if (pid > 0) {
        wr.reset();
        char ok = 0;
        if (::read(rd.get(), &ok, 1) != 1) {
            throw moat::error("the daemon did not start");
        }
        return false;
    }
    rd.reset();
    setsid();
    FILE* f = std::fopen(pidfile.c_str(), "w");
    if (!f) {
        std::perror((prog + ": writing " + pidfile).c_str());
        std::_Exit(1);
    }
    std::fprintf(f, "%d\n", int(getpid()));
    std::fclose(f);
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        ::close(null);
    }
    char ok = 1;
    (void)::write(wr.get(), &ok, 1);
    return true;
}

// Holds SIGTERM from startup on, so that one arriving before the loop
// exists is not fatal: the loop's signalfd picks it up as pending.
class term_blocked {
public:
    term_blocked() {
        sigset_t term;
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &term, &_old);
    }
    ~term_blocked() { pthread_sigmask(SIG_SETMASK, &_old, nullptr); }
    term_blocked(const term_blocked&) = delete;
    term_blocked& operator=(const term_blocked&) = delete;

private:
    sigset_t _old{};
};

void report(const std::string& prog, bool to_syslog, const std::string& msg) {
    if (to_syslog) {
        syslog(LOG_ERR, "%s", msg.c_str());
    } else {
        std::cerr << prog << ": " << msg << "\n";
    }
}

// -D: retry once a second. SIGTERM is blocked by then (term_blocked), so
// the wait is a sigtimedwait that lets SIGTERM end the retrying; an empty
// result means "terminated".
std::vector<sock_addr> resolve_target(const options& o) {
    for (;;) {
        try {
            return resolve(o.target);
        } catch (const usage_error&) {
            throw;
        } catch (const std::exception&) {
            if (!o.retry_resolve) {
                throw;
            }
        }
        sigset_t term;
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        timespec second{1, 0};
        if (sigtimedwait(&term, nullptr, &second) == SIGTERM) {
            return {};
        }
    }
}

server_config make_config(const options& o) {
    server_config cfg;
    cfg.side = o.encrypt ? role::client : role::server;
    cfg.no_pfs = o.no_pfs;
    cfg.require_pfs = o.require_pfs;
    cfg.keepalive = !o.no_keepalive;
    cfg.max_conns = std::size_t(o.max_conns);
    cfg.timeout = o.timeout;
    cfg.target = o.target;
    cfg.resolve_every = o.resolve_every;
    cfg.dh_threads = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
    return cfg;
}

void serve(const options& o, const secret32& key, sys::unique_fd listener, std::vector<sock_addr> targets) {
    server s(make_config(o), key);
    s.set_targets(std::move(targets));
    s.add_listener(std::move(listener));
    s.run();
}

}  // namespace

int run(const options& o) {
    if (o.no_pfs && o.require_pfs) {
        throw usage_error("-f and -g exclude each other");
    }
    term_blocked hold;
    prctl(PR_SET_DUMPABLE, 0);
    secret32 key = hash_key_file(o.key_file);
    sys::unique_fd listener = listen_on(resolve(o.source).front());
    auto targets = resolve_target(o);
    if (!targets.empty()) {
        serve(o, key, std::move(listener), std::move(targets));
    }
    return 0;
}

namespace {

options spiped_options(const parsed_args& a) {
    auto has = [&](char c) { return a.flags.count(c) != 0; };
    auto value = [&](char c) -> const std::string* {
        auto it = a.values.find(c);
        return it == a.values.end() ? nullptr : &it->second;
    };
    if (has('e') == has('d')) {
        throw usage_error("exactly one of -e and -d is required");
    }
    if (!value('s') || !value('t') || !value('k')) {
        throw usage_error("-s, -t and -k are required");
    }
    if (has('f') && has('g')) {
        throw usage_error("-f and -g exclude each other");
    }
    if (has('R') && value('r')) {
        throw usage_error("-r and -R exclude each other");
    }
    options o;
    o.encrypt = has('e');
    o.source = *value('s');
    o.target = *value('t');
    o.key_file = *value('k');
    o.no_pfs = has('f');
    o.require_pfs = has('g');
    o.no_keepalive = has('j');
    o.retry_resolve = has('D');
    if (auto v = value('n')) {
        o.max_conns = int(parse_number(*v, 'n', 0, 500000));
        if (std::to_string(o.max_conns) != *v) {
            throw usage_error("invalid value for -n: " + *v);
        }
    }
    if (auto v = value('o')) {
        o.timeout = parse_number(*v, 'o', 1e-3, 1e9);
    }
    if (auto v = value('r')) {
        o.resolve_every = parse_number(*v, 'r', 1e-3, 1e9);
    }
    if (has('R')) {
        o.resolve_every = -1;
    }
    return o;
}

int serve_daemon(const std::string& prog, const options& o, const parsed_args& a) {
    const bool foreground = a.flags.count('F') != 0;
    auto p = a.values.find('p');
    std::string pidfile = p != a.values.end() ? p->second : o.source + ".pid";
    term_blocked hold;
    prctl(PR_SET_DUMPABLE, 0);
    secret32 key = hash_key_file(o.key_file);
    auto sources = resolve(o.source);
    // Without -D a target that does not resolve is fatal before daemonizing.
    std::vector<sock_addr> targets;
    if (!o.retry_resolve) {
        targets = resolve(o.target);
    }
    sys::unique_fd listener = listen_on(sources.front());
    if (!foreground && !daemonize(prog, pidfile)) {
        return 0;  // the parent
    }
    // --syslog: once daemonized, stderr is /dev/null.
    const bool to_syslog = a.syslog && !foreground;
    if (to_syslog) {
        openlog("moat-pipe", LOG_PID, LOG_DAEMON);
    }
    try {
        if (targets.empty() && (targets = resolve_target(o)).empty()) {
            return 0;  // SIGTERM while waiting for DNS
        }
        if (auto u = a.values.find('u'); u != a.values.end()) {
            drop_privileges(u->second);
        }
        serve(o, key, std::move(listener), std::move(targets));
    } catch (const std::exception& e) {
        report(prog, to_syslog, e.what());
        return 1;
    }
    return 0;
}

}  // namespace

int spiped_main(int argc, char** argv, const std::string& prog) {
    parsed_args a;
    options o;
    try {
        a = parse_args(argc, argv, "stknopru", "edfgjDFRv", true);
        if (a.flags.count('v')) {
            std::cout << version(prog) << "\n";
            return 0;
        }
        o = spiped_options(a);
    } catch (const usage_error& e) {
        std::cerr << prog << ": " << e.what() << "\n" << spiped_usage(prog);
        return 1;
    }
    try {
        libcrypto::load();  // before the daemon confines itself (libcrypto/libcrypto.hpp)
        return serve_daemon(prog, o, a);
    } catch (const std::exception& e) {
        std::cerr << prog << ": " << e.what() << "\n";
        return 1;
    }
}

int spipe_main(int argc, char** argv, const std::string& prog) {
    options o;
    try {
        parsed_args a = parse_args(argc, argv, "tko", "fgjv", false);
        if (a.flags.count('v')) {
            std::cout << version(prog) << "\n";
            return 0;
        }
        if (!a.values.count('t') || !a.values.count('k')) {
            throw usage_error("-t and -k are required");
        }
        if (a.flags.count('f') && a.flags.count('g')) {
            throw usage_error("-f and -g exclude each other");
        }
        o.target = a.values['t'];
        o.key_file = a.values['k'];
        o.no_pfs = a.flags.count('f');
        o.require_pfs = a.flags.count('g');
        o.no_keepalive = a.flags.count('j');
        if (a.values.count('o')) {
            o.timeout = parse_number(a.values['o'], 'o', 1e-3, 1e9);
        }
    } catch (const usage_error& e) {
        std::cerr << prog << ": " << e.what() << "\n" << spipe_usage(prog);
        return 1;
    }
    try {
        prctl(PR_SET_DUMPABLE, 0);
        std::signal(SIGPIPE, SIG_IGN);  // stdout may be a pipe; write() errors are handled
        libcrypto::load();
        secret32 key = hash_key_file(o.key_file);
        server_config cfg = make_config(o);
        cfg.side = role::client;
        cfg.dh_threads = 1;
        server s(cfg, key);
        s.set_targets(resolve(o.target));
        s.add_stdio_connection();
        return s.run() ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << prog << ": " << e.what() << "\n";
        return 1;
    }
}

}  // namespace moat::pipe
