// moat check: prints each container's findings (✓/✗, evidence, hint) or
// JSON; exit 0 only when every check holds.
#include "check/check.hpp"
#include "cli/commands.hpp"
#include "plan/plan.hpp"
#include "state/store.hpp"
#include "sys/error.hpp"
#include "sys/notify.hpp"

#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>

namespace moat::cli {

namespace {

std::string key(const check::finding& f) { return f.container + "/" + f.check; }

// Under a service manager (sys/notify.hpp): READY=1 once the first round
// is done, and WATCHDOG=1 after every round in which all checks passed, so a
// unit's WatchdogSec= (longer than --watch's period plus a round) restarts
// or alerts when checks keep failing or a round hangs. STATUS= says which.
void tell_manager(bool first, bool all_ok, std::size_t failed, std::size_t total) {
    std::string status = all_ok ? "STATUS=all " + std::to_string(total) + " checks passed"
                                : "STATUS=" + std::to_string(failed) + " of " + std::to_string(total) + " checks failing";
    sys::notify((first ? "READY=1\n" : "") + status + (all_ok ? "\nWATCHDOG=1" : ""));
}

// `--watch`: the checks again every `seconds`; a line per change of state,
// and the recorded [check] onFailure command, once per run in which
// something newly failed (with MOAT_CHECK_FAILED naming what).
int watch(const state::store& store, const std::vector<std::string>& names, int seconds) {
    std::map<std::string, bool> last;
    for (bool first = true;; first = false) {
        auto findings = check::run(store, {names, std::chrono::milliseconds(1500)});
        std::string newly_failed;
        std::size_t failed = 0;
        for (const auto& f : findings) {
            failed += f.ok ? 0 : 1;
            auto it = last.find(key(f));
            if (it == last.end() ? (!f.ok || first) : it->second != f.ok) {
                std::printf("%s %s %s: %s\n", f.ok ? "\u2713" : "\u2717", f.container.empty() ? "(host)" : f.container.c_str(), f.check.c_str(), f.evidence.c_str());
                if (!f.ok) {
                    newly_failed += (newly_failed.empty() ? "" : " ") + key(f);
                }
            }
            last[key(f)] = f.ok;
        }
        std::fflush(stdout);
        std::set<std::string> commands;
        for (const auto& r : (store.exists() ? store.scan().records : std::vector<state::container_record>{})) {
            try {
                if (auto cmd = plan::plan_from_json(r.spec).on_failure; !cmd.empty()) {
                    commands.insert(cmd);
                }
            } catch (const std::exception&) {
                // a damaged record: its failure is already among the findings
            }
        }
        for (const auto& cmd : newly_failed.empty() ? std::set<std::string>{} : commands) {
            ::setenv("MOAT_CHECK_FAILED", newly_failed.c_str(), 1);
            int rc = std::system(cmd.c_str());
            std::printf("onFailure: %s (exit %d)\n", cmd.c_str(), WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
        }
        std::fflush(stdout);  // a log file is read while we run
        tell_manager(first, failed == 0, failed, findings.size());
        std::this_thread::sleep_for(std::chrono::seconds(seconds));
    }
}

}  // namespace

int cmd_check(const globals& g, const std::vector<std::string>& names, bool json, bool quiet, int watch_seconds) {
    state::store store(g.state_dir);
    std::set<std::string> known;
    // Read-only: a missing state dir is not created; it has nothing to check.
    if (store.exists()) {
        auto listing = store.scan();
        for (const auto& r : listing.records) {
            known.insert(r.name);
        }
        for (const auto& d : listing.damaged) {
            known.insert(d.name);
        }
    }
    for (const auto& n : names) {
        if (!known.count(n)) {
            throw usage_error("check: no container named '" + n + "' in " + g.state_dir);
        }
    }
    if (watch_seconds > 0) {
        return watch(store, names, watch_seconds);
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
            if (f.container != last || &f == &findings.front()) {
                std::printf("%s\n", f.container.empty() ? "(host)" : f.container.c_str());
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
