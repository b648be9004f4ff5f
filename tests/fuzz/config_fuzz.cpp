// libFuzzer target for the configuration loader. The loader reads files a
// user hands to a root process, so any input must end in a model or a
// config_error: no crash, no sanitizer report, no other exception type, and
// every diagnostic must point into the input (line >= 1) so that the user is
// never left with an error they cannot find. The suite runs it with inputs
// up to 100 kB (tests/CMakeLists.txt), enough for the readers' nesting limit:
// 80 kB of dotted keys once overflowed toml++'s stack.
#include "config/loader.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

void check_error(const moat::config::config_error& e) {
    if (e.diagnostics.empty()) {
        __builtin_trap();
    }
    for (const auto& d : e.diagnostics) {
        if (d.where.line < 1 || d.where.column < 1 || d.message.empty()) {
            __builtin_trap();
        }
    }
}

void run(std::string_view text, moat::config::format f) {
    using namespace moat::config;
    model m;
    try {
        m = load_string(text, "fuzz", f);
    } catch (const config_error& e) {
        check_error(e);
        return;
    }
    try {
        validate(m);
    } catch (const config_error& e) {
        check_error(e);
    }
    try {
        reject_unsupported(m, feature_set{});
    } catch (const config_error& e) {
        check_error(e);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    run(text, moat::config::format::toml);
    run(text, moat::config::format::json);
    return 0;
}
