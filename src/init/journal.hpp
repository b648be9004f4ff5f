// What the init tells the outside: init.log (one timestamped line per
// event) and services.json (the current state of every service, replaced
// atomically so `moat status` never reads half a file).
#pragma once

#include "sys/unique_fd.hpp"

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace moat::init::detail {

struct service_status {
    std::string name;
    const char* state;  // "running" | "exited" | "restarting" | "stopped"
    pid_t pid = 0;      // 0 when not running
    int restarts = 0;
    std::optional<std::string> last_exit;  // "status N" | "signal N"
};

class journal {
public:
    // log_dir_fd < 0: lines go to stderr and no services.json is kept.
    explicit journal(int log_dir_fd);

    // Never throws: the init must outlive a full disk.
    void event(const std::string& text) noexcept;
    void status(const std::vector<service_status>& services) noexcept;

private:
    int _dir;
    sys::unique_fd _log;
    bool _status_failed = false;  // report a failing services.json only once
};

// "2026-11-29T01:02:03Z"
std::string utc_timestamp();

}  // namespace moat::init::detail
