// schema_keys(): the key paths the schema accepts, read off the mapper
// itself so the list cannot drift from what `moat up` accepts.
//
// Theory of operation: the mapper's field tables are lambdas spread over
// schema.cpp and the files it calls, and a nested table is only read when
// its key is present. So we feed the real mapper small synthetic trees and
// watch value_reader::fields() (table_observer). For a path of keys we
// build a tree in which each key holds one of three shapes — a table, a
// table of one named table ("x"), an array of one table — and mark the
// innermost table with an impossible line number; the keys fields() offers
// for the marked table are the keys valid there. A key whose value none of
// the shapes makes the mapper read as a table is a leaf (free-form tables
// such as `environment` are leaves too: their members are not keys).
#include "config/schema_keys.hpp"

#include "config/value_reader.hpp"

#include <optional>
#include <stdexcept>
#include <utility>

namespace moat::config {

namespace {

enum class shape { table, named, list };

struct step {
    std::string key;
    shape form;
};

constexpr int marker_line = -4242;  // no file has it
// A bound on the walk, far beyond the few levels moat's keys nest: a
// recursive entry in the schema would otherwise never end.
constexpr std::size_t max_depth = 16;

// A document holding `path`, its innermost table marked.
tree_node build(const std::vector<step>& path) {
    tree_node inner;
    inner.kind = node_kind::table;
    inner.pos.line = marker_line;
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
        tree_node value;
        if (it->form == shape::table) {
            value = std::move(inner);
        } else if (it->form == shape::named) {
            value.kind = node_kind::table;
            value.members.push_back(tree_member{"x", {}, std::move(inner)});
        } else {
            value.kind = node_kind::array;
            value.items.push_back(std::move(inner));
        }
        tree_node parent;
        parent.kind = node_kind::table;
        parent.members.push_back(tree_member{it->key, {}, std::move(value)});
        inner = std::move(parent);
    }
    return inner;
}

// The keys the mapper offers at the end of `path`; nullopt when it does not
// read a table there.
std::optional<std::vector<std::string>> keys_at(const std::vector<step>& path) {
    std::optional<std::vector<std::string>> out;
    observe_schema(build(path), [&](const tree_node& t, const std::vector<field>& fs) {
        if (t.pos.line == marker_line && !out) {
            out.emplace();
            for (const auto& f : fs) {
                out->emplace_back(f.key);
            }
        }
    });
    return out;
}

void walk(std::vector<step>& path, const std::vector<std::string>& keys, const std::string& prefix,
          std::vector<std::string>& out) {
    if (path.size() > max_depth) {
        throw std::logic_error("schema_keys: the schema nests deeper than " + std::to_string(max_depth) + " at " + prefix);
    }
    constexpr std::pair<shape, const char*> forms[] = {
        {shape::table, "."}, {shape::named, ".<name>"}, {shape::list, "[]"}};
    for (const auto& key : keys) {
        out.push_back(prefix + key);
        for (const auto& [form, suffix] : forms) {
            path.push_back({key, form});
            auto inner = keys_at(path);
            if (inner) {
                std::string here = prefix + key;
                if (form == shape::named) {
                    here += suffix;
                    out.push_back(here);
                    here += ".";
                } else {
                    here += form == shape::list ? "[]." : ".";
                }
                walk(path, *inner, here, out);
                path.pop_back();
                break;
            }
            path.pop_back();
        }
    }
}

}  // namespace

std::vector<std::string> schema_keys() {
    std::vector<step> path;
    std::vector<std::string> out;
    walk(path, keys_at(path).value_or(std::vector<std::string>{}), "", out);
    return out;
}

}  // namespace moat::config
