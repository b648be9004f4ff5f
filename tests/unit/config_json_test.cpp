// The strict JSON reader: RFC 8259 syntax, escapes, limits, and the exact
// position of every syntax error.
#include "config_test_util.hpp"

namespace moat::config::test {
namespace {

// The single syntax diagnostic for `json`, as "line:col: message".
std::string syntax_error(const std::string& json) {
    auto d = load_errors(json, format::json, "s.json");
    if (d.size() != 1) {
        return "expected exactly one diagnostic, got " + std::to_string(d.size());
    }
    return std::to_string(d[0].where.line) + ":" + std::to_string(d[0].where.column) + ": " + d[0].message;
}

std::string root_of(const std::string& json) {
    model m = load_string(R"({"containers": {"c": {"root": )" + json + "}}}", "s.json", format::json);
    return *m.containers.at(0).root;
}

TEST(config_json, string_escapes) {
    EXPECT_EQ(root_of(R"("/a\"b\\c\/d")"), "/a\"b\\c/d");
    EXPECT_EQ(root_of(R"("/\b\f\n\r\t")"), "/\b\f\n\r\t");
    EXPECT_EQ(root_of(R"("/\u00e9\u20AC")"), "/\xC3\xA9\xE2\x82\xAC");  // é €
    EXPECT_EQ(root_of(R"("/\ud83d\ude00")"), "/\xF0\x9F\x98\x80");      // 😀 from a surrogate pair
    EXPECT_EQ(root_of("\"/\xF0\x9F\x98\x80\""), "/\xF0\x9F\x98\x80");     // raw UTF-8 passes through
}

TEST(config_json, string_errors) {
    EXPECT_EQ(syntax_error(R"({"a": "\ud83d"})"), "1:8: invalid \\u escape: high surrogate without a low surrogate");
    EXPECT_EQ(syntax_error(R"({"a": "\ud83d\u0041"})"), "1:8: invalid \\u escape: high surrogate without a low surrogate");
    EXPECT_EQ(syntax_error(R"({"a": "x\ude00"})"), "1:9: invalid \\u escape: unpaired low surrogate");
    EXPECT_EQ(syntax_error(R"({"a": "\u12g4"})"), "1:12: expected 4 hex digits after \\u, got character 'g'");
    EXPECT_EQ(syntax_error(R"({"a": "\x"})"), "1:8: invalid escape sequence in string");
    EXPECT_EQ(syntax_error("{\"a\": \"tab\there\"}"), "1:11: control character in string");
    EXPECT_EQ(syntax_error("{\"a\": \"\xC3\x28\"}"), "1:8: invalid UTF-8 in string");
    EXPECT_EQ(syntax_error("{\"a\": \"\xE0\x80\xAF\"}"), "1:8: invalid UTF-8 in string");   // overlong '/'
    EXPECT_EQ(syntax_error("{\"a\": \"\xED\xA0\x80\"}"), "1:8: invalid UTF-8 in string");   // encoded surrogate
    EXPECT_EQ(syntax_error("{\"a\": \"\xF4\x90\x80\x80\"}"), "1:8: invalid UTF-8 in string");  // > U+10FFFF
    EXPECT_EQ(syntax_error("{\"a\": \"open"), "1:7: unterminated string");
    EXPECT_EQ(syntax_error("{\"a\": \"line\nbreak\"}"), "1:12: control character in string");
}

TEST(config_json, structure_errors) {
    EXPECT_EQ(syntax_error(""), "1:1: unexpected end of input, expected a value");
    EXPECT_EQ(syntax_error("  \n "), "2:2: unexpected end of input, expected a value");
    EXPECT_EQ(syntax_error("{\"a\": 1,}"), "1:9: expected a string key, got character '}'");
    EXPECT_EQ(load_errors("{\"a\": 1,}", format::json).at(0).hint, "JSON does not allow a trailing comma");
    EXPECT_EQ(syntax_error("{\"a\": [1, 2,]}"), "1:13: expected a value, got ']'");
    EXPECT_EQ(syntax_error("{\"a\" 1}"), "1:6: expected ':' after key 'a', got character '1'");
    EXPECT_EQ(syntax_error("{\"a\": 1 \"b\": 2}"), "1:9: expected ',' or '}', got character '\"'");
    EXPECT_EQ(syntax_error("{\"a\": [1 2]}"), "1:10: expected ',' or ']', got character '2'");
    EXPECT_EQ(syntax_error("{a: 1}"), "1:2: expected a string key, got character 'a'");
    EXPECT_EQ(syntax_error("{\"a\": tru}"), "1:7: unexpected character 't', expected a value");
    EXPECT_EQ(syntax_error("{\"a\": 1} x"), "1:10: unexpected character 'x' after the JSON value");
    EXPECT_EQ(syntax_error("{\"a\": 1}\n// c"), "2:1: comments are not allowed in JSON");
    EXPECT_EQ(syntax_error("{\"a\": \x01}"), "1:7: unexpected byte 0x01, expected a value");
    EXPECT_EQ(syntax_error("{\"a\": 1"), "1:8: expected ',' or '}', got end of input");
}

TEST(config_json, duplicate_keys) {
    EXPECT_EQ(syntax_error("{\"containers\": {\n  \"a\": {},\n  \"a\": {}\n}}"),
              "3:3: duplicate key 'a' (first defined at line 2, column 3)");
}

TEST(config_json, numbers) {
    EXPECT_EQ(syntax_error(R"({"a": 01})"), "1:8: numbers must not have leading zeros");
    EXPECT_EQ(syntax_error(R"({"a": -})"), "1:8: expected a digit in number, got character '}'");
    EXPECT_EQ(syntax_error(R"({"a": 1.})"), "1:9: expected a digit after '.', got character '}'");
    EXPECT_EQ(syntax_error(R"({"a": 1e})"), "1:9: expected a digit in exponent, got character '}'");
    EXPECT_EQ(syntax_error(R"({"a": +1})"), "1:7: unexpected character '+', expected a value");
    EXPECT_EQ(syntax_error(R"({"a": 9223372036854775808})"), "1:7: number out of range");
    EXPECT_EQ(syntax_error(R"({"a": 1e999})"), "1:7: number out of range");
    // Floats and big integers are valid JSON; the mapper says what is wrong.
    auto d = load_errors(R"({"containers": {"c": {"firewall": {"allowedTCPPorts": [80.0, -9223372036854775808, 1e2]}}}})", format::json);
    EXPECT_EQ(briefs(d), (std::vector<std::string>{
                             "1:56: allowedTCPPorts: expected a port number 1-65535, got a float",
                             "1:62: allowedTCPPorts: expected a port number 1-65535, got -9223372036854775808",
                             "1:84: allowedTCPPorts: expected a port number 1-65535, got a float"}));
}

TEST(config_json, nesting_depth_is_limited) {
    std::string ok = std::string(64, '[') + std::string(64, ']');
    EXPECT_EQ(load_errors(ok, format::json).at(0).message, "the top level: expected a table, got an array");
    std::string deep = std::string(65, '[') + std::string(65, ']');
    EXPECT_EQ(syntax_error(deep), "1:65: nesting deeper than 64 levels of tables and arrays");
    std::string very_deep(100000, '[');  // must fail cleanly, not overflow the stack
    EXPECT_EQ(syntax_error(very_deep), "1:65: nesting deeper than 64 levels of tables and arrays");
}

TEST(config_json, columns_count_code_points_like_toml) {
    // "é" is two bytes but one column, in both readers.
    auto j = load_errors("{\"containers\": {\"c\": {\"description\": \"é\", \"root\": 1}}}", format::json);
    EXPECT_EQ(brief(j.at(0)), "1:23: unknown key 'description' in container 'c' (hint: valid keys are autoStart, privateNetwork, hostAddress, localAddress, hostAddress6, localAddress6, hostBridge, egress, dns, accessibleFrom, forwardPorts, bindMounts, root, privateUsers, enableTun, additionalCapabilities, allowedDevices, ephemeral, logSize, logFiles, firewall, services, check, tmpfs, networkNamespace, extraFlags, "
              "interfaces, macvlans, extraVeths, localMacAddress, timeoutStartSec, restartIfChanged, copyResolvConf, "
              "config, path, flake, nixpkgs, specialArgs)");
    EXPECT_EQ(brief(j.at(1)), "1:51: root: expected a string, got an integer");
    auto t = load_errors("containers.c = { root = \"/é\", ephemeral = 1 }\n");
    EXPECT_EQ(brief(t.at(0)), "1:43: ephemeral: expected true or false, got an integer");
}

TEST(config_json, crlf_and_bom) {
    model m = load_string("\xEF\xBB\xBF{\r\n\"containers\": {\"c\": {}}\r\n}\r\n", "w.json", format::json);
    EXPECT_EQ(m.containers.at(0).where.line, 2);
    EXPECT_EQ(m.containers.at(0).where.column, 16);
}

}  // namespace
}  // namespace moat::config::test
