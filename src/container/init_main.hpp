// The entry point of a container's PID 1, run in the child of clone3 (see
// spawn.hpp for how it is started, handoff.hpp for what it is sent).
#pragma once

#include "container/relay.hpp"
#include "plan/plan.hpp"

#include <nlohmann/json.hpp>

#include <optional>

#include <string>
#include <vector>

namespace moat::container {

// What the host side sends the init, besides descriptors. The `*_fd`
// fields and those of `binds`/`secrets` index the descriptors that came
// with the message.
struct init_request {
    nlohmann::json plan;             // plan::to_json of the container; null when the init has it (spawn.hpp)
    bool run_mode = false;           // `moat run`: one command, exit with its status
    std::vector<std::string> command;  // run_mode only
    std::optional<terminal_settings> terminal;  // run_mode: allocate the command's pty inside
    bool user_namespace = false;     // become root of the (new) user namespace first
    std::string state_dir;           // moat's state directory, masked inside when visible
    std::vector<std::string> masks;  // further host paths to hide (key files, tunnel configs)
    int log_dir_fd = -1;
    int root_fd = -1;
    int nodes_fd = -1;               // the device nodes' store (trees.hpp)
    std::vector<std::string> nodes;  // where each goes inside, by its index in the store
    struct bind {
        int fd = -1;
        std::string mount_point;
        bool directory = true;
    };
    std::vector<bind> binds;
    struct secret {
        int fd = -1;
        std::string path;
    };
    std::vector<secret> secrets;
};

nlohmann::json to_json(const init_request& r);
init_request init_request_from_json(const nlohmann::json& j);

// What the container's processes keep beyond the default capability set
// (additionalCapabilities, enableTun; CAP_NET_ADMIN for the tunnel runners),
// as a mask of 1 << CAP_*: its services and `moat exec` alike.
std::uint64_t extra_capabilities(const plan::container_plan& p);

// Runs the init; returns its exit status. `own_network`: it was cloned
// into a network namespace of its own, whose loopback it raises.
// `inherited`: the plan in the init's copy of the caller's memory
// (spawn_options::plan), else null and the spec carries it.
int init_main(bool own_network, const plan::container_plan* inherited);

}  // namespace moat::container
