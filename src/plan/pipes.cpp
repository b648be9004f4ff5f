#include "plan/pipes.hpp"

#include "config/loader.hpp"
#include "plan/digest.hpp"
#include "plan/file_modes.hpp"
#include "plan/host_secrets.hpp"

#include <unistd.h>

#include <cstdlib>

namespace moat::plan {

namespace {

// "webapp:12345" -> "10.171.1.2:12345" when webapp is a container.
std::string resolve(const config::model& m, const config::pipe& p, const std::string& key, const std::string& endpoint,
                    std::vector<config::diagnostic>& errors) {
    auto colon = endpoint.rfind(':');
    if (endpoint.empty() || endpoint[0] == '/' || endpoint[0] == '[' || colon == std::string::npos) {
        return endpoint;
    }
    const auto* c = m.find_container(endpoint.substr(0, colon));
    if (!c) {
        return endpoint;
    }
    if (c->local_address) {
        return c->local_address->address.str() + endpoint.substr(colon);
    }
    if (c->local_address6) {
        return "[" + c->local_address6->address.str() + "]" + endpoint.substr(colon);
    }
    auto it = p.keys.find(key);
    errors.push_back({it != p.keys.end() ? it->second : p.where,
                      "pipe '" + p.name + "': container '" + c->name + "' has no address to reach",
                      "give it localAddress, or run the pipe inside it with container = \"" + c->name + "\""});
    return endpoint;
}

// "0.0.0.0:443", "[::]:80" (not a Unix socket path).
bool privileged_port(const std::string& endpoint) {
    auto colon = endpoint.rfind(':');
    if (endpoint.empty() || endpoint[0] == '/' || colon == std::string::npos) {
        return false;
    }
    int port = std::atoi(endpoint.c_str() + colon + 1);
    return port > 0 && port < 1024;
}

// Where the init puts the pipe's copy of its key (plan.hpp, secret_plan).
std::string key_inside(const config::pipe& p) { return "/run/moat/keys/" + p.name + ".key"; }

service_plan pipe_service(const config::pipe& p, const std::string& source, const std::string& target) {
    service_plan s;
    s.name = "pipe-" + p.name;
    s.argv = {moat_in_container, "pipe", p.mode == config::pipe_mode::encrypt ? "-e" : "-d",
              "-s", source, "-t", target, "-k", key_inside(p), "-F"};
    s.restart = "always";
    return s;
}

}  // namespace

void add_binary_mount(container_plan& c, const std::string& moat_exe) {
    for (const auto& m : c.mounts) {
        if (m.mount_point == moat_in_container) {
            return;
        }
    }
    c.mounts.push_back({moat_exe, moat_in_container, true});
}

void plan_pipes(const config::model& m, std::vector<container_plan>& plans, const std::string& moat_exe,
                bool with_host_pipes) {
    std::vector<config::diagnostic> errors;
    container_plan host;
    host.name = host_pipes_container;
    host.hostname = "moat-pipes";
    // The host's pipes run in a user namespace like any container, unless
    // one listens on a host port below 1024: the host's network namespace
    // belongs to the initial user namespace, and only a capability there
    // may bind those ports.
    host.users = "pick";
    for (const auto& p : m.pipes) {
        if (!p.container && privileged_port(p.source)) {
            host.users = "no";
        }
    }
    const host_secrets secrets("a container");  // the pipe's container gets a copy of its key
    for (const auto& p : m.pipes) {
        auto key_at = p.keys.find("keyFile");
        const auto& at = key_at != p.keys.end() ? key_at->second : p.where;
        if (auto why = secrets.refusal(p.key_file); !why.empty()) {
            errors.push_back({at, "pipe '" + p.name + "': key file " + p.key_file + ": " + why,
                              "create one of its own with `moat keygen FILE`"});
        } else {
            if (::access(p.key_file.c_str(), R_OK) != 0) {
                errors.push_back({at, "pipe '" + p.name + "': cannot read key file " + p.key_file,
                                  "create one with `moat keygen FILE`"});
            }
            warn_if_too_open(p.key_file, "the key of pipe '" + p.name + "'");
        }
        auto svc = pipe_service(p, resolve(m, p, "source", p.source, errors),
                                resolve(m, p, "target", p.target, errors));
        // A copy of the key, owned by the container's root: in a user
        // namespace the host's file (root's, mode 0600) would be unreadable,
        // and other containers must not see it at all.
        secret_plan key{p.key_file, key_inside(p), ""};
        try {
            key.digest = file_digest(p.key_file);  // unreadable: reported above
        } catch (const std::system_error&) {
        }
        container_plan* owner = &host;
        for (auto& c : plans) {
            if (p.container && c.name == *p.container) {
                owner = &c;
            }
        }
        if (p.container && owner == &host) {
            continue;  // its container is not being brought up
        }
        add_binary_mount(*owner, moat_exe);
        owner->services.push_back(std::move(svc));
        owner->secrets.push_back(key);
    }
    if (!errors.empty()) {
        throw config::config_error(std::move(errors));
    }
    if (with_host_pipes && !host.services.empty()) {
        plans.push_back(std::move(host));
    }
}

}  // namespace moat::plan
