#include "netlink/sysctl.hpp"

#include <algorithm>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace moat::netlink {

namespace {

std::string sysctl_path(const std::string& key) {
    std::string rel = key;
    if (rel.find('/') == std::string::npos) {
        std::replace(rel.begin(), rel.end(), '.', '/');
    }
    bool bad = rel.empty() || rel.front() == '/' || rel.find("//") != std::string::npos ||
               rel == ".." || rel.starts_with("../") || rel.ends_with("/..") ||
               rel.find("/../") != std::string::npos;
    if (bad) {
        throw moat::error("invalid sysctl key '" + key + "'");
    }
    return "/proc/sys/" + rel;
}

}  // namespace

void set_sysctl(const std::string& key, const std::string& value) {
    auto path = sysctl_path(key);
    try {
        sys::write_file(path, value);
    } catch (...) {
        add_context("setting sysctl " + key + "=" + value);
    }
}

std::string get_sysctl(const std::string& key) {
    auto path = sysctl_path(key);
    std::string value;
    try {
        value = sys::read_file(path);
    } catch (...) {
        add_context("reading sysctl " + key);
    }
    while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) {
        value.pop_back();
    }
    return value;
}

}  // namespace moat::netlink
