// Shared by converge.cpp, damage.cpp and roll_back.cpp; not an interface.
#pragma once

#include "container/runtime.hpp"
#include "converge/converge.hpp"
#include "plan/network.hpp"
#include "plan/plan.hpp"
#include "state/store.hpp"

#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace moat::converge::detail {

// Stops a container; `_tunnels` takes its runners' tunnel devices with it.
// keep_link: as container::stop()'s.
void stop_container(const state::container_record& rec, std::chrono::milliseconds grace = std::chrono::seconds(8),
                    bool keep_link = false);

// Undoes what `up` started — prepared containers, and those whose
// prepare() failed half-way (`attempted` names them all) — so a failed `up`
// leaves the host as it found it apart from containers that were already
// running. A step that fails is reported on stderr and the others still run;
// what failed stays recorded, and a later `down` finishes it.
void roll_back(state::store& store, std::vector<container::pending>& pend, const std::vector<std::string>& attempted,
               std::vector<plan::container_plan>& keep);

// Times `up`'s and `down`'s steps for their progress lines.
class stopwatch {
public:
    explicit stopwatch(const progress_fn& fn) : _fn(fn) {}
    void step(const std::string& what) {
        auto now = std::chrono::steady_clock::now();
        if (_fn) {
            _fn(what, std::chrono::duration_cast<std::chrono::microseconds>(now - _last));
        }
        _last = now;
    }

private:
    const progress_fn& _fn;
    std::chrono::steady_clock::time_point _last = std::chrono::steady_clock::now();
};

// What `up` starts and what runs afterwards (decide() in converge.cpp).
struct decision {
    std::vector<const plan::container_plan*> to_start;
    std::vector<plan::container_plan> keep;  // running afterwards, for the firewall
    std::set<std::string> damaged;           // planned containers whose damaged record was removed
};

// The order of `up`'s starts (start_order.cpp): `_tunnels` prepared and
// released first, every other init's spec before the firewall commit, the
// go for all after it.
bool prepare_all(state::store& store, decision& d, const container::start_options& so,
                 std::vector<container::pending>& pend, std::vector<std::string>& attempted, stopwatch& sw);
void send_specs(state::store& store, std::vector<container::pending>& pend, bool tunnels_released,
                const container::start_options& so);
void release_all(state::store& store, std::vector<container::pending>& pend, bool tunnels_released, stopwatch& sw);

}  // namespace moat::converge::detail
