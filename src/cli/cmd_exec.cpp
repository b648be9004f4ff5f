// moat exec NAME -- CMD / moat login NAME.
#include "cli/commands.hpp"
#include "container/runtime.hpp"
#include "state/store.hpp"
#include "sys/error.hpp"

namespace moat::cli {

static state::container_record find_running(const globals& g, const std::string& name) {
    state::store store(g.state_dir);
    // Read-only: a missing state dir is not created, it has no containers.
    auto rec = store.exists() ? store.load(name) : std::nullopt;
    if (!rec) {
        throw moat::error("no container named '" + name + "' in " + g.state_dir);
    }
    // A container is joinable only once `up` (or `run`) has put its
    // confinement in place: between its network's wiring and the firewall's
    // commit its veth routes through the host with no kill switch and no
    // NAT yet, and a command started there would reach the uplink.
    if (rec->status == "exited") {
        throw moat::error("container '" + name + "' has exited (its command ended): `moat down " + name +
                          "` removes it");
    }
    if (rec->status != "running") {
        throw moat::error("container '" + name + "' is " + (rec->status.empty() ? "not ready" : rec->status) +
                          ": it can be entered once `moat up` has finished starting it");
    }
    return *rec;
}

int cmd_exec(const globals& g, const std::string& name, const std::vector<std::string>& argv) {
    return container::enter(find_running(g, name), argv);
}

int cmd_login(const globals& g, const std::string& name) {
    auto rec = find_running(g, name);
    // nixos-container root-login: a root login shell, bash when the
    // container's root has it (decided inside: its root may not be ours),
    // in the container's HOME. It reads the container's /etc/profile and
    // /root dotfiles (for a host-root container, the host's read-only
    // copies); the environment carries nothing of the caller's but TERM.
    return container::enter(rec, {"/bin/sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash -l; fi; exec /bin/sh -l"},
                            {.cwd = "/root"});
}

}  // namespace moat::cli
