#include "container/runtime.hpp"

#include "container/fork_server.hpp"
#include "container/handoff.hpp"
#include "container/init_main.hpp"
#include "container/devices.hpp"
#include "container/network.hpp"
#include "container/spawn.hpp"
#include "container/trees.hpp"
#include "container/users.hpp"
#include "netlink/conntrack.hpp"
#include "plan/host_secrets.hpp"
#include "sandbox/cgroup.hpp"
#include "sandbox/cgroup_layout.hpp"
#include "sandbox/device_filter.hpp"
#include "sys/error.hpp"
#include "sys/failpoint.hpp"
#include "sys/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <set>

namespace moat::container {

namespace {

// The base of the container's uid range, or nullopt without a user namespace.
std::optional<std::uint32_t> uid_base_for(const state::store& store, const plan::container_plan& plan,
                                          const start_options& opts) {
    if (plan.users == "no") {
        return std::nullopt;
    }
    if (plan.users == "identity") {
        return 0;
    }
    if (plan.users == "base") {
        return plan.users_base;
    }
    auto scanned = opts.uid_bases ? uid_ranges() : uid_bases_in(store);
    auto& ranges = opts.uid_bases ? *opts.uid_bases : scanned;
    auto base = pick_uid_base(store.instance_id() + "/" + plan.name,
                              [&](std::uint32_t b) { return ranges.held_by_other(b, plan.name); });
    ranges.hold(plan.name, base);
    return base;
}

// The init writes its logs and services.json as the container's root.
void give_to(const std::string& dir, std::uint32_t uid) {
    sys::check(::chown(dir.c_str(), uid, uid), "handing " + dir + " to the container's root");
    sys::unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR* d = fd ? ::fdopendir(fd.release()) : nullptr;
    if (!d) {
        throw sys::errno_error("reading " + dir);
    }
    while (dirent* e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
            ::fchownat(::dirfd(d), e->d_name, uid, uid, AT_SYMLINK_NOFOLLOW);
        }
    }
    ::closedir(d);
}

// logs/, which the init writes as the container's root: new (the usual
// case, and empty: nothing in it to hand over), or kept with what an
// earlier container of the name wrote (`up` recreating it).
void make_logs_dir(const std::string& logs, std::optional<std::uint32_t> uid) {
    if (::mkdir(logs.c_str(), 0700) == 0) {
        if (uid) {
            sys::check(::chown(logs.c_str(), *uid, *uid), "handing " + logs + " to the container's root");
        }
        return;
    }
    if (errno != EEXIST) {
        throw sys::errno_error("creating directory " + logs);
    }
    sys::check(::chmod(logs.c_str(), 0700), "making " + logs + " private");
    if (uid) {
        give_to(logs, *uid);
    }
}

sys::unique_fd open_directory(const std::string& path) {
    sys::unique_fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        throw sys::errno_error("opening " + path);
    }
    return fd;
}

}  // namespace

std::string instance_of(const state::container_record& rec) {
    if (!rec.instance.empty()) {
        return rec.instance;
    }
    if (rec.origin == "cni" && rec.cni.is_object()) {
        return rec.cni.value("instance", "");  // a pod has no cgroup of moat's
    }
    // prepare() names the cgroup <mount>/moat/<instance id>/<name>.
    auto tail = "/" + rec.name;
    auto at = rec.cgroup.rfind("/moat/");
    if (at == std::string::npos || rec.cgroup.size() < tail.size() ||
        rec.cgroup.compare(rec.cgroup.size() - tail.size(), tail.size(), tail) != 0) {
        return "";
    }
    auto start = at + 6, end = rec.cgroup.size() - tail.size();
    return end > start ? rec.cgroup.substr(start, end - start) : "";
}

uid_ranges uid_bases_in(const state::store& store) { return uid_bases_in(store, store.scan()); }

uid_ranges uid_bases_in(const state::store& store, const state::listing& listing) {
    uid_ranges out;
    for (const auto& r : listing.records) {
        if (r.uid_base) {
            out.hold(r.name, *r.uid_base);
        }
    }
    // A damaged record's container may still run (or own its logs) as that uid.
    for (const auto& d : listing.damaged) {
        if (d.uid_base && !out.holds(d.name)) {
            out.hold(d.name, *d.uid_base);
        }
    }
    // Other instances' running containers on this host (users.hpp), held
    // under their cgroup's path: no container of this instance is named so.
    if (auto mount = sandbox::cgroup_mount()) {
        for (const auto& cg : sandbox::other_instances_containers(*mount, store.instance_id())) {
            if (auto base = uid_base_in_cgroup(cg)) {
                out.hold(cg, *base);
            }
        }
    }
    return out;
}

