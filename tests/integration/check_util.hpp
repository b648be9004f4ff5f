// Reading `moat check --json` in the check tests: the exit code and stderr
// folded in, the failed findings as "container/check" words, one evidence.
#pragma once

#include "lab.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace moat::test {

inline nlohmann::json check_json(lab& l) {
    auto r = l.moat("check --json", std::chrono::seconds(30));
    auto j = nlohmann::json::parse(r.out.empty() ? "{}" : r.out, nullptr, false);
    if (j.is_discarded()) j = nlohmann::json::object();
    j["exit"] = r.code;
    if (!r.err.empty()) j["stderr"] = r.err;
    return j;
}

inline std::string failures(const nlohmann::json& j) {
    std::string out;
    for (const auto& c : j.value("checks", nlohmann::json::array())) {
        if (!c["ok"].get<bool>()) out += c["container"].get<std::string>() + "/" + c["check"].get<std::string>() + " ";
    }
    return out;
}

// The evidence of the first finding of that container ("" = the host) and check.
inline std::string evidence(const nlohmann::json& j, const std::string& container, const std::string& check) {
    for (const auto& c : j.value("checks", nlohmann::json::array())) {
        if (c["container"] == container && c["check"] == check) return c["evidence"];
    }
    return "";
}

}  // namespace moat::test
