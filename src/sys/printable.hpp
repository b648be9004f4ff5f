// Text a container or a tunnel daemon wrote, made safe for the operator's
// terminal.
//
// Theory of operation: what a container's services and the tunnel daemons
// write reaches the operator through `moat logs`, `moat up`'s reasons and
// `moat status`. A terminal acts on control sequences in it: ESC ] 0 ; sets
// the window title, ESC ] 52 ; writes the clipboard (a command planted
// there runs at the next paste), ESC [ 2 J clears the screen, and CR or
// cursor movement overwrites what was printed, so a hostile container could
// hide or forge log lines. As `ls` does with file names and journalctl with
// unprintable messages, every byte that is not printable text is shown as
// \xHH: the C0 controls except TAB, DEL, the C1 controls U+0080..U+009F
// (terminals that read them act on U+009B as on ESC [), and bytes that are
// not UTF-8 (a raw 0x9B is CSI to a terminal in an 8-bit charset), and the
// bidirectional controls and line separators (U+061C, U+200E, U+200F,
// U+2028..U+202E, U+2066..U+2069), with which a line displays in another
// order than it was written on terminals that support bidi. Printable
// UTF-8 stays as written; a backslash is not escaped, so text that spells
// "\x1b" looks the same as an escaped ESC but is harmless either way.
#pragma once

#include <string>
#include <string_view>

namespace moat::sys {

// `text` with every non-printable byte as \xHH (lower-case hex). A newline
// is escaped too: the result is one line.
std::string printable(std::string_view text);

}  // namespace moat::sys
