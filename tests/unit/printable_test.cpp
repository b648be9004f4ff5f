// sys::printable (sys/printable.hpp): what a container or a daemon wrote,
// shown on the operator's terminal without its control sequences.
#include "sys/printable.hpp"

#include "../fuzz/terminal_safe.hpp"

#include <gtest/gtest.h>

#include <string>

using moat::sys::printable;
using moat::test::terminal_safe;

TEST(Printable, TextStaysAsWritten) {
    EXPECT_EQ(printable(""), "");
    EXPECT_EQ(printable("GET /index.html 200 (12 ms)"), "GET /index.html 200 (12 ms)");
    EXPECT_EQ(printable("a\tb"), "a\tb");  // a tab is layout, not a command
    EXPECT_EQ(printable("C:\\path\\x1b"), "C:\\path\\x1b");  // a backslash is not escaped
    EXPECT_EQ(printable("caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x90\x9F \xC2\xA0nbsp"), "caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x90\x9F \xC2\xA0nbsp");
}

TEST(Printable, EscapeSequencesOfAHostileContainerAreShownNotActedOn) {
    // Window title, clipboard (OSC 52), clear screen, colour, bell.
    EXPECT_EQ(printable("\x1b]0;owned\x07"), "\\x1b]0;owned\\x07");
    EXPECT_EQ(printable("\x1b]52;c;ZWNobyBoaQ==\x07"), "\\x1b]52;c;ZWNobyBoaQ==\\x07");
    EXPECT_EQ(printable("\x1b[2J\x1b[31mred"), "\\x1b[2J\\x1b[31mred");
    // A forged line: CR back to the start, then a fake time stamp.
    EXPECT_EQ(printable("ok\r2026-01-01T00:00:00.000Z all fine"), "ok\\x0d2026-01-01T00:00:00.000Z all fine");
    EXPECT_EQ(printable("a\nb"), "a\\x0ab");
    EXPECT_EQ(printable(std::string("nul\0here", 8)), "nul\\x00here");
    EXPECT_EQ(printable("del\x7f"), "del\\x7f");
    EXPECT_EQ(printable("\x08\x08\x08"), "\\x08\\x08\\x08");
}

TEST(Printable, C1ControlsAndBytesThatAreNotUtf8AreEscaped) {
    EXPECT_EQ(printable("\xC2\x9B" "2J"), "\\xc2\\x9b2J");   // U+009B, CSI in UTF-8
    EXPECT_EQ(printable("\x9B" "2J"), "\\x9b2J");            // CSI in an 8-bit charset
    EXPECT_EQ(printable("\xC2\x85"), "\\xc2\\x85");          // U+0085, NEL
    EXPECT_EQ(printable("\xC3"), "\\xc3");                   // a sequence cut short
    EXPECT_EQ(printable("\xC3(x"), "\\xc3(x");               // resynchronised at the next byte
    EXPECT_EQ(printable("\xC0\xAF"), "\\xc0\\xaf");          // overlong '/'
    EXPECT_EQ(printable("\xE0\x80\x9B"), "\\xe0\\x80\\x9b"); // overlong U+001B
    EXPECT_EQ(printable("\xED\xA0\x80"), "\\xed\\xa0\\x80"); // a UTF-16 surrogate
    EXPECT_EQ(printable("\xF4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
    EXPECT_EQ(printable("\xFF\xFE"), "\\xff\\xfe");
}

// A line that displays other than it reads on a terminal with bidi
// support: RLO (U+202E) shows "nimda" backwards, an isolate hides where an
// override ends. Escaped, with the joiner of an emoji sequence (U+200D,
// also a format character) and the separators' neighbours kept: control.
TEST(Printable, BidiControlsAndLineSeparatorsAreEscaped) {
    EXPECT_EQ(printable("user \xE2\x80\xAE" "nimda\xE2\x80\xAC ok"), "user \\xe2\\x80\\xaenimda\\xe2\\x80\\xac ok");
    EXPECT_EQ(printable("\xE2\x81\xA6x\xE2\x81\xA9"), "\\xe2\\x81\\xa6x\\xe2\\x81\\xa9");  // LRI, PDI
    EXPECT_EQ(printable("\xE2\x80\x8F\xD8\x9C"), "\\xe2\\x80\\x8f\\xd8\\x9c");              // RLM, ALM
    EXPECT_EQ(printable("a\xE2\x80\xA8" "b"), "a\\xe2\\x80\\xa8" "b");                     // LINE SEPARATOR
    const std::string emoji = "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB";  // woman, ZWJ, laptop
    EXPECT_EQ(printable(emoji), emoji);
    EXPECT_EQ(printable("\xE2\x80\xA7\xE2\x80\xAF\xE2\x81\xA5"), "\xE2\x80\xA7\xE2\x80\xAF\xE2\x81\xA5");
    for (char32_t cp = 0x2000; cp < 0x2100; ++cp) {  // the whole block, through the checker
        std::string in{static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                       static_cast<char>(0x80 | (cp & 0x3F))};
        ASSERT_TRUE(terminal_safe(printable(in))) << std::hex << static_cast<unsigned>(cp);
    }
    ASSERT_FALSE(terminal_safe("\xE2\x80\xAE"));  // control: the checker knows RLO
}

TEST(Printable, EveryByteAndEveryPairComesOutTerminalSafe) {
    // Control: the checker itself rejects what it must.
    ASSERT_FALSE(terminal_safe("\x1b"));
    ASSERT_FALSE(terminal_safe("\xC2\x9B"));
    ASSERT_FALSE(terminal_safe("\x9B"));
    ASSERT_TRUE(terminal_safe("\xC3\xA9\t"));
    for (int a = 0; a < 256; ++a) {
        for (int b = 0; b < 256; ++b) {
            std::string in{static_cast<char>(a), static_cast<char>(b)};
            auto out = printable(in);
            ASSERT_TRUE(terminal_safe(out)) << a << " " << b << " -> " << out;
            if (a >= 0x20 && a < 0x7F && b >= 0x20 && b < 0x7F) {
                ASSERT_EQ(out, in);
            }
        }
    }
}
