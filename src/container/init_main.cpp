#include "container/init_main.hpp"

#include "container/rootfs.hpp"
#include "container/spawn.hpp"
#include "plan/plan.hpp"
#include "init/init.hpp"
#include "sandbox/privileges.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstring>

namespace moat::container {

nlohmann::json to_json(const init_request& r) {
    return {{"plan", r.plan}, {"staging", r.staging}, {"log_dir", r.log_dir},
            {"run_mode", r.run_mode}, {"command", r.command}};
}

namespace {

void report(const std::string& msg) {
    std::string line = msg + "\n";
    [[maybe_unused]] auto n = ::write(init_ready_fd, line.data(), line.size());
}

rootfs_spec rootfs_from(const plan::container_plan& p, const init_request& r) {
    rootfs_spec s;
    s.root = p.root;
    s.read_only = p.root_read_only;
    s.ephemeral = p.ephemeral;
    s.staging = r.staging;
    for (const auto& m : p.mounts) {
        s.binds.push_back({m.host_path, m.mount_point, m.read_only});
    }
    s.dns = p.dns;
    s.hostname = p.hostname;
    s.tun = p.tunnel_host;
    if (p.v4) {
        s.local_addresses.push_back(p.v4->local.address.str());
    }
    if (p.v6) {
        s.local_addresses.push_back(p.v6->local.address.str());
    }
    return s;
}

init::spec init_spec_from(const plan::container_plan& p, const init_request& r, int log_dir_fd) {
    init::spec s;
    s.container = p.name;
    s.log_dir_fd = log_dir_fd;
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
        if (const char* term = ::getenv("TERM")) {
            s.base_environment["TERM"] = term;
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

}  // namespace

int init_main() {
    init_request req;
    plan::container_plan p;
    try {
        auto j = nlohmann::json::parse(sys::read_all(init_spec_fd, "reading the spec"));
        ::close(init_spec_fd);
        req.staging = j.at("staging");
        req.log_dir = j.at("log_dir");
        req.run_mode = j.at("run_mode");
        req.command = j.at("command").get<std::vector<std::string>>();
        p = plan::plan_from_json(j.at("plan"));
    } catch (const std::exception&) {
        return 1;  // the host side went away before it was done: leave nothing running
    }
    sys::unique_fd log_dir;
    try {
        log_dir.reset(::open(req.log_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!log_dir) {
            throw sys::errno_error("opening " + req.log_dir);
        }
        setup_rootfs(rootfs_from(p, req));
        sys::check(::sethostname(p.hostname.data(), p.hostname.size()), "setting the hostname");
        if (p.tunnel_host) {
            sandbox::keep_also(std::uint64_t{1} << CAP_NET_ADMIN);  // the tunnel daemons own their device
        }
        sandbox::prepare_privileges();  // compiled once here; each service's child only loads it
    } catch (const std::exception& e) {
        report(std::string("error: ") + e.what());
        return 1;
    }
    ::prctl(PR_SET_NAME, "moat-init");
    report("ok");
    ::close(init_ready_fd);
    return init::run(init_spec_from(p, req, log_dir.get()), [] { return sandbox::drop_privileges_noexcept(); });
}

}  // namespace moat::container
