#include "netlink/owner.hpp"

#include <cctype>

namespace moat::netlink {

std::string owner_alias(const std::string& instance, const std::string& what) {
    return owner_prefix + instance + ":" + what;
}

std::optional<link_owner> parse_owner_alias(const std::string& alias) {
    const std::string prefix = owner_prefix;
    if (alias.compare(0, prefix.size(), prefix) != 0) {
        return std::nullopt;
    }
    auto colon = alias.find(':', prefix.size());
    if (colon == std::string::npos) {
        return std::nullopt;
    }
    link_owner o{alias.substr(prefix.size(), colon - prefix.size()), alias.substr(colon + 1)};
    // Instance ids are hex (store::instance_id()); anything else is not ours.
    if (o.instance.empty() || o.instance.size() > 64) {
        return std::nullopt;
    }
    for (unsigned char c : o.instance) {
        if (!std::isxdigit(c)) {
            return std::nullopt;
        }
    }
    return o;
}

}  // namespace moat::netlink
