// See ovpn_reader.hpp.
#include "tunnel/ovpn_reader.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "tunnel/ovpn_file.hpp"

#include <cctype>
#include <optional>

namespace moat::tunnel {

namespace {

// fgets() into openvpn's inline-block buffer (OPTION_LINE_SIZE, 256) reads
// 255 bytes at most; its top-level buffer holds 256 and a line that fills
// it is fatal, so 254 bytes and the line end is the longest option line.
constexpr std::size_t piece = 255;

bool c_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Whether `s`, after leading white space, starts with </tag>.
bool closes(std::string_view s, const std::string& tag) {
    std::size_t at = 0;
    while (at < s.size() && c_space(s[at])) {
        ++at;
    }
    const std::string end = "</" + tag + ">";
    return s.substr(at).starts_with(end);
}

// The tag of a line openvpn takes for the start of an inline block: its
// only word, after a leading "--" (bypass_doubledash), is <tag>.
std::optional<std::string> opening(const std::string& line) {
    auto words = ovpn_words(line);
    if (words.size() != 1) {
        return std::nullopt;
    }
    std::string w = words[0];
    if (w.size() >= 3 && w.starts_with("--")) {
        w = w.substr(2);
    }
    if (w.size() < 2 || w.front() != '<' || w.back() != '>') {
        return std::nullopt;
    }
    return w.substr(1, w.size() - 2);
}

class reader {
public:
    explicit reader(const std::string& file) : _file(file) {}

    // One physical line: `bytes` is its length before the LF (a CR included).
    void next(int number, std::string text, std::size_t bytes) {
        _number = number;
        if (text.find('\0') != std::string::npos) {
            fail("a NUL byte, where openvpn stops reading the line");
        }
        if (_block.empty()) {
            option_context(std::move(text), bytes);
        } else {
            data_context(std::move(text), bytes);
        }
    }

    std::vector<ovpn_line> finish() {
        if (!_block.empty()) {
            _number = _block_line;
            fail("the <" + _block + "> block is never closed (openvpn stops at a missing </" + _block + ">)");
        }
        if (_connection_line != 0) {
            _number = _connection_line;
            fail("the <connection> block is never closed");
        }
        return std::move(_out);
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw moat::error(_file + ":" + std::to_string(_number) + ": " + what);
    }

    void add(std::string text, ovpn_line_kind kind, const std::string& tag = "") {
        _out.push_back({_number, std::move(text), kind, tag});
    }

    void option_context(std::string text, std::size_t bytes) {
        if (bytes > ovpn_longest_line) {
            fail("the line is " + std::to_string(bytes) + " bytes long; openvpn reads option lines of " +
                 std::to_string(ovpn_longest_line) + " at most (and cuts longer ones in two)");
        }
        if (_connection_line != 0 && closes(text, "connection")) {
            _connection_line = 0;
            add(std::move(text), ovpn_line_kind::connection_close, "connection");
            return;
        }
        auto tag = opening(text);
        if (!tag) {
            add(std::move(text), ovpn_line_kind::option);
        } else if (tag->empty()) {
            fail("'<>' opens an inline block for no option");
        } else if (*tag == "connection") {
            if (_connection_line != 0) {
                fail("a <connection> block inside another");
            }
            _connection_line = _number;
            add(std::move(text), ovpn_line_kind::connection_open, "connection");
        } else {
            _block = *tag;
            _block_line = _number;
            add(std::move(text), ovpn_line_kind::block_open, _block);
        }
    }

    void data_context(std::string text, std::size_t bytes) {
        if (_connection_line != 0) {
            if (closes(text, "connection")) {  // openvpn's end of the connection, whatever is open in it
                fail("</connection> while the <" + _block + "> block of line " + std::to_string(_block_line) +
                     " is open");
            }
            if (bytes > ovpn_longest_line) {
                fail("a line of " + std::to_string(bytes) + " bytes inside <connection>, which openvpn cuts in two");
            }
        }
        if (bytes < piece) {
            bool last = closes(text, _block);
            add(std::move(text), last ? ovpn_line_kind::block_close : ovpn_line_kind::block_data, _block);
            _block = last ? "" : _block;
            return;
        }
        // openvpn reads this line in pieces: one that starts with the end
        // tag would end the block mid-line, and the rest would be options.
        for (std::size_t at = 0; at < text.size(); at += piece) {
            if (closes(std::string_view(text).substr(at, piece), _block)) {
                fail("a line of " + std::to_string(bytes) + " bytes in the <" + _block + "> block: openvpn reads it " +
                     "in pieces of " + std::to_string(piece) + ", and the one at byte " + std::to_string(at) +
                     " would end the block");
            }
        }
        add(std::move(text), ovpn_line_kind::block_data, _block);
    }

    const std::string& _file;
    int _number = 0;
    std::string _block;  // the open data block's tag, "" for none
    int _block_line = 0;
    int _connection_line = 0;  // the open <connection>'s line, 0 for none
    std::vector<ovpn_line> _out;
};

}  // namespace

std::vector<ovpn_line> ovpn_read_lines(const std::string& text, const std::string& file) {
    reader r(file);
    std::string_view rest = sys::without_bom(text);  // openvpn skips it on the first line
    const std::size_t bom = text.size() - rest.size();
    // Only one: a second is part of the first word to openvpn (an unknown
    // option, its fatal error), but the daemon's copy, written without the
    // first, would begin with it, and openvpn would skip it there and read
    // the rest (`plugin ...`) as an option moat never saw.
    if (bom != 0 && sys::without_bom(rest).size() != rest.size()) {
        throw moat::error(file + ":1: a second byte order mark: openvpn skips one and would stop at the other");
    }
    int number = 0;
    while (!rest.empty()) {
        auto end = rest.find('\n');
        std::string_view line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        std::size_t bytes = line.size() + (number == 0 ? bom : 0);  // openvpn's line buffer holds the mark
        if (line.ends_with('\r')) {
            line.remove_suffix(1);
        }
        r.next(++number, std::string(line), bytes);
    }
    return r.finish();
}

}  // namespace moat::tunnel