pending prepare(state::store& store, const plan::container_plan& plan, const start_options& opts) {
    // Before anything is recorded: a name another instance (or the host)
    // holds is refused, never recorded and so never deleted later.
    if (plan.private_network) {
        check_link_free(plan, store.instance_id());
    }
    pending p;
    p.plan = plan;
    auto& rec = p.record;
    rec.name = plan.name;
    rec.origin = opts.origin;
    rec.source = opts.source;
    rec.config_hash = plan::hash(plan);
    rec.instance = store.instance_id();
    rec.host_if = plan.host_if;
    rec.spec = plan::to_json(plan);
    rec.uid_base = uid_base_for(store, plan, opts);
    auto mount = sandbox::cgroup_mount();
    if (mount) {
        rec.cgroup = sandbox::instance_cgroup(*mount, store.instance_id()) + "/" + plan.name;
    } else {
        check_without_cgroup(plan, rec.uid_base.has_value());
    }
    // Intent: cgroup and veth names are on disk before they exist; the
    // container's directory appears with its record in it.
    store.save(rec);
    make_logs_dir(store.container_dir(plan.name) + "/logs", rec.uid_base);
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
        // Before the init is born in it: opens are checked as they happen.
        sandbox::attach_device_filter(cg_fd.get(), device_rules(plan));
    }
    sys::failpoint("after-cgroup");
    spawn_options so;
    so.new_network = plan.private_network;
    so.new_users = rec.uid_base.has_value();
    so.cgroup_fd = cg_fd.get();
    so.name = plan.name.c_str();
    if (opts.run_mode && !opts.terminal) {
        so.stdio = opts.command_stdio;
    }
    const bool forked_by_server = opts.forks && !opts.run_mode;
    if (!forked_by_server) {
        so.plan = &plan;
        p.plan_inherited = true;
    }
    auto child = forked_by_server ? opts.forks->spawn(so) : spawn_init(so);
    p.pid = child.pid;
    p.channel = std::move(child.channel);
    rec.init = {child.pid, sys::process_start_time(child.pid).value_or(0)};
    store.save(rec);
    sys::failpoint("after-spawn");
    if (rec.uid_base) {
        write_id_maps(child.pid, *rec.uid_base);
    }

    try {
        if (plan.private_network) {
            wire_network(plan, child.pid, store.instance_id());
        }
    } catch (...) {
        add_context("wiring the network of container " + plan.name);
    }
    sys::failpoint("after-network");
    return p;
}

namespace {

// The descriptors the init builds from (trees.hpp, handoff.hpp), in the
// order the request's indices name them.
struct spec_builder {
    init_request req;
    std::vector<sys::unique_fd> fds;

    int add(sys::unique_fd fd) {
        fds.push_back(std::move(fd));
        return static_cast<int>(fds.size() - 1);
    }
};

void add_trees(spec_builder& b, const plan::container_plan& plan, int userns) {
    bool host_root = plan.root == "/";
    // The host's root keeps its owners (that is what keeps root-only files
    // closed), except as the lower layer of an ephemeral overlay, where the
    // container's root must be able to change (copy up) what root owns.
    tree_attributes root_attrs;
    root_attrs.read_only = plan.root_read_only || plan.ephemeral;
    root_attrs.idmap_userns = !host_root || plan.ephemeral ? userns : -1;
    // An overlay shows no submounts of its lower layer: the host's root
    // alone would do there too, but ephemeral keeps the one copy.
    auto root = host_root && !plan.ephemeral ? clone_host_root(root_attrs) : clone_tree(plan.root, root_attrs);
    b.req.root_fd = b.add(std::move(root.fd));
    // `_tunnels` binds back the files its daemons are handed: none may have
    // become one of the host's secrets since they were planned.
    std::optional<plan::host_secrets> secrets;
    if (plan.tunnel_host) {
        secrets.emplace("a tunnel daemon");
    }
    for (const auto& m : plan.mounts) {
        auto tree = clone_tree(m.host_path, {m.read_only, userns});
        if (auto why = secrets ? secrets->refusal(tree.fd.get()) : ""; !why.empty()) {
            throw moat::error("binding " + m.host_path + " into " + plan.name + ": " + why);
        }
        if (userns >= 0 && !tree.idmapped) {
            std::fprintf(stderr, "moat: note: container %s: %s cannot be idmapped; its files show as owned by nobody inside\n",
                         plan.name.c_str(), m.host_path.c_str());
        }
        b.req.binds.push_back({b.add(std::move(tree.fd)), m.mount_point, tree.directory});
    }
}

}  // namespace

