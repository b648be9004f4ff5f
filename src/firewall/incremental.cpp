// incremental_update(): the nft commands that turn the table committed from
// one render() into the table of another, when that can be done without
// replacing it; canonical_listing(): a listing whose order does not depend
// on the history of the table.
//
// Theory of operation
// -------------------
// render() writes the table as top-level blocks ("\tset|map|chain NAME {"
// ... "\t}"), a set's or map's elements on one "elements = { ... }" line.
// Two renders are compared block by block:
//  * a set or map must be declared in both, identically (type, flags);
//    only its elements may differ: the ones gone are deleted, the new ones
//    added. Set elements are listed by nft in sorted order whatever the
//    order they were added in, so the listing is the same as a fresh one's.
//  * a chain only in the old render is deleted (the kernel deletes its
//    rules with it: NFT_MSG_DELCHAIN without NLM_F_NONREC), one only in the
//    new is added with its hook, if any, and its rules; one in both with
//    other rules is flushed and filled again in the new render's order, so
//    the order of rules inside any chain never depends on history. A chain
//    whose hook changed cannot be changed in place: no incremental update.
// New chains and elements are made with "create", which fails where one
// exists already (as "delete" fails where one is missing): a table that is
// not what the committed script says — changed behind moat's back, or a
// crash between a commit and its record — fails the batch, and the caller
// replaces the table whole, rather than getting rules twice.
// The commands run as ONE batch (one transaction, all or nothing): element
// deletions first (they hold references to the chains deleted next), then
// chain deletions and flushes, then every new chain, empty, before any
// rule (a rule may jump to a chain made in the same batch), then rules,
// then new elements (a verdict may name a new chain).
//
// The kernel keeps chains in creation order, and lists them so: a chain
// added later comes last, where a fresh commit would put it among the
// others. canonical_listing() sorts the top-level blocks by kind and name,
// keeping each block's text (its rules' order included) as it is; compare
// listings only in that form.
#include "firewall/firewall.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>

namespace moat::firewall {
namespace {

// Views into the two scripts, which outlive every block: parsing the
// recorded script and the new render, 89 kB each at a hundred pods, makes
// no copy of their lines.
struct block {
    std::string_view kind;                 // "set" | "map" | "chain"
    std::string_view name;
    std::vector<std::string_view> head;    // a chain's "type ... hook ..." line; a set's declaration lines
    std::vector<std::string_view> rules;   // a chain's rules, in order
    std::set<std::string_view> elements;   // a set's or map's elements
};

std::string_view trimmed(std::string_view s) {
    auto b = s.find_first_not_of(" \t");
    return b == std::string_view::npos ? std::string_view() : s.substr(b);
}

// Without the blanks around it: the last element of "{ a, b }" is "b", not
// "b " (which would differ from the same element followed by a comma, and
// make every ADD delete and create again the element that was last).
std::string_view stripped(std::string_view s) {
    auto t = trimmed(s);
    return t.substr(0, t.find_last_not_of(" \t") + 1);
}

// "{ a, b . c : goto x }" -> {"a", "b . c : goto x"}: commas outside quotes
// and inner braces separate.
std::set<std::string_view> split_elements(std::string_view text) {
    std::set<std::string_view> out;
    auto open = text.find('{');
    auto close = text.rfind('}');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
        return out;
    }
    std::size_t from = open + 1;
    int depth = 0;
    bool quote = false;
    for (std::size_t i = open + 1; i < close; ++i) {
        char c = text[i];
        if (c == '"') {
            quote = !quote;
        } else if (!quote && c == '{') {
            ++depth;
        } else if (!quote && c == '}') {
            --depth;
        } else if (!quote && depth == 0 && c == ',') {
            out.insert(stripped(text.substr(from, i - from)));
            from = i + 1;
        }
    }
    if (auto last = stripped(text.substr(from, close - from)); !last.empty()) {
        out.insert(last);
    }
    return out;
}

std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        auto nl = text.find('\n');
        out.push_back(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    }
    return out;
}

// "\tchain NAME {" -> {"chain", "NAME"}; nullopt for anything else.
std::optional<std::pair<std::string_view, std::string_view>> block_start(std::string_view line) {
    if (line.size() < 3 || line[0] != '\t' || line[1] == '\t' || !line.ends_with(" {")) {
        return std::nullopt;
    }
    auto words = line.substr(1, line.size() - 3);
    auto space = words.find(' ');
    if (space == std::string_view::npos || space == 0 || words.find_first_of(" \t", space + 1) != std::string_view::npos ||
        space + 1 == words.size()) {
        return std::nullopt;  // not exactly two words
    }
    return std::pair{words.substr(0, space), words.substr(space + 1)};
}

