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
