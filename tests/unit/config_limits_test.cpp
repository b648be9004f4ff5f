// The readers' limits (config/tree.hpp): nesting and size are refused with
// a diagnostic at file:line:col before toml++ or the JSON reader recurse,
// never a crash. The 80 KB dotted key below overflowed toml++ 3.3.0's stack
// (SIGSEGV) before the guard counted levels.
#include "config_test_util.hpp"

#include <gmock/gmock.h>

using testing::ElementsAre;

namespace moat::config::test {
namespace {

const std::string nesting = "nesting deeper than 64 levels of tables and arrays (hint: no moat key nests more than a few levels deep)";

std::string dotted(int segments) {
    std::string key = "a";
    for (int i = 1; i < segments; ++i) {
        key += ".a";
    }
    return key;
}

TEST(config_limits, an_80_kb_dotted_key_is_an_error_not_a_crash) {
    std::string text = dotted(40000) + " = 1\n";
    ASSERT_GT(text.size(), 80000u);
    // The 64th dot would open the 65th level (the document is the first).
    EXPECT_THAT(briefs(load_errors(text)), ElementsAre("1:128: " + nesting));
    EXPECT_THAT(briefs(load_errors("[" + dotted(40000) + "]\n")), ElementsAre("1:127: " + nesting));
    EXPECT_THAT(briefs(load_errors("[[" + dotted(40000) + "]]\n")), ElementsAre("1:128: " + nesting));
}

TEST(config_limits, levels_add_up_across_headers_keys_and_values) {
    const auto unknown_a = testing::HasSubstr("unknown key 'a' in the top level");
    // [a.a] opens level 3, x.x.x = adds two tables (5), each inline table one level more.
    auto inline_tables = [](int n) {
        std::string s = "[a.a]\nx.x.x = ";
        for (int i = 0; i < n; ++i) s += "{k = ";
        return s + "1" + std::string(n, '}') + "\n";
    };
    EXPECT_THAT(briefs(load_errors(inline_tables(59))), ElementsAre(unknown_a));
    EXPECT_THAT(briefs(load_errors(inline_tables(60))), ElementsAre("2:304: " + nesting));
    // Arrays inside inline tables inside arrays: the 60th '[' is level 65.
    std::string arrays = "x = [{y = [{z = " + std::string(70, '[') + std::string(70, ']') + "}]}]\n";
    EXPECT_THAT(briefs(load_errors(arrays)), ElementsAre("1:76: " + nesting));
    // Exactly 64 levels: the document and 63 tables, the last holding the value.
    EXPECT_THAT(briefs(load_errors(dotted(64) + " = 1\n")), ElementsAre(unknown_a));
    EXPECT_THAT(briefs(load_errors(dotted(65) + " = 1\n")), ElementsAre("1:128: " + nesting));
    // Dots inside quoted keys and strings are not levels.
    std::string quoted_dots = "\"" + dotted(100) + "\" = \"" + dotted(100) + "\"\n";
    EXPECT_THAT(briefs(load_errors(quoted_dots)), ElementsAre(testing::HasSubstr("unknown key")));
}

TEST(config_limits, json_counts_levels_the_same_way) {
    // {"a": {"a": ... 1}}: 64 objects fit, 65 do not.
    auto objects = [](int n) {
        std::string s;
        for (int i = 0; i < n; ++i) s += "{\"a\": ";
        s += "1";
        for (int i = 0; i < n; ++i) s += "}";
        return s;
    };
    EXPECT_THAT(briefs(load_errors(objects(64), format::json)), ElementsAre(testing::HasSubstr("unknown key 'a'")));
    EXPECT_THAT(briefs(load_errors(objects(65), format::json)), ElementsAre("1:385: " + nesting));
    // The TOML spelling of the same 64 levels fits too.
    EXPECT_THAT(briefs(load_errors(dotted(64) + " = 1\n")), ElementsAre(testing::HasSubstr("unknown key 'a'")));
}

TEST(config_limits, text_larger_than_one_mib_is_refused_where_it_goes_past) {
    std::string line = "# " + std::string(1021, 'x') + "\n";  // 1 KiB per line
    std::string text;
    for (int i = 0; i < 1024; ++i) text += line;
    ASSERT_EQ(text.size(), std::size_t{1} << 20);
    EXPECT_NO_THROW(load_string(text, "big.toml", format::toml));  // exactly the limit: fine
    text += "x";
    auto d = load_errors(text, format::toml, "big.toml");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].str(), "big.toml:1025:1: error: the configuration is longer than 1 MiB; moat stops reading here "
                          "(hint: split it into several files, one per group of containers)");
    EXPECT_EQ(load_errors(text, format::json, "big.json").at(0).where.str(), "big.json:1025:1");
}

TEST(config_limits, files_are_read_only_up_to_the_limit) {
    // /dev/zero never ends: the reader must stop after the limit, not run out of memory.
    auto d = diagnostics_of([] { load_file("/dev/zero", format::toml); });
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].where.str(), "/dev/zero:1:1048577");
    EXPECT_NE(d[0].message.find("longer than 1 MiB"), std::string::npos) << d[0].message;
}

}  // namespace
}  // namespace moat::config::test
