// libFuzzer target for sys::printable (sys/printable.hpp), fed what a
// container or a daemon could write. Whatever comes in, what comes out must
// be well-formed UTF-8 without a code point a terminal acts on, must leave
// printable ASCII as it was, and must come out unchanged when escaped again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sys/printable.hpp"
#include "terminal_safe.hpp"

using moat::test::terminal_safe;


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::string out = moat::sys::printable(in);
    if (!terminal_safe(out)) abort();
    if (moat::sys::printable(out) != out) abort();
    bool ascii_text = true;
    for (char c : in) {
        ascii_text = ascii_text && ((c >= 0x20 && c < 0x7F) || c == '\t');
    }
    if (ascii_text && out != in) abort();
    if (out.size() < in.size() || out.size() > 4 * in.size()) abort();
    return 0;
}