void send_spec(const state::store& store, pending& p, const start_options& opts) {
    auto& rec = p.record;
    const auto& plan = p.plan;
    spec_builder b;
    if (!p.plan_inherited) {
        b.req.plan = rec.spec;
    }
    b.req.run_mode = opts.run_mode;
    b.req.terminal = opts.terminal;
    b.req.command = opts.command;
    b.req.user_namespace = rec.uid_base.has_value();
    b.req.state_dir = store.dir();
    b.req.masks = opts.masks;
    try {
        b.req.log_dir_fd = b.add(open_directory(store.container_dir(rec.name) + "/logs"));
        sys::unique_fd userns;
        if (rec.uid_base) {
            userns.reset(::open(("/proc/" + std::to_string(p.pid) + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
            if (!userns) {
                throw sys::errno_error("opening the container's user namespace");
            }
        }
        add_trees(b, plan, userns ? userns.get() : -1);
        auto nodes = device_nodes(plan);
        b.req.nodes_fd = b.add(make_node_store(nodes, rec.uid_base.value_or(0)));
        for (const auto& n : nodes) {
            b.req.nodes.push_back(n.path);
        }
        for (const auto& s : plan.secrets) {
            sys::unique_fd fd(::open(s.host_path.c_str(), O_RDONLY | O_CLOEXEC));
            if (!fd) {
                throw sys::errno_error("reading " + s.host_path);
            }
            b.req.secrets.push_back({b.add(std::move(fd)), s.path});
        }
    } catch (...) {
        add_context("preparing the root of container " + rec.name);
    }
    std::vector<int> raw;
    for (const auto& fd : b.fds) {
        raw.push_back(fd.get());
    }
    handoff::send_spec(p.channel.get(), to_json(b.req).dump(), raw);
}

namespace {

void mark_running(state::store& store, pending& p) {
    p.channel.reset();
    sys::failpoint("after-release");
    p.record.status = "running";
    store.save(p.record);
}

}  // namespace

void send_go(state::store& store, pending& p) {
    handoff::send_go(p.channel.get());
    p.released = true;
    if (p.ready) {
        mark_running(store, p);
    }
}

void await_ready(state::store& store, pending& p) {
    auto [answer, fd] = handoff::receive_answer(p.channel.get());
    p.terminal = std::move(fd);
    if (answer != "ok") {
        p.channel.reset();
        if (answer.rfind("error: ", 0) == 0) {
            answer = answer.substr(7);
        } else if (answer.empty()) {
            answer = "its init exited before it was ready";
        }
        throw moat::error("starting container " + p.record.name + ": " + answer);
    }
    p.ready = true;
    if (p.released) {
        mark_running(store, p);
    }
}

std::string netns_path(const state::container_record& record) {
    if (record.origin == "cni" && record.cni.is_object()) {
        return record.cni.value("netns", "");
    }
    return "/proc/" + std::to_string(record.init.pid) + "/ns/net";
}

std::string inner_ifname(const state::container_record& record) {
    if (record.origin == "cni" && record.cni.is_object()) {
        return record.cni.value("ifname", "eth0");
    }
    return "eth0";
}

bool running(const state::container_record& record) {
    // A CNI attachment has no init: the engine owns its processes, and it
    // is up from the moment its ADD completed until its DEL.
    if (record.origin == "cni") {
        return record.status == "running";
    }
    return sys::process_alive(record.init);
}

void request_stop(const state::container_record& rec) {
    if (sys::process_alive(rec.init)) {
        ::kill(rec.init.pid, SIGTERM);
    }
}

void check_removable(std::span<const state::container_record> records) {
    for (const auto& rec : records) {
        if (!rec.cgroup.empty() && !sandbox::cgroup_mount()) {
            throw moat::error("container " + rec.name + ": its cgroup " + rec.cgroup +
                              " cannot be removed from here: " + sandbox::cgroups_hidden_hint());
        }
    }
}

void stop(const state::container_record& rec, std::chrono::milliseconds grace, bool keep_link) {
    check_removable(std::span(&rec, 1));
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
    if (!rec.host_if.empty() && !keep_link) {
        unwire_network(rec.host_if, instance_of(rec));
        forget_flows(std::span(&rec, 1));
    }
}

void forget_flows(std::span<const state::container_record> records) {
    // Only the container ends' addresses: never the host end or a bridge's
    // gateway, which the host and other containers keep using. A damaged
    // record (damage.hpp) no longer says which they were.
    std::vector<sys::ip_address> own;
    std::string names;
    for (const auto& rec : records) {
        if (rec.host_if.empty() || !rec.spec.is_object()) {
            continue;
        }
        names += (names.empty() ? "" : ", ") + rec.name;
        try {
            auto p = plan::plan_from_json(rec.spec);
            for (const auto* pair : {&p.v4, &p.v6}) {
                if (*pair) {
                    own.push_back((*pair)->local.address);
                }
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "moat: warning: %s: reading its addresses: %s\n", rec.name.c_str(), e.what());
        }
    }
    try {
        netlink::flush_conntrack(own);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moat: warning: %s: deleting connection tracking entries: %s\n", names.c_str(), e.what());
    }
}

}  // namespace moat::container
