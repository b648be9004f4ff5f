// How openvpn 2.6 cuts a config file into option lines and inline blocks,
// for the sanitiser (ovpn_file.hpp), which must see every line openvpn
// will take for an option, and nothing openvpn takes for data.
//
// Theory of operation: the sanitiser comments out what must not reach the
// daemon (`plugin`, `up`, `script-security`, ...) line by line, and passes
// the lines of inline blocks (<ca>...</ca>) as data. If it and openvpn
// disagreed on where a block ends, lines openvpn reads as options would
// pass as data, unread: a file could load a plugin or run a script. So the
// reader follows openvpn's own rules (options.c: read_config_file,
// check_inline_file, read_inline_file; buffer.c: buf_parse), and refuses
// (moat::error "<file>:<line>: ...") every file where they are ambiguous:
//  * A block opens on a line whose only word (split like parse_line, after
//    a leading "--") is <tag>, quoted or followed by a comment included;
//    `<connection>` holds options, which openvpn parses again as such.
//  * A block closes on the first line that, after leading white space,
//    starts with </tag> ("</ca>x" closes it; so does a piece of a line).
//  * openvpn reads a data line in pieces of 255 bytes, and an option line
//    longer than 254 bytes is its fatal error at the top level, and is cut
//    into two lines inside <connection> (buf_parse). Refused: option lines
//    of 255 bytes or more, a data line one of whose pieces would close its
//    block, long lines inside <connection>.
//  * openvpn skips one UTF-8 byte order mark at the start (counted in the
//    first line's length); a second is refused: the daemon's copy, written
//    without the first, would begin with it, and openvpn would skip it too.
//  * A NUL byte ends a line for openvpn (the rest is never read): refused,
//    like blocks left open at the end, a <connection> inside another, and a
//    block still open at </connection> (each fatal to openvpn anyway).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace moat::tunnel {

// The longest option line openvpn reads, in bytes before its line end; the
// daemon's copy keeps to it too.
inline constexpr std::size_t ovpn_longest_line = 254;

enum class ovpn_line_kind {
    option,            // an option line (or a comment, or blank), at the top level or in <connection>
    block_open,        // <tag>
    block_data,        // a line inside the block
    block_close,       // the line that ends it
    connection_open,   // <connection>: the lines up to its end are options
    connection_close,  // </connection>
};

struct ovpn_line {
    int number = 0;
    std::string text;  // without its line end (LF, CRLF) and, first, a UTF-8 byte order mark
    ovpn_line_kind kind = ovpn_line_kind::option;
    std::string tag;   // the block's, for block_* lines
};

std::vector<ovpn_line> ovpn_read_lines(const std::string& text, const std::string& file);

}  // namespace moat::tunnel
