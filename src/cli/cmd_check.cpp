// moat check: prints each container's findings (✓/✗, evidence, hint) or
// JSON; exit 0 only when every check holds.
#include "check/check.hpp"
#include "cli/commands.hpp"
#include "state/store.hpp"
#include "sys/error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <set>

namespace moat::cli {

int cmd_check(const globals& g, const std::vector<std::string>& names, bool json, bool quiet) {
    state::store store(g.state_dir);
    std::set<std::string> known;
    for (const auto& r : store.containers()) {
        known.insert(r.name);
    }
    for (const auto& n : names) {
        if (!known.count(n)) {
            throw usage_error("check: no container named '" + n + "' in " + g.state_dir);
        }
    }
    auto findings = check::run(store, {names, std::chrono::milliseconds(1500)});
    std::stable_sort(findings.begin(), findings.end(),
                     [](const check::finding& a, const check::finding& b) { return a.container < b.container; });
    bool ok = true;
    nlohmann::json out = {{"version", 1}, {"ok", true}, {"checks", nlohmann::json::array()}};
    for (const auto& f : findings) {
        ok = ok && f.ok;
        out["checks"].push_back({{"container", f.container}, {"check", f.check}, {"ok", f.ok},
                                 {"evidence", f.evidence}, {"hint", f.hint}});
    }
    out["ok"] = ok;
    if (json) {
        std::printf("%s\n", out.dump(2).c_str());
    } else if (!quiet) {
        std::string last;
        for (const auto& f : findings) {
            if (f.container != last) {
                std::printf("%s\n", f.container.c_str());
                last = f.container;
            }
            std::printf("  %s %-13s %s%s\n", f.ok ? "\u2713" : "\u2717", f.check.c_str(), f.evidence.c_str(),
                        f.hint.empty() ? "" : (" \u2014 " + f.hint).c_str());
        }
        std::printf("%s\n", findings.empty() ? "nothing to check" : ok ? "all checks passed" : "CHECK FAILED");
    }
    return ok ? 0 : 1;
}

}  // namespace moat::cli
