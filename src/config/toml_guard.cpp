// A pre-scan of TOML text that keeps toml++ 3.3.0 away from input on which
// it has undefined behaviour or runs out of stack (see toml_guard below).
#include "config/diagnostics.hpp"
#include "config/tree.hpp"

#include <vector>

namespace moat::config {

namespace {

// toml++ 3.3.0 (Debian 12) reaches __builtin_unreachable() -- undefined
// behaviour -- when it tests some non-ASCII code points for whitespace
// (U+00A1..U+0499, U+2D6E..U+3167, U+FB26..U+FEFE): found by fuzz_config, upstream
// marzer/tomlplusplus#295 and #190, fixed after 3.3.0. It runs that test on
// characters between tokens, on every character of a bare value (a number,
// date, boolean: its look-ahead runs on through quotes, '=' and brackets up
// to whitespace, ',', ']', '}' or '#'), and after a backslash (and any
// blanks) in a multi-line basic string. TOML allows non-ASCII in none of those places
// (only in strings and comments), so this scan rejects it there first, with
// a real error, and toml++ never sees it. It tracks just enough of TOML --
// key or value position, array and inline-table nesting -- to tell a
// string's opening quote from a stray quote inside a bare value.
//
// toml++ also recurses once per level of nesting, and bounds only values
// (arrays, inline tables: TOML_MAX_NESTED_VALUES = 256), not dotted keys or
// table headers: about 80 KB of "a.a.a...= 1" overflowed its stack
// (SIGSEGV). So the scan also counts levels -- the tables and arrays around
// each key and value, the document itself included, as the JSON reader
// counts them -- and refuses more than max_nesting at the key or bracket
// that goes deeper.
class toml_guard {
public:
    toml_guard(std::string_view text, const std::string& file) : _s(text), _file(file) {}

    void run() {
        while (_i < _s.size()) {
            char c = _s[_i];
            if (_bare && !ends_bare(c)) {
                check_ascii();
                step(1);
                continue;
            }
            _bare = false;
            if (c == '#') {
                skip_until_newline();
            } else if (c == '"' || c == '\'') {
                bool multi = _s.substr(_i, 3) == std::string(3, c);
                step(multi ? 3 : 1);
                multi ? multi_line_string(c) : single_line_string(c);
            } else {
                structure(c);
                step(1);
            }
        }
    }

private:
    std::string_view _s;
    const std::string& _file;
    std::size_t _i = 0;
    position _pos{1, 1};
    bool _value = false;      // after '=' (or in an array): a value comes next
    bool _bare = false;       // inside a bare value token
    struct open_value {
        char bracket;  // '[' or '{'
        int level;     // its own level (the document is level 1)
    };
    std::vector<open_value> _nest;  // open '[' and '{' of values
    // Levels: of the table the last header opened, of the table or array
    // holding the current value, and the dots of the key being read.
    int _table_level = 1;
    int _value_level = 1;
    int _key_dots = 0;
    bool _header = false;        // between a header's '[' and its ']'
    bool _array_header = false;  // it is "[[...]]": the array adds a level

    static bool ends_bare(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ']' || c == '}' || c == '#';
    }

    void check_ascii() {
        if (static_cast<unsigned char>(_s[_i]) >= 0x80) {
            fail("unexpected non-ASCII character outside a string or comment");
        }
    }

    void structure(char c) {
        switch (c) {
        case '\n':
            _value = _value && !_nest.empty();
            _key_dots = 0;
            break;
        case '=': key_ends(); break;
        case '.':
            if (_value) {
                _bare = true;  // not TOML, but toml++ reports it
            } else {
                // Each dot of a key opens one more table: refuse at the one too many.
                ++_key_dots;
                check_level((_header ? 2 : key_base()) + _key_dots);
            }
            break;
        case '[':
            if (_value) {
                open('[');
            } else if (_header) {
                _array_header = true;  // the second '[' of "[["
            } else if (_nest.empty()) {
                _header = true;
                _array_header = false;
                _key_dots = 0;
            }
            break;
        case '{':
            if (_value) {
                open('{');
                _value = false;  // an inline table starts with a key
                _key_dots = 0;
            }
            break;
        case ']':
            if (_header) {
                header_ends();
            } else if (!_nest.empty() && _nest.back().bracket == '[') {
                close();
            }
            break;
        case '}':
            if (!_nest.empty() && _nest.back().bracket == '{') {
                close();
                _value = true;
            }
            break;
        case ',':
            if (!_nest.empty()) {
                _value = _nest.back().bracket == '[';
                _value_level = _nest.back().level;
                _key_dots = 0;
            }
            break;
        case ' ': case '\t': case '\r': break;
        default:
            check_ascii();
            _bare = _value;
        }
    }

