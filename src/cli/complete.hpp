// Shell completion: `moat __complete -- WORD... CUR` answers what may stand
// where the cursor is, for the bash, zsh and fish scripts of dist/completion.
//
// Theory of operation. The scripts know nothing about moat's verbs: they hand
// the words of the command line (after "moat", up to the cursor, the last one
// being the word under the cursor, possibly empty) to moat and show what it
// prints. moat answers from the CLI11 definition that parses real command
// lines (main.cpp), so subcommands, flags and positionals cannot drift from
// the CLI; values of flags with a finite set come from their CLI11 IsMember
// check or a small table here; names come from the state directory the line
// names (--state-dir, else MOAT_STATE_DIR, else /run/moat) or, for `up` and
// `plan`, from the configuration file the line names.
//
// Output: the first line is a directive for the shell, one of
//   :words             complete from the following lines only (maybe none)
//   :files EXT...      file names (with one of the extensions, if any given)
//   :dirs              directory names
//   :default           the shell's default (e.g. a command after "--")
// then one candidate per line, "WORD" or "WORD<TAB>DESCRIPTION", already
// filtered by the word under the cursor. A `--flag=value` word under the
// cursor gets candidates of the same form.
//
// Reading the state takes no lock (records are replaced by rename(2), so a
// reader sees a whole old or a whole new one) and never fails: a missing,
// foreign or damaged state directory gives no names and exit status 0, so
// a TAB never prints errors into the user's line.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace moat::cli {

struct completion {
    std::string directive = ":words";
    // {word, description}; the description may be empty.
    std::vector<std::pair<std::string, std::string>> items;
};

// What may stand at the end of `moat WORDS...`: words.back() is the word
// under the cursor. `state_dir` is the directory when the words name none.
completion complete_words(const CLI::App& app, const std::vector<std::string>& words, const std::string& state_dir);

// Names recorded under a state directory, sorted; empty when it cannot be read.
// Containers: moat's internal ones (`_tunnels`, `_pipes`) are left out.
std::vector<std::string> container_names(const std::string& state_dir);
std::vector<std::string> tunnel_names(const std::string& state_dir);
std::vector<std::string> service_names(const std::string& state_dir, const std::string& container);

// Prints complete_words() in the format above; returns 0.
int cmd_complete(const CLI::App& app, const std::vector<std::string>& words, const std::string& state_dir);

}  // namespace moat::cli
