// Shared by converge.cpp, damage.cpp and roll_back.cpp; not an interface.
#pragma once

#include "container/runtime.hpp"
#include "plan/network.hpp"
#include "plan/plan.hpp"
#include "state/store.hpp"

#include <chrono>
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

}  // namespace moat::converge::detail
