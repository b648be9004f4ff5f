// See printable.hpp.
#include "sys/printable.hpp"

#include <cstdint>

namespace moat::sys {

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` (RFC
// 3629: no overlong forms, no surrogates, nothing above U+10FFFF) and its
// code point; 0 when it is not one.
std::size_t utf8_sequence(std::string_view s, char32_t& cp) {
    auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
    auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
    std::uint8_t lead = b(0);
    if (lead < 0x80) {
        cp = lead;
        return 1;
    }
    if (lead >= 0xC2 && lead <= 0xDF && cont(1)) {
        cp = (lead & 0x1Fu) << 6 | (b(1) & 0x3Fu);
        return 2;
    }
    if (lead >= 0xE0 && lead <= 0xEF && cont(1) && cont(2)) {
        cp = (lead & 0x0Fu) << 12 | (b(1) & 0x3Fu) << 6 | (b(2) & 0x3Fu);
        bool overlong = cp < 0x800;
        bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        return overlong || surrogate ? 0 : 3;
    }
    if (lead >= 0xF0 && lead <= 0xF4 && cont(1) && cont(2) && cont(3)) {
        cp = (lead & 0x07u) << 18 | (b(1) & 0x3Fu) << 12 | (b(2) & 0x3Fu) << 6 | (b(3) & 0x3Fu);
        return cp < 0x10000 || cp > 0x10FFFF ? 0 : 4;
    }
    return 0;
}

// Bidirectional formatting characters reorder what a terminal with bidi
// support (VTE, Konsole, mlterm) shows after them, so a line could display
// other than it reads ("Trojan Source", CVE-2021-42574); the line and
// paragraph separators may be drawn as line breaks. Other format
// characters (a zero-width joiner inside an emoji) stay.
bool is_reordering(char32_t cp) {
    return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

bool is_control(char32_t cp) {
    return (cp < 0x20 && cp != '\t') || (cp >= 0x7F && cp <= 0x9F) || is_reordering(cp);
}

void escape_byte(std::string& out, char c) {
    static constexpr char hex[] = "0123456789abcdef";
    auto v = static_cast<std::uint8_t>(c);
    out += "\\x";
    out += hex[v >> 4];
    out += hex[v & 0xF];
}

}  // namespace

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        char32_t cp = 0;
        std::size_t n = utf8_sequence(text.substr(i), cp);
        if (n == 0) {
            escape_byte(out, text[i]);  // not UTF-8: this byte alone, then resynchronise
            n = 1;
        } else if (is_control(cp)) {
            for (std::size_t k = 0; k < n; ++k) {
                escape_byte(out, text[i + k]);
            }
        } else {
            out.append(text.substr(i, n));
        }
        i += n;
    }
    return out;
}

}  // namespace moat::sys
