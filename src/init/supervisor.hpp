// The init's event loop and per-service state (init.hpp has the theory).
#pragma once

#include "init/events.hpp"
#include "init/init.hpp"
#include "init/journal.hpp"
#include "init/launch.hpp"
#include "sys/unique_fd.hpp"

#include <chrono>
#include <optional>

namespace moat::init::detail {

class supervisor {
public:
    supervisor(const spec& s, std::function<int()> prepare_child);
    int run();

private:
    using clock = std::chrono::steady_clock;
    enum class state { waiting, running, exited, restarting, stopped };

    struct unit {
        const service* svc = nullptr;
        command cmd;
        state st = state::waiting;
        pid_t pid = 0;
        int restarts = 0;
        std::optional<std::string> last_exit;
        clock::time_point started{};
        clock::time_point restart_at{};
        std::chrono::milliseconds backoff{};
    };

    void start(unit& u);
    void reap();
    void exited(unit& u, int status);
    void schedule_restart(unit& u, std::chrono::milliseconds ran, const std::string& how);
    void handle_signal(int sig);
    void handle_deadlines();
    void begin_stop(const std::string& why);
    void kill_everything();
    void rearm();
    void publish();
    bool finished() const;
    bool is_exit_with(const unit& u) const;

    const spec& _spec;
    std::function<int()> _prepare_child;
    journal _journal;
    event_sources _events;
    sys::unique_fd _dev_null;
    std::vector<unit> _units;  // in start order
    bool _stopping = false;
    bool _killed = false;
    clock::time_point _kill_at{};
    int _result = 0;
};

}  // namespace moat::init::detail