    void check_level(int level) {
        if (level > max_nesting) {
            fail(nesting_error(), std::string(nesting_hint));
        }
    }

    // "a.b.c =": a and b are tables inside the current table or inline
    // table, and the value sits in b.
    int key_base() const { return _nest.empty() ? _table_level : _nest.back().level; }

    void key_ends() {
        _value_level = key_base() + _key_dots;
        check_level(_value_level);
        _key_dots = 0;
        _value = true;
    }

    // "[a.b.c]" opens table c at level 4; "[[a.b]]" an element of array b, also at 4.
    void header_ends() {
        _table_level = 1 + _key_dots + 1 + (_array_header ? 1 : 0);
        check_level(_table_level);
        _header = false;
        _array_header = false;
        _key_dots = 0;
        _value_level = _table_level;
    }

    void open(char bracket) {
        int level = _value_level + 1;
        check_level(level);
        _nest.push_back(open_value{bracket, level});
        _value_level = level;
    }

    void close() {
        _nest.pop_back();
        _value_level = _nest.empty() ? _table_level : _nest.back().level;
    }


    // Columns count code points, as toml++ does.
    void step(std::size_t n) {
        for (; n > 0 && _i < _s.size(); --n, ++_i) {
            if (_s[_i] == '\n') {
                _pos = position{_pos.line + 1, 1};
            } else if ((static_cast<unsigned char>(_s[_i]) & 0xC0) != 0x80) {
                ++_pos.column;
            }
        }
    }

    [[noreturn]] void fail(std::string message, std::string hint = {}) {
        throw config_error({diagnostic{location{_file, _pos.line, _pos.column}, std::move(message), std::move(hint)}});
    }

    void skip_until_newline() {
        while (_i < _s.size() && _s[_i] != '\n') {
            step(1);
        }
    }

    // An unterminated string ends at the newline; toml++ reports it.
    void single_line_string(char quote) {
        while (_i < _s.size() && _s[_i] != quote && _s[_i] != '\n') {
            step(quote == '"' && _s[_i] == '\\' ? 2 : 1);
        }
        step(1);
    }

    void multi_line_string(char quote) {
        const std::string close(3, quote);
        while (_i < _s.size()) {
            if (_s.substr(_i, 3) == close) {
                step(3);
                // Up to two more quotes belong to the content: """a"""""
                for (int k = 0; k < 2 && _i < _s.size() && _s[_i] == quote; ++k) {
                    step(1);
                }
                return;
            }
            if (quote == '"' && _s[_i] == '\\') {
                if (line_ending_backslash()) {
                    continue;  // look at what follows it afresh: quotes, another backslash
                }
                step(2);  // an escape: the backslash and the character it escapes
                continue;
            }
            step(1);
        }
    }

    // At a backslash in a multi-line basic string. toml++ first skips blanks
    // after it, testing what follows for whitespace: non-ASCII there is an
    // invalid escape. When only blanks follow up to the line's end, TOML trims
    // the backslash and all whitespace up to the next content, which toml++
    // tests the same way. Returns false for an ordinary escape.
    bool line_ending_backslash() {
        std::size_t j = _i + 1;
        while (j < _s.size() && (_s[j] == ' ' || _s[j] == '\t' || _s[j] == '\r')) {
            ++j;
        }
        if (j < _s.size() && static_cast<unsigned char>(_s[j]) >= 0x80) {
            fail("invalid escape sequence in string");
        }
        if (j >= _s.size() || _s[j] != '\n') {
            return false;
        }
        step(1);
        while (_i < _s.size() && (_s[_i] == ' ' || _s[_i] == '\t' || _s[_i] == '\r' || _s[_i] == '\n')) {
            step(1);
        }
        if (_i < _s.size() && static_cast<unsigned char>(_s[_i]) >= 0x80) {
            fail("non-ASCII character right after a line-ending backslash",
                 "the TOML library moat uses cannot parse this; move the line break");
        }
        return true;
    }
};

}  // namespace

void guard_toml_text(std::string_view text, const std::string& file_name) { toml_guard(text, file_name).run(); }

}  // namespace moat::config
