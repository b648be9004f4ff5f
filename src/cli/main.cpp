// moat's command line: global options, verb dispatch and the mapping from
// exceptions to exit codes (0 ok, 1 runtime failure, 2 bad usage/config).
#include "cli/commands.hpp"
#include "cli/complete.hpp"
#include "cli/suggest.hpp"
#include "cni/plugin.hpp"
#include "config/names.hpp"
#include "container/fork_server.hpp"
#include "pipe/pipe.hpp"
#include "plan/pipes.hpp"
#include "plan/tunnel.hpp"
#include "sys/error.hpp"
#include "sys/title.hpp"
#include "tunnel/tunnel.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace {

// Every container and service name the CLI takes becomes a file name under
// the state directory and part of interface, cgroup and chain names: it
// passes the configuration's own validator (config/names.hpp) before
// anything is read or made, so "../../x" cannot reach outside the state
// directory and "x y" cannot leave a record no later command could use.
// `internal_ok`: moat's own containers (`_tunnels`, `_pipes`), whose names
// no file or `run` can take, may be looked at, entered and removed.
void require_valid_names(const std::string& what, const std::vector<std::string>& names, bool internal_ok = false) {
    for (const auto& n : names) {
        if (internal_ok && (n == moat::plan::tunnels_container || n == moat::plan::host_pipes_container)) {
            continue;
        }
        if (auto problem = moat::config::name_problem(n)) {
            throw moat::usage_error(what + " '" + n + "' is not a valid name: " + *problem + " (" +
                                    std::string(moat::config::name_rule) + ")");
        }
    }
}

// Everything after the first "--" is a command for the container, untouched
// by option parsing.
std::vector<std::string> split_command(int& argc, char** argv) {
    std::vector<std::string> cmd;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--") == 0) {
            for (int j = i + 1; j < argc; ++j) {
                cmd.emplace_back(argv[j]);
            }
            argc = i;
            break;
        }
    }
    return cmd;
}

// exec and run take their command from the words after NAME (or after
// run's options) too: `moat exec c ls -l /` runs `ls -l /`. Words after
// the first "--" (split_command) then belong to that command as well, the
// "--" with them: `moat exec c grep -- -x f` runs `grep -- -x f`.
std::vector<std::string> prefix_and_command(std::vector<std::string> prefix, std::vector<std::string> after) {
    if (prefix.empty()) {
        return after;
    }
    if (!after.empty()) {
        prefix.emplace_back("--");
        prefix.insert(prefix.end(), after.begin(), after.end());
    }
    return prefix;
}

