#include "container/runtime.hpp"

#include "container/init_main.hpp"
#include "container/network.hpp"
#include "container/spawn.hpp"
#include "sandbox/cgroup.hpp"
#include "sys/error.hpp"
#include "sys/failpoint.hpp"
#include "sys/fs.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace moat::container {

namespace {

std::string read_line(int fd) {
    std::string out;
    char c;
    while (out.size() < 4096) {
        ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0 || c == '\n') {
            break;
        }
        out.push_back(c);
    }
    return out;
}

}  // namespace

pending prepare(state::store& store, const plan::container_plan& plan, const start_options& opts) {
    pending p;
    auto& rec = p.record;
    rec.name = plan.name;
    rec.origin = opts.origin;
    rec.source = opts.source;
    rec.config_hash = plan::hash(plan);
    rec.host_if = plan.host_if;
    rec.spec = plan::to_json(plan);
    std::string dir = store.container_dir(plan.name);
    sys::make_dirs(dir + "/logs", 0700);
    sys::make_dirs(dir + "/rootfs", 0700);

    auto mount = sandbox::cgroup_mount();
    if (mount) {
        rec.cgroup = *mount + "/moat/" + store.instance_id() + "/" + plan.name;
    }
    store.save(rec);  // intent: cgroup and veth names are on disk before they exist
    sys::failpoint("after-record");

    sys::unique_fd cg_fd;
    if (mount) {
        if (!sandbox::cgroup::create(rec.cgroup)) {
            throw moat::error("creating cgroup " + rec.cgroup + ": no cgroup v2 mount");
        }
        cg_fd.reset(::open(rec.cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!cg_fd) {
            throw sys::errno_error("opening cgroup " + rec.cgroup);
        }
    }
    sys::failpoint("after-cgroup");
    spawn_options so;
    so.new_network = plan.private_network;
    so.cgroup_fd = cg_fd.get();
    so.new_session = !opts.run_mode;
    so.null_stdio = !opts.run_mode;
    auto child = spawn_init(so);
    p.pid = child.pid;
    p.spec_write = std::move(child.spec_write);
    p.ready_read = std::move(child.ready_read);
    rec.init = {child.pid, sys::process_start_time(child.pid).value_or(0)};
    store.save(rec);
    sys::failpoint("after-spawn");

    try {
        if (plan.private_network) {
            wire_network(plan, child.pid);
        }
    } catch (...) {
        add_context("wiring the network of container " + plan.name);
    }
    sys::failpoint("after-network");
    return p;
}

void release(state::store& store, pending& p, const start_options& opts) {
    send_spec(store, p, opts);
    await_ready(store, p);
}

void send_spec(const state::store& store, pending& p, const start_options& opts) {
    auto& rec = p.record;
    init_request req;
    req.plan = rec.spec;
    req.staging = store.container_dir(rec.name) + "/rootfs";
    req.log_dir = store.container_dir(rec.name) + "/logs";
    req.run_mode = opts.run_mode;
    req.command = opts.command;
    sys::write_all(p.spec_write.get(), to_json(req).dump(), "sending the container its specification");
    p.spec_write.reset();
}

void await_ready(state::store& store, pending& p) {
    auto& rec = p.record;
    std::string answer = read_line(p.ready_read.get());
    p.ready_read.reset();
    if (answer != "ok") {
        if (answer.rfind("error: ", 0) == 0) {
            answer = answer.substr(7);
        } else if (answer.empty()) {
            answer = "its init exited before it was ready";
        }
        throw moat::error("starting container " + rec.name + ": " + answer);
    }
    sys::failpoint("after-release");
    rec.status = "running";
    store.save(rec);
}

bool running(const state::container_record& record) { return sys::process_alive(record.init); }

void request_stop(const state::container_record& rec) {
    if (sys::process_alive(rec.init)) {
        ::kill(rec.init.pid, SIGTERM);
    }
}

void stop(const state::container_record& rec, std::chrono::milliseconds grace) {
    if (sys::process_alive(rec.init)) {
        // The init forwards SIGTERM to every service and exits when they are
        // gone; SIGKILL of a PID namespace's init then kills whatever is left.
        ::kill(rec.init.pid, SIGTERM);
        if (!sys::wait_gone(rec.init, grace) && sys::process_alive(rec.init)) {
            ::kill(rec.init.pid, SIGKILL);
            sys::wait_gone(rec.init, std::chrono::seconds(5));
        }
    }
    if (!rec.cgroup.empty()) {
        sandbox::cgroup::destroy(rec.cgroup, std::chrono::seconds(5));
    }
    if (!rec.host_if.empty()) {
        unwire_network(rec.host_if);
    }
}

}  // namespace moat::container