// render()'s text as blocks by "kind name"; nullopt when it is not in the
// shape render() writes.
std::optional<std::map<std::string, block>> parse(std::string_view script) {
    auto lines = lines_of(script);
    if (lines.empty() || lines.front() != std::string("table ") + table_family + " " + table_name + " {" ||
        lines.back() != "}") {
        return std::nullopt;
    }
    std::map<std::string, block> out;
    std::optional<block> cur;
    for (std::size_t i = 1; i + 1 < lines.size(); ++i) {
        auto line = lines[i];
        if (!cur) {
            if (line.empty()) {
                continue;
            }
            auto start = block_start(line);
            if (!start || (start->first != "chain" && start->first != "set" && start->first != "map")) {
                return std::nullopt;
            }
            cur = block{start->first, start->second, {}, {}, {}};
        } else if (line == "\t}") {
            std::string key = std::string(cur->kind) + " " + std::string(cur->name);
            if (!out.emplace(std::move(key), std::move(*cur)).second) {
                return std::nullopt;
            }
            cur.reset();
        } else {
            auto text = trimmed(line);
            if (cur->kind != "chain" && text.starts_with("elements = ")) {
                cur->elements = split_elements(text);
            } else if (cur->kind != "chain" || text.starts_with("type ")) {
                cur->head.push_back(text);
            } else {
                cur->rules.push_back(text);
            }
        }
    }
    if (cur) {
        return std::nullopt;
    }
    return out;
}

std::string element_list(const std::vector<std::string_view>& elements) {
    std::string s = "{ ";
    for (std::size_t i = 0; i < elements.size(); ++i) {
        s += i ? ", " : "";
        s += elements[i];
    }
    return s + " }";
}

// One command line: its words appended to `out`.
void command(std::string& out, std::initializer_list<std::string_view> words) {
    for (auto w : words) {
        out += w;
    }
    out += '\n';
}

}  // namespace

std::optional<std::string> incremental_update(const std::string& committed, const std::string& wanted) {
    auto before = parse(committed);
    auto after = parse(wanted);
    if (!before || !after) {
        return std::nullopt;
    }
    const std::string t = std::string(" ") + table_family + " " + table_name + " ";
    std::string del_elements, del_chains, add_chains, add_rules, add_elements;
    for (const auto& [key, b] : *before) {
        auto it = after->find(key);
        if (b.kind != "chain") {
            if (it == after->end() || it->second.head != b.head) {
                return std::nullopt;  // a set or map declared differently, made or removed
            }
            std::vector<std::string_view> gone;
            std::set_difference(b.elements.begin(), b.elements.end(), it->second.elements.begin(),
                                it->second.elements.end(), std::back_inserter(gone));
            if (!gone.empty()) {
                command(del_elements, {"delete element", t, b.name, " ", element_list(gone)});
            }
        } else if (it == after->end()) {
            command(del_chains, {"delete chain", t, b.name});
        } else if (it->second.head != b.head) {
            return std::nullopt;  // its hook changed
        } else if (it->second.rules != b.rules) {
            command(del_chains, {"flush chain", t, b.name});
            for (auto r : it->second.rules) {
                command(add_rules, {"add rule", t, b.name, " ", r});
            }
        }
    }
    for (const auto& [key, a] : *after) {
        auto it = before->find(key);
        if (a.kind != "chain") {
            if (it == before->end()) {
                return std::nullopt;
            }
            std::vector<std::string_view> added;
            std::set_difference(a.elements.begin(), a.elements.end(), it->second.elements.begin(),
                                it->second.elements.end(), std::back_inserter(added));
            if (!added.empty()) {
                command(add_elements, {"create element", t, a.name, " ", element_list(added)});
            }
        } else if (it == before->end()) {
            if (a.head.empty()) {
                command(add_chains, {"create chain", t, a.name});
            } else {
                command(add_chains, {"create chain", t, a.name, " { ", a.head.front(), " }"});
            }
            for (auto r : a.rules) {
                command(add_rules, {"add rule", t, a.name, " ", r});
            }
        }
    }
    return del_elements + del_chains + add_chains + add_rules + add_elements;
}

std::string canonical_listing(const std::string& listing) {
    auto lines = lines_of(listing);
    std::string head;
    std::vector<std::pair<std::string, std::string>> blocks;  // (sort key, text)
    std::string tail;
    std::optional<std::pair<std::string, std::string>> cur;
    for (const auto& line : lines) {
        if (cur) {
            cur->second.append(line) += '\n';
            if (line == "\t}") {
                blocks.push_back(std::move(*cur));
                cur.reset();
            }
        } else if (auto start = block_start(line)) {
            // Sets and maps before chains, as nft lists them; by name within.
            cur = std::pair{std::string(start->first == "chain" ? "1 " : "0 ").append(start->second),
                            std::string(line) + "\n"};
        } else if (line.empty()) {
            continue;  // the blank lines between blocks
        } else if (blocks.empty()) {
            head.append(line) += '\n';
        } else {
            tail.append(line) += '\n';
        }
    }
    if (cur) {
        tail += cur->second;  // cut short: kept as it is, to be seen in a diff
    }
    std::stable_sort(blocks.begin(), blocks.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string out = head;
    for (const auto& [key, text] : blocks) {
        out += text + "\n";
    }
    return out + tail;
}

}  // namespace moat::firewall
