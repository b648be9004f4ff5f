#include "cli/load.hpp"

#include "config/loader.hpp"
#include "plan/pipes.hpp"
#include "sys/error.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace moat::cli {

loaded_plans load_plans(const std::string& file, const std::vector<std::string>& names) {
    auto model = config::load_file(file);
    config::validate(model);
    // Features land issue by issue; until then their keys are refused, never ignored.
    config::feature_set implemented;
    implemented.pipes = true;
    config::reject_unsupported(model, implemented);
    loaded_plans out;
    std::error_code ec;
    out.source = file == "-" ? "<stdin>" : std::filesystem::absolute(file, ec).string();
    for (const auto& n : names) {
        if (!model.find_container(n)) {
            throw usage_error("no container named '" + n + "' in " + file);
        }
    }
    std::map<std::string, std::string> links;
    for (const auto& c : model.containers) {
        bool selected = names.empty() ? c.auto_start : std::find(names.begin(), names.end(), c.name) != names.end();
        if (!selected) {
            continue;
        }
        auto p = plan::plan_container(c);
        if (!p.host_if.empty()) {
            auto [it, fresh] = links.emplace(p.host_if, c.name);
            if (!fresh) {
                throw usage_error(c.where.str() + ": containers '" + it->second + "' and '" + c.name +
                                  "' would both use interface " + p.host_if + "; rename one");
            }
        }
        out.plans.push_back(std::move(p));
    }
    // Pipes run the moat binary itself (`moat pipe ... -F`).
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        throw sys::errno_error("finding moat's own binary");
    }
    plan::plan_pipes(model, out.plans, std::string(exe, static_cast<size_t>(n)), names.empty());
    return out;
}

}  // namespace moat::cli
