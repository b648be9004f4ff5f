// Keeps docs/moat.toml.5.md (the configuration reference, moat.toml(5))
// true: every key the schema accepts is documented there, and every key
// documented there is accepted. The list of keys comes from the mapper
// itself (config/schema_keys.hpp), never from a second list kept here.
//
// The reference's convention: each key is a definition-list term whose
// first code span is its full path, e.g.
//     `containers.<name>.forwardPorts[].hostPort` (integer, required)
//     :   the port ...
#include "config/schema_keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace {

std::string read(const std::string& path) {
    std::ifstream in(path);
    EXPECT_TRUE(in) << "cannot read " << path;
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Key paths documented as definition-list terms: a line that starts with a
// code span holding a path under one of `roots`, followed (after optional
// blank lines) by a line starting with ":" (pandoc's definition syntax).
std::set<std::string> documented_keys(const std::string& text, const std::set<std::string>& roots) {
    std::set<std::string> out;
    std::istringstream in(text);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    static const std::regex term(R"(^`([A-Za-z][A-Za-z0-9<>\[\]._]*)`)");
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::smatch m;
        if (!std::regex_search(lines[i], m, term)) {
            continue;
        }
        std::string key = m[1];
        std::string root = key.substr(0, key.find_first_of(".["));
        std::size_t j = i + 1;
        while (j < lines.size() && lines[j].empty()) {
            ++j;
        }
        if (roots.count(root) && j < lines.size() && lines[j].starts_with(":")) {
            out.insert(key);
        }
    }
    return out;
}

struct docs_reference : ::testing::Test {
    std::vector<std::string> schema = moat::config::schema_keys();
    std::set<std::string> roots;
    std::set<std::string> documented;

    void SetUp() override {
        for (const auto& k : schema) {
            if (k.find_first_of(".[") == std::string::npos) {
                roots.insert(k);
            }
        }
        documented = documented_keys(read(MOAT_SOURCE_DIR "/docs/moat.toml.5.md"), roots);
    }
};

TEST_F(docs_reference, schema_keys_are_read_off_the_mapper) {
    // A few paths of each shape, so that a broken walk cannot pass as an
    // empty schema that an empty reference "matches".
    for (const char* k : {"containers", "containers.<name>", "containers.<name>.privateNetwork",
                          "containers.<name>.forwardPorts[].hostPort", "containers.<name>.bindMounts.<name>.hostPath",
                          "containers.<name>.services.<name>.environment", "tunnels.<name>.portForwarding.onChange",
                          "check.onFailure", "networks.<name>.check.probe"}) {
        EXPECT_NE(std::find(schema.begin(), schema.end(), k), schema.end()) << k;
    }
    // Only the top-level [check] runs a command on failure.
    EXPECT_EQ(std::find(schema.begin(), schema.end(), "containers.<name>.check.onFailure"), schema.end());
}

TEST_F(docs_reference, every_key_the_schema_accepts_is_documented) {
    std::string missing;
    for (const auto& k : schema) {
        if (!documented.count(k)) {
            missing += "\n  `" + k + "`";
        }
    }
    EXPECT_EQ(missing, "") << "keys the schema accepts but docs/moat.toml.5.md does not document "
                              "(add a definition-list term for each):" << missing;
}

TEST_F(docs_reference, every_documented_key_is_accepted) {
    std::set<std::string> accepted(schema.begin(), schema.end());
    std::string unknown;
    for (const auto& k : documented) {
        if (!accepted.count(k)) {
            unknown += "\n  `" + k + "`";
        }
    }
    EXPECT_EQ(unknown, "") << "keys docs/moat.toml.5.md documents but the schema does not accept:" << unknown;
}

}  // namespace
