#include "config/probe.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace moat::config {

bool is_dns_name(std::string_view name) {
    if (name.ends_with(".")) {
        name.remove_suffix(1);
    }
    if (name.empty() || name.size() > 253) {
        return false;
    }
    bool letter = false;
    std::size_t label = 0;
    for (std::size_t i = 0; i <= name.size(); ++i) {
        if (i == name.size() || name[i] == '.') {
            if (label == 0 || label > 63 || name[i - 1] == '-' || name[i - label] == '-') {
                return false;
            }
            label = 0;
            continue;
        }
        auto c = static_cast<unsigned char>(name[i]);
        if (!std::isalnum(c) && c != '-') {
            return false;
        }
        letter = letter || !std::isdigit(c);
        ++label;
    }
    return letter;
}

std::optional<probe_target> parse_probe(std::string_view text) {
    probe_target t;
    if (text.starts_with("http://")) {
        t.http = true;
        text.remove_prefix(7);
        if (auto slash = text.find('/'); slash != std::string_view::npos) {
            t.path = std::string(text.substr(slash));
            text = text.substr(0, slash);
        }
        if (t.path.find_first_of(" \t\r\n") != std::string::npos) {
            return std::nullopt;
        }
    }
    std::string_view host = text, port;
    if (text.starts_with("[")) {
        auto close = text.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        auto rest = text.substr(close + 1);
        if (!rest.empty() && (!rest.starts_with(":") || rest.size() == 1)) {
            return std::nullopt;
        }
        port = rest.empty() ? rest : rest.substr(1);
    } else if (auto colon = text.find(':'); colon != std::string_view::npos) {
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (port.empty()) {
            return std::nullopt;
        }
    }
    if (port.empty() && !t.http) {
        return std::nullopt;  // "HOST:PORT" needs its port
    }
    if (!port.empty()) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
            return std::nullopt;
        }
        t.port = static_cast<std::uint16_t>(value);
    }
    bool bracketed = text.starts_with("[");
    t.address = sys::ip_address::parse(host);
    if (t.address ? t.address->is_v6() != bracketed : bracketed || !is_dns_name(host)) {
        return std::nullopt;
    }
    t.host = std::string(host);
    return t;
}

}  // namespace moat::config
