// openvpn's config syntax (ovpn_file.hpp): a line's words, and the lines of
// a credentials file. Pure, like the sanitiser that uses them.
#include "tunnel/ovpn_file.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <cctype>
#include <sstream>
#include <utility>

namespace moat::tunnel {

std::vector<std::string> ovpn_words(const std::string& line) {
    enum class in { gap, word, dquote, squote } state = in::gap;
    std::vector<std::string> words;
    std::string word;
    bool escaped = false;
    for (char c : line) {
        if (c == '\r' || c == '\n') {
            break;
        }
        if (!escaped && c == '\\' && state != in::squote) {
            escaped = true;
            if (state == in::gap) {
                state = in::word;
            }
            continue;
        }
        bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
        switch (state) {
        case in::gap:
            if (space) {
                break;
            }
            if (c == '#' || c == ';') {
                return words;  // a comment runs to the end of the line
            }
            state = c == '"' ? in::dquote : c == '\'' ? in::squote : in::word;
            if (state == in::word) {
                word += c;
            }
            break;
        case in::word:
            if (space && !escaped) {
                words.push_back(std::exchange(word, {}));
                state = in::gap;
            } else {
                word += c;
            }
            break;
        case in::dquote:
            if (c == '"' && !escaped) {
                words.push_back(std::exchange(word, {}));
                state = in::gap;
            } else {
                word += c;
            }
            break;
        case in::squote:
            if (c == '\'') {
                words.push_back(std::exchange(word, {}));
                state = in::gap;
            } else {
                word += c;
            }
            break;
        }
        escaped = false;
    }
    if (state != in::gap) {
        words.push_back(word);
    }
    return words;
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
