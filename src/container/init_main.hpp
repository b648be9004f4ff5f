// The entry point of a container's PID 1, run in the child of clone3 (see
// spawn.hpp for how it is started and its two pipes).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace moat::container {

// What the host side sends the init over its spec pipe.
struct init_request {
    nlohmann::json plan;          // plan::to_json of the container
    std::string staging;          // host path of the (empty) rootfs mount point
    std::string log_dir;          // host path of the log directory
    bool run_mode = false;        // `moat run`: one command, exit with its status
    std::vector<std::string> command;  // run_mode only
};

nlohmann::json to_json(const init_request& r);

// Runs the init; returns its exit status.
int init_main();

}  // namespace moat::container
