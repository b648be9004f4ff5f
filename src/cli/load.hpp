// Loading, validating and planning a config file for the verbs that read one.
#pragma once

#include "plan/network.hpp"
#include "plan/plan.hpp"
#include "plan/tunnel.hpp"
#include "state/store.hpp"

#include <set>
#include <string>
#include <vector>

namespace moat::cli {

struct loaded_plans {
    std::string source;  // absolute path of the file ("<stdin>" for -)
    std::vector<plan::container_plan> plans;  // the selected containers, pipes included
    std::set<std::string> declared;  // every container the file declares, selected or not
    std::vector<plan::network_plan> networks;  // the networks they join
    std::vector<plan::tunnel_plan> tunnels;    // the tunnels they are confined to
    // Every pipe's key file and every tunnel's file of the configuration:
    // hidden from containers whose root shows the host's (rootfs.hpp).
    std::vector<std::string> secrets;
};

// Throws config_error/usage_error (exit 2) for bad files, unknown names,
// unsupported features, link-name clashes and clashes with the host or with
// the containers that keep running (plan/host_checks.hpp), each at its
// file:line:col; touches nothing. `store` gives the running containers'
// addresses, which they keep. The caller of `up` holds the store's lock
// already, so nothing can start between these checks and `up` acting on
// them. When the store was created just now (`new_store`), a failure
// removes it again, so a bad file leaves nothing behind, not even a state
// directory.
loaded_plans load_plans(const std::string& file, const std::vector<std::string>& names, state::store& store,
                        bool new_store);


}  // namespace moat::cli
