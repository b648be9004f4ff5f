// The table's claim (firewall.hpp): rendering and reading its comment.
#include "firewall/firewall.hpp"

#include <cctype>
#include <sstream>

namespace moat::firewall {

namespace {

constexpr std::size_t comment_max = 128;  // nft: "comment too long, 128 characters maximum allowed"
constexpr const char* prefix = "moat:";

}  // namespace

std::string claim_comment(const claim& c) {
    std::string dir;
    for (unsigned char ch : c.state_dir) {
        // Inside nft's double quotes: no quote, no backslash, nothing unprintable.
        dir += (std::isprint(ch) && ch != '"' && ch != '\\') ? static_cast<char>(ch) : '?';
    }
    std::string head = prefix + c.instance + ":";
    if (head.size() + dir.size() > comment_max) {
        std::size_t keep = comment_max - head.size() - 3;
        dir = "..." + dir.substr(dir.size() - keep);
    }
    return head + dir;
}

std::optional<claim> parse_claim(const std::string& comment) {
    const std::string p = prefix;
    if (comment.compare(0, p.size(), p) != 0) {
        return std::nullopt;
    }
    auto colon = comment.find(':', p.size());
    if (colon == std::string::npos || colon == p.size()) {
        return std::nullopt;
    }
    claim c{comment.substr(p.size(), colon - p.size()), comment.substr(colon + 1)};
    for (unsigned char ch : c.instance) {
        if (!std::isxdigit(ch)) {
            return std::nullopt;
        }
    }
    return c;
}

std::optional<std::string> listing_comment(const std::string& listing) {
    // nft lists a table's comment as the first line of its body:
    //   table inet moat {
    //   	comment "moat:..."
    std::istringstream in(listing);
    std::string line;
    bool in_table = false;
    while (std::getline(in, line)) {
        auto start = line.find_first_not_of(" \t");
        if (start == std::string::npos) {
            continue;
        }
        line = line.substr(start);
        if (!in_table) {
            in_table = line.rfind("table ", 0) == 0;
            continue;
        }
        const std::string key = "comment \"";
        if (line.rfind(key, 0) == 0 && line.size() > key.size() && line.back() == '"') {
            return line.substr(key.size(), line.size() - key.size() - 1);
        }
        return std::nullopt;  // the body started with something else: no comment
    }
    return std::nullopt;
}

}  // namespace moat::firewall
