#include "init/init.hpp"

#include "sys/error.hpp"

#include <set>

namespace moat::init {

std::vector<std::size_t> start_order(const std::vector<service>& services) {
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < services.size(); ++i) {
        if (!index.emplace(services[i].name, i).second) {
            throw moat::usage_error("service " + services[i].name + " is defined twice");
        }
    }
    // Kahn's algorithm, always taking the first ready service in
    // declaration order, so the order is predictable for the user.
    std::vector<std::set<std::size_t>> waits_for(services.size());
    for (std::size_t i = 0; i < services.size(); ++i) {
        for (const auto& dep : services[i].after) {
            auto it = index.find(dep);
            if (it == index.end()) {
                throw moat::usage_error("service " + services[i].name + " is after " + dep +
                                        ", which is not a service of this container");
            }
            if (it->second != i) {  // after itself: nothing to wait for
                waits_for[i].insert(it->second);
            }
        }
    }
    std::vector<std::size_t> order;
    std::vector<bool> started(services.size(), false);
    while (order.size() < services.size()) {
        bool progressed = false;
        for (std::size_t i = 0; i < services.size() && !progressed; ++i) {
            if (!started[i] && waits_for[i].empty()) {
                started[i] = true;
                order.push_back(i);
                for (auto& w : waits_for) {
                    w.erase(i);
                }
                progressed = true;
            }
        }
        if (!progressed) {
            std::string names;
            for (std::size_t i = 0; i < services.size(); ++i) {
                if (!started[i]) {
                    names += (names.empty() ? "" : ", ") + services[i].name;
                }
            }
            throw moat::usage_error("services " + names + " wait for each other in `after` (a cycle)");
        }
    }
    return order;
}

}  // namespace moat::init
