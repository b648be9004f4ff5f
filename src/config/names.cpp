#include "config/names.hpp"

#include <cctype>

namespace moat::config {

std::optional<std::string> name_problem(std::string_view n) {
    if (n.empty()) {
        return "it is empty";
    }
    if (n.size() > 64) {
        return "it is longer than 64 characters";
    }
    if (!std::isalnum(static_cast<unsigned char>(n[0]))) {
        return "it must start with a letter or digit";
    }
    for (char c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
            return "it may only hold letters, digits, '-' and '_'";
        }
    }
    return std::nullopt;
}

std::optional<std::string> path_problem(std::string_view p) {
    if (p.empty() || p.front() != '/') {
        return "expected an absolute path";
    }
    if (p.find('\0') != std::string_view::npos) {
        return "a path cannot contain a NUL byte";
    }
    if (p.size() > 4095) {
        return "the path is longer than PATH_MAX";
    }
    std::size_t start = 1;
    while (start <= p.size()) {
        std::size_t end = p.find('/', start);
        if (end == std::string_view::npos) {
            end = p.size();
        }
        std::string_view part = p.substr(start, end - start);
        if (part == "." || part == "..") {
            return "'" + std::string(part) + "' segments are not allowed; write the path without them";
        }
        start = end + 1;
    }
    return std::nullopt;
}

}  // namespace moat::config