int dispatch(int argc, char** argv) {
    using namespace moat::cli;
    auto command = split_command(argc, argv);
    CLI::App app{"moat: containers with private networks, NAT or VPN-only egress, and encrypted pipes"};
    app.require_subcommand(1);
    globals g;
    if (const char* env = std::getenv("MOAT_STATE_DIR")) {
        g.state_dir = env;
    }
    app.add_option("--state-dir", g.state_dir, "where moat records what it made (env MOAT_STATE_DIR)");

    up_args ua;
    auto* up = app.add_subcommand("up", "converge the host to FILE: create/update what is declared");
    up->add_option("-f,--file", ua.file, "configuration file (TOML, or JSON by extension; - = stdin)");
    up->add_flag("-q,--quiet", g.quiet, "print nothing but errors");
    up->add_option("names", ua.names, "containers to bring up (default: all with autoStart)");
    auto* wait_opt = up->add_option("--wait", ua.wait_seconds,
                   "wait up to SECONDS (default 30) until every tunnel its containers use passes traffic; "
                   "exit 1 with the daemon's reason if one does not (0 = do not wait)")
        ->check(CLI::NonNegativeNumber);
    bool no_wait = false;
    up->add_flag("--no-wait", no_wait, "do not wait for tunnels (same as --wait 0)")->excludes(wait_opt);
    bool foreground = false;
    up->add_flag("--foreground", foreground,
                 "stay: restart containers that stop (with back-off), tell a service manager READY=1 "
                 "($NOTIFY_SOCKET), and on SIGTERM/SIGINT take down what FILE brought up");
    auto* down = app.add_subcommand("down", "stop and remove what moat created; no residue");
    down->add_option("-f,--file", ua.file, "configuration file (limits `down` to its containers)");
    down->add_flag("-q,--quiet", g.quiet, "print nothing but errors");
    down->add_option("names", ua.names, "containers to remove (default: all)");
    std::string gc_instance;
    auto* gc = app.add_subcommand("gc", "remove everything of this instance the kernel holds, even without its state directory");
    gc->add_flag("-q,--quiet", g.quiet, "print nothing but errors and notes");
    gc->add_option("--instance", gc_instance, "an instance id instead of --state-dir's (state files untouched)");
    auto* plan = app.add_subcommand("plan", "print what `up` would change; change nothing");
    plan->add_option("-f,--file", ua.file, "configuration file");
    plan->add_option("names", ua.names, "containers to plan (default: all with autoStart)");

    bool json = false;
    auto* status = app.add_subcommand("status", "containers, state, addresses, egress, services");
    status->add_flag("--json", json, "machine-readable output (docs/JSON.md)");

    std::vector<std::string> check_names;
    bool quiet_check = false;
    auto* check = app.add_subcommand("check", "verify: declared state present, egress works, zero leaks");
    check->add_option("names", check_names, "containers (default: all)");
    check->add_flag("--json", json, "machine-readable output (docs/JSON.md)");
    check->add_flag("-q,--quiet", quiet_check, "no output; the exit code says it all");
    int watch_seconds = 0;
    check->add_option("--watch", watch_seconds, "check every SECONDS, print changes, run [check] onFailure")
        ->check(CLI::PositiveNumber);

    std::string name, service;
    bool follow = false, raw_logs = false;
    auto* exec = app.add_subcommand("exec", "run a command inside a running container: exec NAME [--] CMD [ARG...]");
    exec->add_option("name", name, "container")->required();
    exec->prefix_command();  // as docker and nspawn: the command starts at the word after NAME
    auto* login = app.add_subcommand("login", "root shell inside a running container");
    login->add_option("name", name, "container")->required();
    auto* logs = app.add_subcommand("logs", "service output");
    logs->add_option("name", name, "container")->required();
    logs->add_option("service", service, "one service (default: all)");
    logs->add_flag("-f,--follow", follow, "keep printing new output");
    logs->add_flag("--raw", raw_logs,
                   "write the output as logged, control characters included (default: shown as \\xHH)");

    run_args ra;
    auto* run = app.add_subcommand("run", "one-off container for a command: run [options] [--] CMD [ARG...]");
    run->prefix_command();  // the command starts at the first word that is not an option
    run->add_option("--network", ra.network, "host | private | none")
        ->check(CLI::IsMember({"host", "private", "none"}));
    run->add_option("--egress", ra.egress, "none | nat | vpn:TUNNEL (a tunnel `moat up` runs under this state dir)");
    run->add_option("--dns", ra.dns, "nameserver for the container's resolv.conf (repeatable; vpn: default the tunnel's)");
    run->add_option("--name", ra.name, "container name (default: run-<random>)");
    run->add_option("--private-users", ra.private_users, "no | pick | identity | UID-BASE (default pick)");
    run->add_flag("--rm", ra.rm, "remove the container when the command ends");

    std::string key_path;
    auto* keygen = app.add_subcommand("keygen", "write a new random 32-byte key (mode 0600)");
    keygen->add_option("keyfile", key_path, "where to write it")->required();
    auto* version = app.add_subcommand("version", "print moat's version");
    app.set_version_flag("--version", std::string("moat ") + MOAT_VERSION, "print moat's version (as `moat version`)");
    app.add_subcommand("pipe", "spiped-compatible encrypted pipe (spiped's flags)")->allow_extras();
    app.add_subcommand("spipe", "one spiped connection on stdin/stdout (spipe's flags)")->allow_extras();

    // Hidden: the shells' completion asks about the definition above
    // (cli/complete.hpp); the words it completes follow "--".
    if (argc == 2 && std::strcmp(argv[1], "__complete") == 0) {
        return cmd_complete(app, command, g.state_dir);
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (auto problem = unknown_word(app, argc, argv); problem && !dynamic_cast<const CLI::Success*>(&e)) {
            throw moat::usage_error(*problem);
        }
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    require_valid_names("container", ua.names, !*up && !*plan);
    require_valid_names("container", check_names, true);
    if (*exec || *login || *logs) {
        require_valid_names("container", {name}, true);
    }
    if (!service.empty()) {
        require_valid_names("service", {service});
    }
    if (*run && !ra.name.empty()) {
        require_valid_names("run --name", {ra.name});
    }
    if (*up) {
        if (no_wait) {
            ua.wait_seconds = 0;
        }
        return foreground ? cmd_up_foreground(g, ua) : cmd_up(g, ua);
    }
    if (*down) {
        ua.file_given = down->count("--file") > 0;
        return cmd_down(g, ua);
    }
    if (*plan) return cmd_plan(g, ua);
    if (*gc) return cmd_gc(g, gc_instance);
    if (*status) return cmd_status(g, json);
    if (*check) return cmd_check(g, check_names, json, quiet_check, watch_seconds);
    if (*exec || *run) {
        // A prefix command also starts at an option CLI11 does not know:
        // `run --netwrk none CMD` is a typo, not a command named "--netwrk".
        if (auto problem = unknown_word(app, argc, argv)) {
            throw moat::usage_error(*problem);
        }
        command = prefix_and_command((*exec ? exec : run)->remaining(), std::move(command));
    }
    if (*exec) {
        if (command.empty()) {
            throw moat::usage_error("exec: missing command: moat exec NAME CMD [ARG...]");
        }
        return cmd_exec(g, name, command);
    }
    if (*login) return cmd_login(g, name);
    if (*logs) return cmd_logs(g, name, service, follow, raw_logs);
    if (*run) {
        if (command.empty()) {
            throw moat::usage_error("run: missing command: moat run [options] CMD [ARG...]");
        }
        ra.command = command;
        return cmd_run(g, ra);
    }
    if (*keygen) return moat::pipe::keygen_main(key_path);
    if (*version) {
        std::printf("moat %s\n", MOAT_VERSION);
        return 0;
    }
    return 2;
}

std::string basename_of(const char* path) {
    const char* slash = std::strrchr(path, '/');
    return slash ? slash + 1 : path;
}

}  // namespace

