// What the init tells the outside world: init.log (one timestamped line per
// event) and services.json (replaced atomically on every change), both in
// the container's log directory on the host.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace moat::supervisor {

class journal {
public:
    explicit journal(int log_dir_fd) : _dir(log_dir_fd) {}
    void event(const std::string& line) const;
    void publish(const nlohmann::json& services) const;

private:
    int _dir;
};

}  // namespace moat::supervisor
