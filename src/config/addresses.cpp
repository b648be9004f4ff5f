#include "config/addresses.hpp"

#include <string_view>

namespace moat::config {

namespace {

struct special_range {
    std::string_view prefix;
    std::string_view address_text;  // what an address inside it "is"
    std::string_view network_text;  // what a prefix overlapping it does
    bool host_scope = false;        // loopback or link-local: fine for one of the host's own addresses
};

// Single addresses first, so 0.0.0.0 reads "the unspecified address" and
// not "in 0.0.0.0/8".
constexpr special_range special_ranges[] = {
    {"0.0.0.0/32", "the unspecified address", "contains the unspecified address 0.0.0.0"},
    {"255.255.255.255/32", "the limited broadcast address", "contains the limited broadcast address 255.255.255.255"},
    {"0.0.0.0/8", "in 0.0.0.0/8 (\"this network\"), which is never routed", "overlaps 0.0.0.0/8 (\"this network\"), which is never routed"},
    {"127.0.0.0/8", "a loopback address (127.0.0.0/8)", "overlaps the loopback range 127.0.0.0/8", true},
    {"169.254.0.0/16", "a link-local address (169.254.0.0/16), which is never forwarded", "overlaps the link-local range 169.254.0.0/16, which is never forwarded", true},
    {"224.0.0.0/4", "a multicast address (224.0.0.0/4)", "overlaps the multicast range 224.0.0.0/4"},
    {"::/128", "the unspecified address", "contains the unspecified address ::"},
    {"::1/128", "the loopback address", "contains the loopback address ::1", true},
    {"::ffff:0:0/96", "an IPv4-mapped address (::ffff:0:0/96)", "overlaps the IPv4-mapped range ::ffff:0:0/96"},
    {"fe80::/10", "a link-local address (fe80::/10), which is never forwarded", "overlaps the link-local range fe80::/10, which is never forwarded", true},
    {"ff00::/8", "a multicast address (ff00::/8)", "overlaps the multicast range ff00::/8"},
};

sys::ip_prefix parsed(std::string_view text) { return *sys::ip_prefix::parse(text); }

}  // namespace

int min_network_prefix(const sys::ip_address& a) { return a.is_v4() ? min_network_prefix_v4 : min_network_prefix_v6; }

std::optional<std::string> special_address(const sys::ip_address& a, bool host_scope_ok) {
    for (const auto& r : special_ranges) {
        if (parsed(r.prefix).contains(a) && !(host_scope_ok && r.host_scope)) {
            return "is " + std::string(r.address_text);
        }
    }
    return std::nullopt;
}

std::optional<std::string> network_problem(const sys::ip_prefix& p) {
    int min = min_network_prefix(p.address);
    if (p.length < min) {
        return "is wider than /" + std::to_string(min) + ", the widest network moat accepts";
    }
    for (const auto& r : special_ranges) {
        if (parsed(r.prefix).overlaps(p)) {
            return std::string(r.network_text);
        }
    }
    return std::nullopt;
}

}  // namespace moat::config
