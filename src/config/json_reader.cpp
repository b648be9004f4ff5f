// A strict RFC 8259 reader that records line:column for every key and value.
// nlohmann-json would parse the same documents, but it keeps no positions,
// and "config.json:12:5: hostPort must be 1..65535" is the point of moat's
// config errors. Strictness is deliberate: comments, trailing commas, NaN,
// leading zeros, lone surrogates, invalid UTF-8 and duplicate keys are all
// errors, so what moat accepts is what every other JSON tool reads the same
// way. This parser faces untrusted bytes and is fuzzed (tests/fuzz/config).
#include "config/diagnostics.hpp"
#include "config/tree.hpp"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <map>

namespace moat::config {

namespace {

class json_reader {
public:
    json_reader(std::string_view text, const std::string& file) : _text(text), _file(file) {}

    tree_node document() {
        skip_blank();
        tree_node root = value(0);
        skip_blank();
        if (!at_end()) {
            fail("unexpected " + describe_here() + " after the JSON value");
        }
        return root;
    }

private:
    std::string_view _text;
    const std::string& _file;
    std::size_t _i = 0;
    int _line = 1;
    int _column = 1;

    [[noreturn]] void fail_at(position p, std::string message, std::string hint = {}) {
        throw config_error({diagnostic{location{_file, p.line, p.column}, std::move(message), std::move(hint)}});
    }
    [[noreturn]] void fail(std::string message, std::string hint = {}) {
        fail_at(here(), std::move(message), std::move(hint));
    }

    position here() const { return position{_line, _column}; }
    static tree_node make(node_kind kind, position pos) {
        tree_node n;
        n.kind = kind;
        n.pos = pos;
        return n;
    }
    bool at_end() const { return _i >= _text.size(); }
    unsigned char peek() const { return static_cast<unsigned char>(_text[_i]); }

    // Columns count code points, as toml++ does, so that the same document
    // in either format reports the same column: UTF-8 continuation bytes
    // (10xxxxxx) do not advance the column.
    void advance() {
        unsigned char c = peek();
        ++_i;
        if (c == '\n') {
            ++_line;
            _column = 1;
        } else if ((c & 0xC0) != 0x80) {
            ++_column;
        }
    }

    std::string describe_here() const {
        if (at_end()) {
            return "end of input";
        }
        unsigned char c = peek();
        if (c >= 0x20 && c < 0x7F) {
            return std::string("character '") + static_cast<char>(c) + "'";
        }
        static const char hex[] = "0123456789abcdef";
        return std::string("byte 0x") + hex[c >> 4] + hex[c & 15];
    }

    void skip_blank() {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
            advance();
        }
        if (!at_end() && peek() == '/') {
            fail("comments are not allowed in JSON");
        }
    }

    void expect_char(char c, const std::string& what) {
        if (at_end() || peek() != static_cast<unsigned char>(c)) {
            fail("expected " + what + ", got " + describe_here());
        }
        advance();
    }

    tree_node value(int depth) {
        if (at_end()) {
            fail("unexpected end of input, expected a value");
        }
        switch (peek()) {
        case '{': return object(depth + 1);
        case '[': return array(depth + 1);
        case '"': {
            tree_node n = make(node_kind::string, here());
            n.text = string();
            return n;
        }
        case 't': return literal("true", node_kind::boolean, true);
        case 'f': return literal("false", node_kind::boolean, false);
        case 'n': return literal("null", node_kind::null, false);
        default:
            if (peek() == '-' || (peek() >= '0' && peek() <= '9')) {
                return number();
            }
            fail("unexpected " + describe_here() + ", expected a value");
        }
    }

    tree_node literal(std::string_view word, node_kind kind, bool b) {
        tree_node n = make(kind, here());
        if (_text.substr(_i, word.size()) != word) {
            fail("unexpected " + describe_here() + ", expected a value");
        }
        for (std::size_t k = 0; k < word.size(); ++k) {
            advance();
        }
        n.boolean = b;
        return n;
    }

    // Bounds recursion so that "[[[[..." cannot exhaust the stack (tree.hpp):
    // `depth` counts the objects and arrays around a value, itself included.
    void check_depth(int depth) {
        if (depth > max_nesting) {
            fail(nesting_error(), std::string(nesting_hint));
        }
    }

    tree_node object(int depth) {
        check_depth(depth);
        tree_node n = make(node_kind::table, here());
        advance();  // '{'
        skip_blank();
        if (!at_end() && peek() == '}') {
            advance();
            return n;
        }
        std::map<std::string, position, std::less<>> seen;
        for (;;) {
            skip_blank();
            if (at_end() || peek() != '"') {
                fail("expected a string key, got " + describe_here(),
                     n.members.empty() ? "" : "JSON does not allow a trailing comma");
            }
            tree_member m;
            m.key_pos = here();
            m.key = string();
            if (auto [it, fresh] = seen.emplace(m.key, m.key_pos); !fresh) {
                fail_at(m.key_pos, "duplicate key " + quoted(m.key) + " (first defined at line " +
                                       std::to_string(it->second.line) + ", column " +
                                       std::to_string(it->second.column) + ")");
            }
            skip_blank();
            expect_char(':', "':' after key " + quoted(m.key));
            skip_blank();
            m.value = value(depth);
            n.members.push_back(std::move(m));
            skip_blank();
            if (!at_end() && peek() == ',') {
                advance();
                continue;
            }
            expect_char('}', "',' or '}'");
            return n;
        }
    }