int main(int argc, char** argv) {
    moat::sys::remember_arguments(argc, argv);  // the containers' inits retitle themselves (sys/title.hpp)
    // `up`'s fork server, before anything else of a CLI runs in it.
    if (argc >= 2 && std::strcmp(argv[1], moat::container::fork_server_argument) == 0) {
        return moat::container::fork_server_main(argc, argv);
    }
    try {
        // Executed by a CNI runtime (libcni sets CNI_COMMAND, passes no
        // arguments): be the plugin (cni/plugin.hpp).
        if (argc == 1 && std::getenv("CNI_COMMAND") != nullptr) {
            return moat::cni::run_plugin();
        }
        std::string self = basename_of(argv[0]);
        // Invoked through a symlink named spiped or spipe: be that program.
        if (self == "spiped") {
            return moat::pipe::spiped_main(argc, argv, self);
        }
        if (self == "spipe") {
            return moat::pipe::spipe_main(argc, argv, self);
        }
        if (argc >= 2 && std::strcmp(argv[1], "pipe") == 0) {
            return moat::pipe::spiped_main(argc - 1, argv + 1, "moat pipe");
        }
        if (argc >= 2 && std::strcmp(argv[1], "spipe") == 0) {
            return moat::pipe::spipe_main(argc - 1, argv + 1, "moat spipe");
        }
        if (argc == 4 && std::strcmp(argv[1], "__port-hook") == 0) {
            return moat::tunnel::port_hook(argv[2], argv[3]);
        }
        if (argc == 3 && std::strcmp(argv[1], "__tunnel") == 0) {
            return moat::tunnel::run(moat::plan::tunnel_from_json(nlohmann::json::parse(argv[2])));
        }
        return dispatch(argc, argv);
    } catch (const moat::usage_error& e) {
        std::fprintf(stderr, "moat: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moat: error: %s\n", e.what());
        return 1;
    }
}
