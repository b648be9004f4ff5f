#include "container/init_main.hpp"

#include "config/capabilities.hpp"
#include "container/handoff.hpp"
#include "container/hosts_file.hpp"
#include "container/rootfs.hpp"
#include "container/spawn.hpp"
#include "init/init.hpp"
#include "netlink/loopback.hpp"
#include "plan/plan.hpp"
#include "sandbox/privileges.hpp"
#include "sys/error.hpp"

#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <optional>
#include <string>

namespace moat::container {

namespace {

// The caller's terminal modes and size travel with the spec, so the
// command's pty starts as the caller's terminal is (as ssh does).
nlohmann::json terminal_json(const std::optional<terminal_settings>& t) {
    if (!t) {
        return nullptr;
    }
    const termios& m = t->modes;
    return {{"iflag", m.c_iflag}, {"oflag", m.c_oflag}, {"cflag", m.c_cflag}, {"lflag", m.c_lflag},
            {"cc", std::vector<unsigned>(std::begin(m.c_cc), std::end(m.c_cc))},
            {"ispeed", m.c_ispeed}, {"ospeed", m.c_ospeed},
            {"rows", t->size.ws_row}, {"cols", t->size.ws_col}};
}

std::optional<terminal_settings> terminal_from_json(const nlohmann::json& j) {
    if (j.is_null()) {
        return std::nullopt;
    }
    terminal_settings t;
    t.modes.c_iflag = j.at("iflag");
    t.modes.c_oflag = j.at("oflag");
    t.modes.c_cflag = j.at("cflag");
    t.modes.c_lflag = j.at("lflag");
    auto cc = j.at("cc").get<std::vector<unsigned>>();
    for (std::size_t i = 0; i < cc.size() && i < NCCS; ++i) {
        t.modes.c_cc[i] = static_cast<cc_t>(cc[i]);
    }
    t.modes.c_ispeed = j.at("ispeed");
    t.modes.c_ospeed = j.at("ospeed");
    t.size.ws_row = j.at("rows");
    t.size.ws_col = j.at("cols");
    return t;
}

}  // namespace

nlohmann::json to_json(const init_request& r) {
    nlohmann::json binds = nlohmann::json::array();
    for (const auto& b : r.binds) {
        binds.push_back({{"fd", b.fd}, {"mount_point", b.mount_point}, {"directory", b.directory}});
    }
    nlohmann::json secrets = nlohmann::json::array();
    for (const auto& s : r.secrets) {
        secrets.push_back({{"fd", s.fd}, {"path", s.path}});
    }
    return {{"plan", r.plan}, {"run_mode", r.run_mode}, {"command", r.command}, {"terminal", terminal_json(r.terminal)},
            {"user_namespace", r.user_namespace}, {"state_dir", r.state_dir}, {"masks", r.masks},
            {"log_dir_fd", r.log_dir_fd}, {"root_fd", r.root_fd}, {"nodes_fd", r.nodes_fd}, {"nodes", r.nodes},
            {"binds", binds}, {"secrets", secrets}};
}

init_request init_request_from_json(const nlohmann::json& j) {
    init_request r;
    r.plan = j.at("plan");
    r.run_mode = j.at("run_mode");
    r.command = j.at("command").get<std::vector<std::string>>();
    r.terminal = terminal_from_json(j.at("terminal"));
    r.user_namespace = j.at("user_namespace");
    r.state_dir = j.at("state_dir");
    r.masks = j.at("masks").get<std::vector<std::string>>();
    r.log_dir_fd = j.at("log_dir_fd");
    r.root_fd = j.at("root_fd");
    r.nodes_fd = j.at("nodes_fd");
    r.nodes = j.at("nodes").get<std::vector<std::string>>();
    for (const auto& b : j.at("binds")) {
        r.binds.push_back({b.at("fd"), b.at("mount_point"), b.at("directory")});
    }
    for (const auto& s : j.at("secrets")) {
        r.secrets.push_back({s.at("fd"), s.at("path")});
    }
    return r;
}

namespace {

// A descriptor of the message by index; each may be taken once.
sys::unique_fd take(std::vector<sys::unique_fd>& fds, int index) {
    if (index < 0 || static_cast<std::size_t>(index) >= fds.size() || !fds[static_cast<std::size_t>(index)]) {
        throw moat::error("the specification names a descriptor it did not send");
    }
    return std::move(fds[static_cast<std::size_t>(index)]);
}

rootfs_spec rootfs_from(const plan::container_plan& p, const init_request& r, std::vector<sys::unique_fd>& fds) {
    rootfs_spec s;
    s.root_tree = take(fds, r.root_fd);
    s.host_root = p.root == "/";
    s.ephemeral = p.ephemeral;
    s.private_network = p.private_network;
    s.user_namespace = r.user_namespace;
    s.tunnel_runners = p.tunnel_host;
    s.node_store = take(fds, r.nodes_fd);
    s.nodes = r.nodes;
    for (const auto& b : r.binds) {
        s.binds.push_back({take(fds, b.fd), b.mount_point, b.directory});
    }
    for (const auto& sec : r.secrets) {
        s.secrets.push_back({take(fds, sec.fd), sec.path});
    }
    s.masks = r.masks;
    s.tmpfs = p.tmpfs;
    s.state_dir = r.state_dir;
    s.dns = p.dns;
    s.dns_search = p.dns_search;
    if (has_own_hosts(p)) {
        s.hosts = render_hosts(p, {});  // the other members come with the next sync_hosts
    }
    return s;
}

init::spec init_spec_from(const plan::container_plan& p, const init_request& r, int log_dir_fd,
                          const std::optional<std::string>& term) {
    init::spec s;
    s.container = p.name;
    s.log_dir_fd = log_dir_fd;
    s.logs.size = p.log_size;
    s.logs.files = p.log_files;
    s.base_environment = {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                          {"container", "moat"}, {"HOSTNAME", p.hostname}, {"HOME", "/root"},
                          {"LANG", "C.UTF-8"}};
    if (r.run_mode) {
        init::service cmd;
        cmd.name = "command";
        cmd.argv = r.command;
        s.services.push_back(cmd);
        s.exit_with = "command";
        s.inherit_stdio = true;
        if (term) {
            s.base_environment["TERM"] = *term;
        }
        return s;
    }
    for (const auto& sp : p.services) {
        init::service svc;
        svc.name = sp.name;
        svc.argv = sp.argv;
        svc.environment = sp.environment;
        svc.after = sp.after;
        svc.restart = sp.restart == "always"       ? config::restart_policy::always
                      : sp.restart == "on-failure" ? config::restart_policy::on_failure
                                                   : config::restart_policy::no;
        s.services.push_back(svc);
    }
    return s;
}

// The host side wrote uid_map/gid_map before sending the spec; until the
// init takes ids inside, it runs as the host's uid 0, which is unmapped
// here (files it made would fail with EOVERFLOW). setresuid to a mapped
// uid 0 keeps the capabilities the new user namespace gave it (the kernel
// raises the effective set when a process becomes that namespace's root).
void become_namespace_root() {
    sys::check(::setgroups(0, nullptr), "dropping supplementary groups");
    sys::check(::setresgid(0, 0, 0), "becoming gid 0 of the container");
    sys::check(::setresuid(0, 0, 0), "becoming uid 0 of the container");
}

// `moat run` in terminal mode: a pty of the container's own devpts becomes
// the init's controlling terminal and stdio (the command inherits them and
// takes the foreground, as a shell's job); the master goes to the CLI.
sys::unique_fd own_terminal(const terminal_settings& settings) {
    int master = -1, slave = -1;
    if (int err = open_pty_noexcept(settings, master, slave); err != 0) {
        throw sys::errno_error("allocating the command's terminal", err);
    }
    sys::unique_fd m(master);
    // attach_terminal_noexcept() moves the slave onto 0, 1, 2 and closes it.
    if (int err = attach_terminal_noexcept(slave); err != 0) {
        ::close(slave);
        throw sys::errno_error("making it the command's terminal", err);
    }
    return m;
}

}  // namespace

std::uint64_t extra_capabilities(const plan::container_plan& p) {
    std::uint64_t mask = 0;
    for (const auto& name : p.capabilities) {
        if (int n = config::capability_number(name); n >= 0) {
            mask |= std::uint64_t{1} << n;
        }
    }
    if (p.tunnel_host) {
        // The tunnel runners route, and make the clone node of their daemon's device.
        mask |= std::uint64_t{1} << config::capability_number("CAP_NET_ADMIN");
        mask |= std::uint64_t{1} << config::capability_number("CAP_MKNOD");
    }
    return mask;
}

int init_main(bool own_network, const plan::container_plan* inherited) {
    // The init is a fork of the CLI and so holds the CLI's environment (a
    // CNI request's CNI_* variables, whatever the user exported): it ends
    // here. Services get the environment the spec builds; only a `run`'s
    // command keeps the user's TERM.
    std::optional<std::string> term;
    if (const char* t = ::getenv("TERM")) {
        term = t;
    }
    ::clearenv();
    // Its own loopback, raised while the host side still prepares the root
    // (the kernel's part, ::1 and its routes, is most of a millisecond):
    // sequential in the CLI, it was on the way to every start. A failure is
    // reported with the root's (below).
    std::exception_ptr loopback_failed;
    if (own_network) {
        try {
            netlink::raise_own_loopback();
        } catch (...) {
            loopback_failed = std::current_exception();
        }
    }
    // The usual seccomp filter, compiled while it waits for its spec too;
    // one that keeps more capabilities is compiled again below (and a
    // failure here is met there again, and reported).
    try {
        sandbox::prepare_privileges();
    } catch (...) {
    }
    init_request req;
    plan::container_plan parsed;
    std::vector<sys::unique_fd> fds;
    bool go = false;
    try {
        auto message = handoff::receive_spec(init_channel_fd);
        fds = std::move(message.fds);
        go = message.go;
        req = init_request_from_json(nlohmann::json::parse(message.json));
        if (!inherited) {
            parsed = plan::plan_from_json(req.plan);
        }
    } catch (const std::exception&) {
        return 1;  // the host side went away before it was done: leave nothing running
    }
    // Parsing it back touched pages of code and heap that this copy of the
    // CLI's memory pays for one by one (issue 17).
    const plan::container_plan& p = inherited ? *inherited : parsed;
    sys::unique_fd log_dir, master;
    try {
        log_dir = take(fds, req.log_dir_fd);
        if (loopback_failed) {
            std::rethrow_exception(loopback_failed);
        }
        if (req.user_namespace) {
            become_namespace_root();
        }
        auto root = rootfs_from(p, req, fds);
        fds.clear();
        setup_rootfs(root);
        sys::check(::sethostname(p.hostname.data(), p.hostname.size()), "setting the hostname");
        if (req.terminal) {
            master = own_terminal(*req.terminal);
        }
        sandbox::keep_also(extra_capabilities(p));
        sandbox::prepare_privileges();  // a no-op unless the mask grew; each service's child only loads it
    } catch (const std::exception& e) {
        handoff::send_answer(init_channel_fd, std::string("error: ") + e.what());
        return 1;
    }
    ::prctl(PR_SET_NAME, "moat-init");
    handoff::send_answer(init_channel_fd, "ok", master.get());
    master.reset();
    if (!go && !handoff::receive_go(init_channel_fd)) {
        return 1;  // rolled back, or the host side died: nothing was started
    }
    ::close(init_channel_fd);
    return init::run(init_spec_from(p, req, log_dir.get(), term), [] { return sandbox::drop_privileges_noexcept(); });
}

}  // namespace moat::container