    tree_node array(int depth) {
        check_depth(depth);
        tree_node n = make(node_kind::array, here());
        advance();  // '['
        skip_blank();
        if (!at_end() && peek() == ']') {
            advance();
            return n;
        }
        for (;;) {
            skip_blank();
            if (!at_end() && peek() == ']') {
                fail("expected a value, got ']'", "JSON does not allow a trailing comma");
            }
            n.items.push_back(value(depth));
            skip_blank();
            if (!at_end() && peek() == ',') {
                advance();
                continue;
            }
            expect_char(']', "',' or ']'");
            return n;
        }
    }

    bool digit() const { return !at_end() && peek() >= '0' && peek() <= '9'; }

    void digits(const char* after) {
        if (!digit()) {
            fail(std::string("expected a digit ") + after + ", got " + describe_here());
        }
        while (digit()) {
            advance();
        }
    }

    tree_node number() {
        tree_node n = make(node_kind::null, here());
        std::size_t start = _i;
        if (peek() == '-') {
            advance();
        }
        if (!at_end() && peek() == '0') {
            advance();
            if (digit()) {
                fail("numbers must not have leading zeros");
            }
        } else {
            digits("in number");
        }
        bool integral = true;
        if (!at_end() && peek() == '.') {
            integral = false;
            advance();
            digits("after '.'");
        }
        if (!at_end() && (peek() == 'e' || peek() == 'E')) {
            integral = false;
            advance();
            if (!at_end() && (peek() == '+' || peek() == '-')) {
                advance();
            }
            digits("in exponent");
        }
        const char* first = _text.data() + start;
        const char* last = _text.data() + _i;
        std::from_chars_result r;
        if (integral) {
            n.kind = node_kind::integer;
            r = std::from_chars(first, last, n.integer);
        } else {
            n.kind = node_kind::floating;
            r = std::from_chars(first, last, n.floating);
        }
        if (r.ec != std::errc() || r.ptr != last) {
            fail_at(n.pos, "number out of range");
        }
        return n;
    }

    unsigned hex4() {
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            if (at_end() || !std::isxdigit(peek())) {
                fail("expected 4 hex digits after \\u, got " + describe_here());
            }
            unsigned char c = peek();
            v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
            advance();
        }
        return v;
    }

    static void append_utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    // \uXXXX, combining a UTF-16 surrogate pair into one code point.
    void unicode_escape(std::string& out, position escape_pos) {
        std::uint32_t cp = hex4();
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail_at(escape_pos, "invalid \\u escape: unpaired low surrogate");
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (_text.substr(_i, 2) != "\\u") {
                fail_at(escape_pos, "invalid \\u escape: high surrogate without a low surrogate");
            }
            advance();
            advance();
            std::uint32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) {
                fail_at(escape_pos, "invalid \\u escape: high surrogate without a low surrogate");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(out, cp);
    }

    void escape(std::string& out) {
        position escape_pos = here();
        advance();  // backslash
        if (at_end()) {
            fail_at(escape_pos, "unterminated escape sequence");
        }
        char c = static_cast<char>(peek());
        advance();
        switch (c) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': unicode_escape(out, escape_pos); break;
        default: fail_at(escape_pos, "invalid escape sequence in string");
        }
    }

    // The length of the valid UTF-8 sequence starting at _i (Unicode 15,
    // table 3-7: no overlong forms, no surrogates, nothing past U+10FFFF),
    // or 0 when it is not one.
    std::size_t utf8_length() const {
        auto byte = [&](std::size_t k) -> unsigned {
            return _i + k < _text.size() ? static_cast<unsigned char>(_text[_i + k]) : 0;
        };
        auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
            return byte(k) >= lo && byte(k) <= hi;
        };
        unsigned c = byte(0);
        if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
        if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
        if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
        if (c >= 0xE1 && c <= 0xEF) return cont(1) && cont(2) ? 3 : 0;
        if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
        if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
        if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
        return 0;
    }

    std::string string() {
        position start = here();
        advance();  // opening quote
        std::string out;
        for (;;) {
            if (at_end()) {
                fail_at(start, "unterminated string");
            }
            unsigned char c = peek();
            if (c == '"') {
                advance();
                return out;
            }
            if (c == '\\') {
                escape(out);
            } else if (c < 0x20) {
                fail("control character in string", "write it as an escape such as \\n or \\u001f");
            } else if (c < 0x80) {
                out += static_cast<char>(c);
                advance();
            } else {
                std::size_t len = utf8_length();
                if (len == 0) {
                    fail("invalid UTF-8 in string");
                }
                out.append(_text.substr(_i, len));
                for (std::size_t k = 0; k < len; ++k) {
                    advance();
                }
            }
        }
    }
};

}  // namespace

tree_node parse_json(std::string_view text, const std::string& file_name) {
    return json_reader(text, file_name).document();
}

}  // namespace moat::config
