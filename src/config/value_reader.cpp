#include "config/value_reader.hpp"

#include "config/names.hpp"
#include "config/probe.hpp"

#include <sys/socket.h>

#include <cctype>
#include <charconv>

namespace moat::config {

std::string_view kind_name(node_kind k) {
    switch (k) {
    case node_kind::table: return "a table";
    case node_kind::array: return "an array";
    case node_kind::string: return "a string";
    case node_kind::integer: return "an integer";
    case node_kind::floating: return "a float";
    case node_kind::boolean: return "a boolean";
    case node_kind::datetime: return "a date/time";
    case node_kind::null: return "null";
    }
    return "a value";
}

std::string shown(const tree_node& n) {
    switch (n.kind) {
    case node_kind::string: {
        // Long or binary strings would drown the message; show a safe prefix.
        std::string out = "\"";
        for (std::size_t i = 0; i < n.text.size() && i < 60; ++i) {
            unsigned char c = static_cast<unsigned char>(n.text[i]);
            out += (c < 0x20 || c == 0x7F) ? '?' : static_cast<char>(c);
        }
        return out + (n.text.size() > 60 ? "...\"" : "\"");
    }
    case node_kind::integer: return std::to_string(n.integer);
    case node_kind::boolean: return n.boolean ? "true" : "false";
    default: return std::string(kind_name(n.kind));
    }
}

bool value_reader::fields(const tree_node& t, std::string_view key, std::string_view context,
                          const std::vector<field>& fs, key_locations* keys) {
    if (!is(t, node_kind::table, key)) {
        return false;
    }
    if (_observe) {
        _observe(t, fs);
    }
    for (const auto& m : t.members) {
        if (m.value.kind == node_kind::null) {
            continue;
        }
        const field* match = nullptr;
        for (const auto& f : fs) {
            if (f.key == m.key) {
                match = &f;
                break;
            }
        }
        if (!match) {
            std::vector<std::string_view> names;
            std::string all;
            for (const auto& f : fs) {
                names.push_back(f.key);
                all += (all.empty() ? "" : ", ") + std::string(f.key);
            }
            std::string message = "unknown key " + quoted(m.key) + " in " + std::string(context);
            if (auto near = nearest_key(m.key, names); !near.empty()) {
                _diag.add(m.key_pos, message + "; did you mean " + quoted(near) + "?");
            } else {
                _diag.add(m.key_pos, message, "valid keys are " + all);
            }
            continue;
        }
        if (keys) {
            (*keys)[m.key] = at(m.key_pos);
        }
        match->apply(m);
    }
    return true;
}

void value_reader::require(position where, std::string_view context, const key_locations& keys,
                           std::initializer_list<std::string_view> required) {
    for (auto key : required) {
        if (!keys.count(std::string(key))) {
            _diag.add(where, "missing required key " + quoted(key) + " in " + std::string(context));
        }
    }
}

bool value_reader::is(const tree_node& n, node_kind k, std::string_view key, std::string_view expected) {
    if (n.kind == k) {
        return true;
    }
    std::string what = expected.empty() ? std::string(kind_name(k)) : std::string(expected);
    std::string hint;
    // "8080" for a port or "true" for a flag: the value is right, the quotes are not.
    bool digits = !n.text.empty() && n.text.find_first_not_of("0123456789") == std::string::npos;
    bool flag = n.text == "true" || n.text == "false";
    if (n.kind == node_kind::string && ((k == node_kind::integer && digits) || (k == node_kind::boolean && flag))) {
        hint = "write it without quotes";
    }
    _diag.add(n.pos, std::string(key) + ": expected " + what + ", got " + std::string(kind_name(n.kind)), hint);
    return false;
}

std::optional<std::string> value_reader::string(const tree_node& n, std::string_view key) {
    if (!is(n, node_kind::string, key)) {
        return std::nullopt;
    }
    // Every string ends up in a C API (paths, argv, addresses), where a NUL
    // would silently cut it short.
    if (n.text.find('\0') != std::string::npos) {
        _diag.add(n.pos, std::string(key) + ": strings must not contain NUL characters");
        return std::nullopt;
    }
    return n.text;
}

std::optional<bool> value_reader::boolean(const tree_member& m) {
    if (!is(m.value, node_kind::boolean, m.key, "true or false")) {
        return std::nullopt;
    }
    return m.value.boolean;
}

std::optional<std::int64_t> value_reader::integer(const tree_member& m, std::int64_t min, std::int64_t max,
                                                  std::string_view expected) {
    if (!is(m.value, node_kind::integer, m.key, expected)) {
        return std::nullopt;
    }
    if (m.value.integer < min || m.value.integer > max) {
        _diag.add(m.value.pos, m.key + ": expected " + std::string(expected) + ", got " + shown(m.value));
        return std::nullopt;
    }
    return m.value.integer;
}

std::optional<std::uint16_t> value_reader::port(const tree_node& n, std::string_view key) {
    static constexpr std::string_view expected = "a port number 1-65535";
    if (!is(n, node_kind::integer, key, expected)) {
        return std::nullopt;
    }
    if (n.integer < 1 || n.integer > 65535) {
        _diag.add(n.pos, std::string(key) + ": expected " + std::string(expected) + ", got " + shown(n));
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(n.integer);
}

std::vector<std::uint16_t> value_reader::ports(const tree_member& m) {
    std::vector<std::uint16_t> out;
    if (is(m.value, node_kind::array, m.key, "an array of port numbers")) {
        for (const auto& item : m.value.items) {
            if (auto p = port(item, m.key)) {
                out.push_back(*p);
            }
        }
    }
    return out;
}

std::vector<std::string> value_reader::strings(const tree_member& m) {
    std::vector<std::string> out;
    if (is(m.value, node_kind::array, m.key, "an array of strings")) {
        for (const auto& item : m.value.items) {
            if (auto s = string(item, m.key)) {
                out.push_back(*s);
            }
        }
    }
    return out;
}

std::optional<sys::ip_prefix> value_reader::prefix(const tree_member& m, int family) {
    std::string_view expected = family == AF_INET ? "an IPv4 address like 10.0.0.1 or 10.0.0.1/30"
                                                  : "an IPv6 address like fc00::1 or fc00::1/64";
    if (!is(m.value, node_kind::string, m.key, expected)) {
        return std::nullopt;
    }
    auto p = sys::ip_prefix::parse(m.value.text);
    if (!p || p->address.family != family || m.value.text.find('\0') != std::string::npos) {
        _diag.add(m.value.pos, m.key + ": expected " + std::string(expected) + ", got " + shown(m.value));
        return std::nullopt;
    }
    return p;
}

std::optional<sys::ip_address> value_reader::address(const tree_member& m) {
    static constexpr std::string_view expected = "an IP address like 10.0.0.1 or fc00::1";
    if (!is(m.value, node_kind::string, m.key, expected)) {
        return std::nullopt;
    }
    auto a = sys::ip_address::parse(m.value.text);
    if (!a || m.value.text.find('\0') != std::string::npos) {
        _diag.add(m.value.pos, m.key + ": expected " + std::string(expected) + ", got " + shown(m.value));
        return std::nullopt;
    }
    return a;
}

std::optional<std::string> value_reader::absolute_path(const tree_node& n, std::string_view key) {
    auto s = string(n, key);
    if (!s) {
        return s;
    }
    if (auto problem = path_problem(*s)) {
        _diag.add(n.pos, std::string(key) + ": " + *problem + ", got " + shown(n));
        return std::nullopt;
    }
    return s;
}

std::vector<sys::ip_prefix> value_reader::prefixes(const tree_member& m) {
    std::vector<sys::ip_prefix> out;
    if (!is(m.value, node_kind::array, m.key, "an array of IP prefixes")) {
        return out;
    }
    for (const auto& item : m.value.items) {
        auto s = string(item, m.key);
        auto p = s ? sys::ip_prefix::parse(*s) : std::nullopt;
        if (s && !p) {
            _diag.add(item.pos, m.key + ": expected an IPv4 or IPv6 prefix like 192.168.1.0/24 or fd00::/64, got " + shown(item));
        } else if (p) {
            out.push_back(p->network());
        }
    }
    return out;
}

std::optional<egress_spec> value_reader::egress(const tree_member& m) {
    auto s = string(m);
    if (!s) {
        return std::nullopt;
    }
    if (auto e = parse_egress(*s)) {
        return e;
    }
    _diag.add(m.value.pos, m.key + ": " + std::string(egress_expected) + ", got " + shown(m.value));
    return std::nullopt;
}

std::optional<std::string> value_reader::endpoint(const tree_member& m) {
    auto s = string(m);
    if (!s) {
        return std::nullopt;
    }
    if (s->starts_with("/")) {
        return s;
    }
    auto colon = s->rfind(':');
    std::string_view host = colon == std::string::npos ? std::string_view{} : std::string_view(*s).substr(0, colon);
    std::string_view port = colon == std::string::npos ? std::string_view{} : std::string_view(*s).substr(colon + 1);
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    bool port_ok = !port.empty() && ec == std::errc() && end == port.data() + port.size() && value >= 1 && value <= 65535;
    // A bare IPv6 address needs brackets, or its last group reads as the port.
    bool host_ok = !host.empty() && (host.front() == '[' ? host.back() == ']' : host.find(':') == std::string::npos);
    if (!port_ok || !host_ok) {
        _diag.add(m.value.pos, m.key + ": expected host:port like 127.0.0.1:8080 or [::1]:8080 (or an absolute socket path), got " + shown(m.value));
        return std::nullopt;
    }
    return s;
}

std::vector<std::string> value_reader::probes(const tree_member& m) {
    std::vector<const tree_node*> items;
    if (m.value.kind == node_kind::array) {
        for (const auto& item : m.value.items) {
            items.push_back(&item);
        }
        if (items.empty() || items.size() > 4) {
            _diag.add(m.value.pos, m.key + ": expected one to four probes, got " + std::to_string(items.size()));
            return {};
        }
    } else if (is(m.value, node_kind::string, m.key, "a probe or an array of probes")) {
        items.push_back(&m.value);
    }
    std::vector<std::string> out;
    for (const auto* item : items) {
        auto s = string(*item, m.key);
        if (s && !parse_probe(*s)) {
            _diag.add(item->pos, m.key + ": expected http://HOST[:PORT][/PATH] or HOST:PORT (HOST an address, [IPv6] or a DNS name), got " +
                                     shown(*item));
        } else if (s) {
            out.push_back(*s);
        }
    }
    return out;
}

std::optional<std::string> value_reader::interface_name(const tree_member& m) {
    auto s = string(m);
    // The kernel's dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':' or blanks.
    if (s && (s->empty() || s->size() > 15 || *s == "." || *s == ".." ||
              s->find_first_of("/: \t\n\r\f\v") != std::string::npos)) {
        _diag.add(m.value.pos, m.key + ": expected a network interface name (1-15 characters, no '/', ':' or spaces), got " + shown(m.value));
        return std::nullopt;
    }
    return s;
}

void value_reader::bad_choice(const tree_member& m, const std::string& got, const std::vector<std::string_view>& names) {
    std::string list;
    for (std::size_t i = 0; i < names.size(); ++i) {
        list += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + ("\"" + std::string(names[i]) + "\"");
    }
    std::string message = m.key + ": expected " + list + ", got " + shown(m.value);
    if (auto near = nearest_key(got, names); !near.empty()) {
        message += "; did you mean \"" + near + "\"?";
    }
    _diag.add(m.value.pos, message);
}

bool value_reader::check_name(const tree_member& m, std::string_view what) {
    const std::string& n = m.key;
    if (!name_problem(n)) {
        return true;
    }
    _diag.add(m.key_pos, "invalid " + std::string(what) + " name " + quoted(n.size() > 70 ? n.substr(0, 70) + "..." : n),
              std::string(name_rule));
    return false;
}

}  // namespace moat::config
