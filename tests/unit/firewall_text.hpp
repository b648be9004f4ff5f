// Pieces of a rendered `table inet moat`, for the renderer's unit tests.
#pragma once

#include <string>

namespace moat::firewall::test {

inline bool contains(const std::string& text, const std::string& needle) {
    return text.find(needle) != std::string::npos;
}

// A chain's text, or a set's or map's ("set NAME", "map NAME"). The DNAT
// rules of prerouting and nat_output are in chains per (protocol, host
// port) that they jump to (render_nat.cpp): appended to theirs.
inline std::string chain(const std::string& text, const std::string& name) {
    auto block = [&](const std::string& head) {
        auto begin = text.find("\t" + head + " {\n");
        return begin == std::string::npos ? std::string()
                                          : text.substr(begin, text.find("\n\t}\n", begin) + 4 - begin);
    };
    std::string out = block(name.find(' ') == std::string::npos ? "chain " + name : name);
    if (name == "prerouting" || name == "nat_output") {
        const std::string prefix = name == "prerouting" ? "\tchain dnat_" : "\tchain dnato_";
        for (auto at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
            out += text.substr(at, text.find("\n\t}\n", at) + 4 - at);
        }
    }
    return out;
}

}  // namespace moat::firewall::test
