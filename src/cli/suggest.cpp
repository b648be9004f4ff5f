// Suggestions for rejected command lines; see suggest.hpp.
//
// Theory of operation: the words are walked as CLI11 would walk them, but
// only far enough to find the first one that names nothing: flags before
// the verb are the app's (a flag's value, "--state-dir DIR", is skipped
// when the flag takes one), the first other word is the verb, and flags
// after it are the verb's or the app's. Positional words after the verb are
// not judged (a container name, a command). The nearest name comes from the
// configuration's own typo finder (config/diagnostics.hpp), so a verb and
// a key get the same tolerance: about one slip per three letters.
#include "cli/suggest.hpp"

#include "config/diagnostics.hpp"

#include <string_view>
#include <vector>

namespace moat::cli {

namespace {

// The option of `app` that `word` (a "-x" or "--name", "=value" cut off)
// names, or nullptr; all its names go to `names` for the suggestion.
const CLI::Option* find_option(const CLI::App& app, std::string_view word, std::vector<std::string>& names) {
    const CLI::Option* found = nullptr;
    for (const CLI::Option* o : app.get_options()) {
        for (const auto& l : o->get_lnames()) {
            names.push_back("--" + l);
            found = word == names.back() ? o : found;
        }
        for (const auto& s : o->get_snames()) {
            names.push_back("-" + s);
            found = word == names.back() ? o : found;
        }
    }
    return found;
}

std::string with_hint(std::string message, std::string_view wrong, const std::vector<std::string>& names) {
    std::vector<std::string_view> views(names.begin(), names.end());
    auto near = config::nearest_key(wrong, views);
    if (!near.empty()) {
        message += "; did you mean '" + near + "'?";
    }
    return message;
}

// nullopt when `word` (an argv element starting with '-') is an option of
// `app` or of `parent`; else the message. `takes_value` tells whether the
// next word is the option's value.
std::optional<std::string> judge_flag(const CLI::App& app, const CLI::App* parent, const std::string& word,
                                      bool& takes_value) {
    std::string name = word.substr(0, word.find('='));
    std::vector<std::string> names;
    const CLI::Option* o = find_option(app, name, names);
    if (!o && parent) {
        o = find_option(*parent, name, names);
    }
    if (o) {
        takes_value = o->get_items_expected_min() > 0 && name == word;  // not "--opt=value"
        return std::nullopt;
    }
    if (name == "-h" || name == "--help") {
        return std::nullopt;
    }
    std::string who = parent ? app.get_name() + ": " : "";
    return with_hint(who + "unknown option '" + name + "'", name, names);
}

}  // namespace

std::optional<std::string> unknown_word(const CLI::App& app, int argc, const char* const* argv) {
    const CLI::App* verb = nullptr;
    for (int i = 1; i < argc; ++i) {
        std::string word = argv[i];
        if (word == "--") {
            break;
        }
        if (word.size() > 1 && word[0] == '-') {
            bool takes_value = false;
            if (auto problem = judge_flag(verb ? *verb : app, verb ? &app : nullptr, word, takes_value)) {
                return problem;
            }
            i += takes_value ? 1 : 0;
            continue;
        }
        if (verb) {
            if (verb->get_prefix_command()) {
                break;  // exec NAME CMD..., run CMD...: the rest is the command's
            }
            continue;  // a positional: a name, judged by the verb
        }
        std::vector<std::string> names;
        for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
            if (sub->get_name() == word) {
                verb = sub;
                break;
            }
            if (!sub->get_name().empty() && sub->get_name()[0] != '_') {
                names.push_back(sub->get_name());
            }
        }
        if (!verb) {
            return with_hint("unknown command '" + word + "'", word, names) + " (moat --help lists them)";
        }
    }
    return std::nullopt;
}

}  // namespace moat::cli
