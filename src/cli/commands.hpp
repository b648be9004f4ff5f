// The CLI: one file per verb (crun's layout). Each verb gets the parsed
// global options and its own arguments, and returns the process exit code;
// errors are exceptions, mapped to exit codes in main.cpp (docs/ARCHITECTURE.md).
#pragma once

#include <string>
#include <vector>

namespace moat::cli {

struct globals {
    std::string state_dir = "/run/moat";
    bool quiet = false;
};

struct up_args {
    std::string file = "moat.toml";
    bool file_given = false;  // -f was on the command line (`down` then keeps to its containers)
    std::vector<std::string> names;
    // `up` only: how long to wait until its tunnels pass traffic (0: do not).
    int wait_seconds = 30;
};

int cmd_up(const globals& g, const up_args& a);
// `up --foreground`: up, report readiness to a service manager, restart dead
// containers with back-off, and `down -f` on SIGTERM (cmd_up_foreground.cpp).
int cmd_up_foreground(const globals& g, const up_args& a);
int cmd_down(const globals& g, const up_args& a);
int cmd_plan(const globals& g, const up_args& a);
int cmd_status(const globals& g, bool json);
int cmd_check(const globals& g, const std::vector<std::string>& names, bool json, bool quiet, int watch_seconds);
int cmd_exec(const globals& g, const std::string& name, const std::vector<std::string>& argv);
int cmd_login(const globals& g, const std::string& name);
// Removes what this instance (or the instance `instance`, an id) left in the kernel.
int cmd_gc(const globals& g, const std::string& instance);
int cmd_logs(const globals& g, const std::string& name, const std::string& service, bool follow, bool raw);

struct run_args {
    std::string network = "private";
    std::string egress = "none";  // "none" | "nat" | "vpn:<tunnel>", as the file's egress key
    std::vector<std::string> dns;  // resolv.conf nameservers (default for vpn: the tunnel's)
    std::string private_users = "pick";  // as the config key: "no" | "pick" | "identity" | a uid base
    bool rm = false;
    std::string name;
    std::vector<std::string> command;
};
int cmd_run(const globals& g, const run_args& a);

}  // namespace moat::cli
