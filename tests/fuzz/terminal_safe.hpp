// Whether text is safe on a terminal: well-formed UTF-8 (decoded here on
// its own terms, not with sys::printable's decoder) without a code point a
// terminal acts on: a C0 control but TAB, DEL, a C1 control, a bidi control
// or a line separator (listed here one by one). Shared by
// printable_test and fuzz_printable.
#pragma once

#include <cstddef>
#include <string>

namespace moat::test {

inline bool terminal_safe(const std::string& s) {
    for (std::size_t i = 0; i < s.size();) {
        auto b0 = static_cast<unsigned char>(s[i]);
        std::size_t n = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        char32_t cp = n == 1 ? b0 : n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
        for (std::size_t k = 1; k < n; ++k) {
            auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xC0) != 0x80) return false;
            cp = cp << 6 | (b & 0x3F);
        }
        const char32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        if ((cp < 0x20 && cp != '\t') || (cp >= 0x7F && cp <= 0x9F)) return false;
        const char32_t reordering[] = {0x061C, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A, 0x202B,
                                       0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069};
        for (char32_t r : reordering) {
            if (cp == r) return false;
        }
        i += n;
    }
    return true;
}

}  // namespace moat::test
