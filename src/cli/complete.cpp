// `moat __complete`: see complete.hpp for the protocol with the shell scripts.
#include "cli/complete.hpp"

#include "config/loader.hpp"
#include "plan/pipes.hpp"
#include "plan/plan.hpp"
#include "plan/tunnel.hpp"
#include "state/store.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace moat::cli {

namespace {

// The whole state directory as far as it reads; nothing on any error.
state::listing scan_quietly(const std::string& state_dir) {
    try {
        return state::store(state_dir).scan();
    } catch (const std::exception&) {
        return {};
    }
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

std::vector<std::string> container_names(const std::string& state_dir) {
    auto l = scan_quietly(state_dir);
    std::vector<std::string> out;
    // Damaged records too: `down NAME` removes what such a name implies.
    for (const auto& r : l.records) {
        out.push_back(r.name);
    }
    for (const auto& d : l.damaged) {
        out.push_back(d.name);
    }
    std::erase_if(out, [](const std::string& n) { return n == plan::tunnels_container || n == plan::host_pipes_container; });
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> tunnel_names(const std::string& state_dir) {
    std::vector<std::string> out;
    for (const auto& r : scan_quietly(state_dir).records) {
        if (r.name != plan::tunnels_container) {
            continue;
        }
        try {
            for (const auto& t : plan::tunnels_served(plan::plan_from_json(r.spec))) {
                out.push_back(t.name);
            }
        } catch (const std::exception&) {
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> service_names(const std::string& state_dir, const std::string& container) {
    std::vector<std::string> out;
    for (const auto& r : scan_quietly(state_dir).records) {
        if (r.name != container) {
            continue;
        }
        try {
            for (const auto& s : plan::plan_from_json(r.spec).services) {
                out.push_back(s.name);
            }
        } catch (const std::exception&) {
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

namespace {

// The containers a configuration file declares; none when it does not load.
std::vector<std::string> declared_names(const std::string& file) {
    std::vector<std::string> out;
    // Regular files only: stdin ("-") cannot be read twice, and a TAB must
    // not hang on a FIFO.
    std::error_code ec;
    if (file.empty() || file == "-" || !std::filesystem::is_regular_file(file, ec)) {
        return out;
    }
    try {
        for (const auto& c : config::load_file(file).containers) {
            out.push_back(c.name);
        }
    } catch (const std::exception&) {
    }
    return out;
}

// What the words before the cursor say.
struct line_state {
    const CLI::App* sub = nullptr;        // the subcommand, once named
    const CLI::Option* pending = nullptr;  // an option whose value is under the cursor
    std::vector<std::string> positionals;  // of the subcommand, in order
    bool after_dashdash = false;           // a command for the container follows
    std::string state_dir;
    std::string file = "moat.toml";  // -f/--file, for `up` and `plan` names
};

std::string long_name(const CLI::Option* o) { return o->get_lnames().empty() ? "" : o->get_lnames().front(); }

const CLI::Option* find_option(const CLI::App& root, const CLI::App* sub, const std::string& flag) {
    for (const CLI::App* a : {sub, &root}) {
        if (!a) {
            continue;
        }
        for (const CLI::Option* o : a->get_options()) {
            if (!o->get_positional() && o->check_name(flag)) {
                return o;
            }
        }
        if (a == sub) {
            break;  // root options go before the subcommand only
        }
    }
    return nullptr;
}

const CLI::App* find_subcommand(const CLI::App& root, const std::string& word) {
    for (const CLI::App* s : root.get_subcommands([](const CLI::App*) { return true; })) {
        if (s->check_name(word)) {
            return s;
        }
    }
    return nullptr;
}

bool takes_value(const CLI::Option* o) { return o->get_type_size() != 0 && o->get_expected_min() > 0; }

void option_value(line_state& st, const CLI::Option* o, const std::string& value) {
    std::string name = long_name(o);
    if (name == "state-dir") {
        st.state_dir = value;
    } else if (name == "file") {
        st.file = value;
    }
}

line_state read_line(const CLI::App& root, const std::vector<std::string>& words, const std::string& state_dir) {
    line_state st;
    st.state_dir = state_dir;
    for (std::size_t i = 0; i + 1 < words.size(); ++i) {
        const std::string& w = words[i];
        if (st.pending) {
            option_value(st, st.pending, w);
            st.pending = nullptr;
        } else if (st.after_dashdash) {
            continue;
        } else if (w == "--") {
            st.after_dashdash = true;
        } else if (w.size() > 1 && w[0] == '-') {
            auto eq = w.find('=');
            const CLI::Option* o = find_option(root, st.sub, w.substr(0, eq));
            if (o && takes_value(o)) {
                if (eq == std::string::npos) {
                    st.pending = o;
                } else {
                    option_value(st, o, w.substr(eq + 1));
                }
            }
        } else if (!st.sub) {
            st.sub = find_subcommand(root, w);
            if (!st.sub) {
                st.after_dashdash = true;  // an unknown verb: nothing sensible follows
            }
        } else {
            st.positionals.push_back(w);
        }
    }
    return st;
}

// The finite set of an IsMember check, from CLI11's type name "TEXT:{a,b,c}".
std::vector<std::string> members(const CLI::Option* o) {
    std::string t = o->get_type_name();
    auto open = t.find('{'), close = t.rfind('}');
    std::vector<std::string> out;
    if (open == std::string::npos || close == std::string::npos || close < open) {
        return out;
    }
    std::string list = t.substr(open + 1, close - open - 1);
    for (std::size_t at = 0; at <= list.size();) {
        auto comma = std::min(list.find(',', at), list.size());
        out.push_back(list.substr(at, comma - at));
        at = comma + 1;
    }
    return out;
}

completion words_of(const std::vector<std::string>& names) {
    completion c;
    for (const auto& n : names) {
        c.items.emplace_back(n, "");
    }
    return c;
}

completion complete_value(const line_state& st, const CLI::Option* o) {
    std::string name = long_name(o);
    if (name == "file") {
        return {":files toml json", {}};
    }
    if (name == "state-dir") {
        return {":dirs", {}};
    }
    if (name == "egress") {
        completion c = words_of({"none", "nat"});
        for (const auto& t : tunnel_names(st.state_dir)) {
            c.items.emplace_back("vpn:" + t, "egress through tunnel " + t);
        }
        return c;
    }
    if (name == "private-users") {
        return words_of({"no", "pick", "identity"});
    }
    return words_of(members(o));  // empty for a number, an address, a free name
}

completion complete_positional(const line_state& st) {
    std::size_t index = st.positionals.size();
    std::string kind;
    for (const CLI::Option* o : st.sub->get_options()) {
        if (!o->get_positional()) {
            continue;
        }
        // A list (names...) takes every remaining word.
        if (index == 0 || o->get_expected_max() > 1) {
            kind = o->get_name();
            break;
        }
        --index;
    }
    std::string verb = st.sub->get_name();
    if (kind == "names" && (verb == "up" || verb == "plan")) {
        return words_of(declared_names(st.file));
    }
    if (kind == "name" || kind == "names") {
        return words_of(container_names(st.state_dir));
    }
    if (kind == "service" && !st.positionals.empty()) {
        return words_of(service_names(st.state_dir, st.positionals.front()));
    }
    if (kind == "keyfile") {
        return {":files", {}};
    }
    return {};
}

completion complete_flags(const CLI::App& app) {
    completion c;
    for (const CLI::Option* o : app.get_options()) {
        if (o->get_positional()) {
            continue;
        }
        for (const auto& l : o->get_lnames()) {
            c.items.emplace_back("--" + l, o->get_description());
        }
        for (const auto& s : o->get_snames()) {
            c.items.emplace_back("-" + s, o->get_description());
        }
    }
    return c;
}

completion complete_commands(const CLI::App& root) {
    completion c;
    for (const CLI::App* s : root.get_subcommands([](const CLI::App*) { return true; })) {
        if (s->get_group().empty()) {
            continue;  // hidden
        }
        c.items.emplace_back(s->get_name(), s->get_description());
        for (const auto& alias : s->get_aliases()) {
            c.items.emplace_back(alias, s->get_description());
        }
    }
    return c;
}

completion unfiltered(const CLI::App& root, const line_state& st, const std::string& cur) {
    if (st.pending) {
        return complete_value(st, st.pending);
    }
    if (st.after_dashdash) {
        return {":default", {}};
    }
    if (cur.size() > 0 && cur[0] == '-') {
        auto eq = cur.find('=');
        if (eq == std::string::npos) {
            return complete_flags(st.sub ? *st.sub : root);
        }
        const CLI::Option* o = find_option(root, st.sub, cur.substr(0, eq));
        if (!o || !takes_value(o)) {
            return {};
        }
        completion c = complete_value(st, o);
        for (auto& [word, _] : c.items) {
            word = cur.substr(0, eq + 1) + word;
        }
        return c;
    }
    if (!st.sub) {
        return complete_commands(root);
    }
    return complete_positional(st);
}

}  // namespace

completion complete_words(const CLI::App& app, const std::vector<std::string>& words, const std::string& state_dir) {
    std::vector<std::string> w = words.empty() ? std::vector<std::string>{""} : words;
    line_state st = read_line(app, w, state_dir);
    const std::string& cur = w.back();
    completion c = unfiltered(app, st, cur);
    std::erase_if(c.items, [&](const auto& item) { return !starts_with(item.first, cur); });
    return c;
}

int cmd_complete(const CLI::App& app, const std::vector<std::string>& words, const std::string& state_dir) {
    completion c = complete_words(app, words, state_dir);
    std::printf("%s\n", c.directive.c_str());
    for (const auto& [word, description] : c.items) {
        if (description.empty()) {
            std::printf("%s\n", word.c_str());
        } else {
            std::printf("%s\t%s\n", word.c_str(), description.c_str());
        }
    }
    return 0;
}

}  // namespace moat::cli
