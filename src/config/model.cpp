#include "config/model.hpp"

namespace moat::config {

std::string location::str() const {
    if (line <= 0) {
        return file;
    }
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

template <typename T>
static const T* find_named(const std::vector<T>& items, const std::string& name) {
    for (const auto& item : items) {
        if (item.name == name) {
            return &item;
        }
    }
    return nullptr;
}

const container* model::find_container(const std::string& name) const { return find_named(containers, name); }
const network* model::find_network(const std::string& name) const { return find_named(networks, name); }
const tunnel* model::find_tunnel(const std::string& name) const { return find_named(tunnels, name); }

std::string to_string(egress_kind k) {
    switch (k) {
    case egress_kind::none: return "none";
    case egress_kind::nat: return "nat";
    case egress_kind::vpn: return "vpn";
    }
    return "none";
}

std::string to_string(forward_side s) {
    switch (s) {
    case forward_side::uplink: return "uplink";
    case forward_side::tunnel: return "tunnel";
    case forward_side::both: return "both";
    }
    return "uplink";
}

std::optional<egress_spec> parse_egress(std::string_view text) {
    if (text == "none") {
        return egress_spec{egress_kind::none, {}};
    }
    if (text == "nat") {
        return egress_spec{egress_kind::nat, {}};
    }
    if (text.size() > 4 && text.starts_with("vpn:")) {
        return egress_spec{egress_kind::vpn, std::string(text.substr(4))};
    }
    return std::nullopt;
}

std::string to_string(const egress_spec& e) {
    return e.kind == egress_kind::vpn ? "vpn:" + e.tunnel : to_string(e.kind);
}

std::string to_string(restart_policy r) {
    switch (r) {
    case restart_policy::no: return "no";
    case restart_policy::on_failure: return "on-failure";
    case restart_policy::always: return "always";
    }
    return "no";
}

std::string to_string(const private_users& u) {
    switch (u.mode) {
    case users_mode::no: return "no";
    case users_mode::pick: return "pick";
    case users_mode::identity: return "identity";
    case users_mode::base: return std::to_string(u.base);
    }
    return "pick";
}

}  // namespace moat::config
