// Internal to moat::config: typed access to tree nodes for the mapper. Each
// accessor reports a diagnostic at the offending value and returns nullopt
// (or skips the element), so that mapping carries on and one run lists every
// problem in the file.
#pragma once

#include "config/diagnostics.hpp"
#include "config/tree.hpp"

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace moat::config {

struct field {
    std::string_view key;
    std::function<void(const tree_member&)> apply;
};

// Told of every table fields() dispatches and the keys valid there; only
// schema_keys() (schema_keys.hpp) watches, to list what the schema accepts.
using table_observer = std::function<void(const tree_node& table, const std::vector<field>& fs)>;

class value_reader {
public:
    explicit value_reader(diagnostics& d, table_observer observe = {}) : _diag(d), _observe(std::move(observe)) {}

    diagnostics& diag() { return _diag; }
    location at(position p) const { return _diag.at(p); }

    // Dispatches every member of table `t` to the field of the same key and
    // records its key location in `keys`. An unknown key is an error naming
    // `context` ("container 'webapp'") and the nearest valid key. JSON null
    // members count as absent. Returns false when `t` is not a table.
    bool fields(const tree_node& t, std::string_view key, std::string_view context,
                const std::vector<field>& fs, key_locations* keys = nullptr);
    // Reports each of `required` that is missing from `keys`, at `where`.
    void require(position where, std::string_view context, const key_locations& keys,
                 std::initializer_list<std::string_view> required);

    // True when `n` is of kind `k`; otherwise reports
    // "<key>: expected <expected or kind_name(k)>, got <kind>".
    bool is(const tree_node& n, node_kind k, std::string_view key, std::string_view expected = {});

    std::optional<std::string> string(const tree_node& n, std::string_view key);
    std::optional<std::string> string(const tree_member& m) { return string(m.value, m.key); }
    std::optional<bool> boolean(const tree_member& m);
    // An integer in [min, max]; `expected` names the range in the message.
    std::optional<std::int64_t> integer(const tree_member& m, std::int64_t min, std::int64_t max,
                                        std::string_view expected);
    std::optional<std::uint16_t> port(const tree_node& n, std::string_view key);
    std::vector<std::uint16_t> ports(const tree_member& m);
    std::vector<std::string> strings(const tree_member& m);
    // `family` AF_INET or AF_INET6: "10.0.0.1" or "10.0.0.1/30".
    std::optional<sys::ip_prefix> prefix(const tree_member& m, int family);
    // An array of IPv4/IPv6 prefixes ("192.168.1.0/24", "fd00::/64"; an
    // address alone is a /32 or /128), host bits cleared; each bad item
    // reported where it is written.
    std::vector<sys::ip_prefix> prefixes(const tree_member& m);
    std::optional<sys::ip_address> address(const tree_member& m);
    std::optional<std::string> absolute_path(const tree_node& n, std::string_view key);
    std::optional<egress_spec> egress(const tree_member& m);
    // "host:port", "[v6]:port" or an absolute path (a Unix socket, as spiped takes).
    std::optional<std::string> endpoint(const tree_member& m);
    std::optional<std::string> interface_name(const tree_member& m);
    // [check] probe: one probe (config/probe.hpp) or an array of up to four.
    std::vector<std::string> probes(const tree_member& m);

    // One of a fixed set of strings, e.g. restart = "no" | "on-failure" | "always".
    template <typename E>
    std::optional<E> choice(const tree_member& m, std::initializer_list<std::pair<std::string_view, E>> options) {
        auto s = string(m);
        if (!s) {
            return std::nullopt;
        }
        for (const auto& [name, value] : options) {
            if (*s == name) {
                return value;
            }
        }
        std::vector<std::string_view> names;
        for (const auto& option : options) {
            names.push_back(option.first);
        }
        bad_choice(m, *s, names);
        return std::nullopt;
    }

    // Names of containers, services, networks, tunnels and pipes end up in
    // hostnames, file names and interface names: [a-zA-Z0-9][a-zA-Z0-9_-]*,
    // at most 64 characters. Reports at the key.
    bool check_name(const tree_member& m, std::string_view what);

private:
    diagnostics& _diag;
    table_observer _observe;
    void bad_choice(const tree_member& m, const std::string& got, const std::vector<std::string_view>& names);
};

// Runs the schema's mapper over `root` for its observer alone: diagnostics
// are dropped and the model is discarded (schema.cpp).
void observe_schema(const tree_node& root, const table_observer& observe);

// The shown form of a value in messages: "10.0.0.300" quoted, numbers as is.
std::string shown(const tree_node& n);

}  // namespace moat::config
