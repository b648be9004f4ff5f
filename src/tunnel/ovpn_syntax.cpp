// openvpn's config syntax (ovpn_file.hpp): a line's words, and the lines of
// a credentials file. Pure, like the sanitiser that uses them.
#include "tunnel/ovpn_file.hpp"
#include "tunnel/ovpn_reader.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <cctype>
#include <sstream>
#include <utility>

namespace moat::tunnel {

// A port of openvpn 2.6's parse_line() (options.c), state for state: where
// the two split a line differently, a line could hold an option for openvpn
// and another (or none) for the sanitiser. In particular a backslash before
// white space between words escapes nothing and starts no word, a comment
// starts only between words (escaped or not), and a backslash may only
// escape a backslash, a double quote or white space.
std::vector<std::string> ovpn_parse_line(const std::string& line, std::string& error) {
    enum class in { gap, word, dquote, squote } state = in::gap;
    auto space = [](char c) { return c == '\0' || std::isspace(static_cast<unsigned char>(c)) != 0; };
    std::vector<std::string> words;
    std::string word;
    bool backslash = false;
    error.clear();
    for (std::size_t i = 0; i <= line.size(); ++i) {
        const char c = i < line.size() ? line[i] : '\0';
        char out = 0;
        if (!backslash && c == '\\' && state != in::squote) {
            backslash = true;
        } else {
            bool ends = false;
            if (state == in::gap) {
                if (!space(c)) {
                    if (c == '#' || c == ';') {
                        break;  // a comment runs to the end of the line
                    }
                    state = !backslash && c == '"' ? in::dquote : !backslash && c == '\'' ? in::squote : in::word;
                    out = state == in::word ? c : 0;
                }
            } else if (state == in::word) {
                ends = !backslash && space(c);
                out = ends ? 0 : c;
            } else if (state == in::dquote) {
                ends = !backslash && c == '"';
                out = ends ? 0 : c;
            } else {
                ends = c == '\'';
                out = ends ? 0 : c;
            }
            if (ends) {
                words.push_back(std::exchange(word, {}));
                state = in::gap;
            }
            if (backslash && out != 0 && !(out == '\\' || out == '"' || space(out))) {
                error = "a backslash before '" + std::string(1, out) + "' (openvpn escapes only \\, \" and white space)";
                return {};
            }
            backslash = false;
        }
        if (out != 0) {
            if (word.size() >= 256) {
                error = "a word longer than openvpn's 256 characters";
                return {};
            }
            word += out;
        }
        if (words.size() >= 16) {
            break;  // openvpn reads 16 words of a line at most
        }
    }
    if (state == in::dquote || state == in::squote) {
        error = std::string("no closing ") + (state == in::dquote ? "double" : "single") + " quote";
        return {};
    }
    if (state != in::gap) {
        error = "a backslash at the end of the line";
        return {};
    }
    return words;
}

std::vector<std::string> ovpn_words(const std::string& line) {
    std::string error;
    return ovpn_parse_line(line, error);
}

namespace {

// A line of a credentials file without its line end, and without the byte
// order mark a Windows editor puts first: it would be sent as part of the
// username or password, and the server would refuse them.
std::string nth_line(const std::string& text, int n) {
    std::istringstream in{std::string(sys::without_bom(text))};
    std::string line;
    for (int i = 0; i < n && std::getline(in, line); ++i) {
        if (i + 1 == n) {
            if (!line.empty() && line.back() == '\r') {
                line.pop_back();
            }
            return line;
        }
    }
    return "";
}

}  // namespace

ovpn_option_line ovpn_option(const std::string& line, int number, const std::string& file) {
    ovpn_option_line out;
    out.number = number;
    std::string unreadable;
    out.words = ovpn_parse_line(line, unreadable);
    if (!unreadable.empty()) {
        throw moat::error(file + ":" + std::to_string(number) + ": openvpn cannot read this line: " + unreadable);
    }
    if (out.words.empty()) {
        return out;
    }
    out.option = out.words[0].starts_with("--") ? out.words[0].substr(2) : out.words[0];
    // add_option() reads `setenv opt OPTION ...` as OPTION (one it does not
    // know is then a warning, not an error).
    if (out.option == "setenv" && out.words.size() >= 3 && out.words[1] == "opt") {
        out.prefix = "setenv opt ";
        out.words.erase(out.words.begin(), out.words.begin() + 2);
        out.option = out.words[0];
    }
    return out;
}

std::vector<ovpn_option_line> ovpn_options(const std::string& text, const std::string& file) {
    std::vector<ovpn_option_line> out;
    for (const auto& l : ovpn_read_lines(text, file)) {
        if (l.kind != ovpn_line_kind::option) {
            continue;
        }
        if (auto o = ovpn_option(l.text, l.number, file); !o.option.empty()) {
            out.push_back(std::move(o));
        }
    }
    return out;
}

std::string ovpn_auth_from_password(const std::string& username, const std::string& password_text) {
    std::string password = nth_line(password_text, 1);
    if (password.empty()) {
        throw moat::error("its first line (the password) is empty");
    }
    return username + "\n" + password + "\n";
}

std::string ovpn_auth_from_credentials(const std::string& credentials_text) {
    std::string username = nth_line(credentials_text, 1), password = nth_line(credentials_text, 2);
    if (username.empty() || password.empty()) {
        throw moat::error(std::string("needs two lines, the username and then the password; its ") +
                          (username.empty() ? "first" : "second") + " line is empty or missing");
    }
    return username + "\n" + password + "\n";
}

}  // namespace moat::tunnel
