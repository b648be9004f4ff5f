// The only translation unit that includes toml++: it is slow to compile, and
// keeping it here means the rest of moat never sees its types.
#include "config/diagnostics.hpp"
#include "config/tree.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <tuple>

namespace moat::config {

static position pos_of(const toml::source_region& r) {
    return position{static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
}

static tree_node convert(const toml::node& n) {
    tree_node out;
    out.pos = pos_of(n.source());
    switch (n.type()) {
    case toml::node_type::table:
        out.kind = node_kind::table;
        for (auto&& [key, value] : *n.as_table()) {
            out.members.push_back(tree_member{std::string(key.str()), pos_of(key.source()), convert(value)});
        }
        // toml::table is ordered by key; the model keeps containers and
        // services in file order, so restore it from the key positions.
        std::stable_sort(out.members.begin(), out.members.end(), [](const tree_member& a, const tree_member& b) {
            return std::tie(a.key_pos.line, a.key_pos.column) < std::tie(b.key_pos.line, b.key_pos.column);
        });
        break;
    case toml::node_type::array:
        out.kind = node_kind::array;
        for (const auto& item : *n.as_array()) {
            out.items.push_back(convert(item));
        }
        break;
    case toml::node_type::string:
        out.kind = node_kind::string;
        out.text = n.as_string()->get();
        break;
    case toml::node_type::integer:
        out.kind = node_kind::integer;
        out.integer = n.as_integer()->get();
        break;
    case toml::node_type::floating_point:
        out.kind = node_kind::floating;
        out.floating = n.as_floating_point()->get();
        break;
    case toml::node_type::boolean:
        out.kind = node_kind::boolean;
        out.boolean = n.as_boolean()->get();
        break;
    default:  // date, time, date-time: no moat key takes one
        out.kind = node_kind::datetime;
        break;
    }
    return out;
}

tree_node parse_toml(std::string_view text, const std::string& file_name) {
    guard_toml_text(text, file_name);
    toml::table root;
    try {
        root = toml::parse(text, file_name);
    } catch (const toml::parse_error& e) {
        diagnostics d(file_name);
        d.add(pos_of(e.source()), std::string(e.description()));
        d.throw_if_any();
    }
    tree_node out = convert(root);
    // An empty document has no source position; the top of the file it is.
    out.pos = position{1, 1};
    return out;
}

}  // namespace moat::config
