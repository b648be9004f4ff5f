// Loading, validating and planning a config file for the verbs that read one.
#pragma once

#include "plan/plan.hpp"

#include <string>
#include <vector>

namespace moat::cli {

struct loaded_plans {
    std::string source;  // absolute path of the file ("<stdin>" for -)
    std::vector<plan::container_plan> plans;
};

// Throws config_error/usage_error (exit 2) for bad files, unknown names,
// unsupported features and link-name clashes; touches nothing.
loaded_plans load_plans(const std::string& file, const std::vector<std::string>& names);

}  // namespace moat::cli
