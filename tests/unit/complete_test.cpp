// `moat __complete` (src/cli/complete.hpp) through the real binary, on state
// directories this test writes the way the store writes them: subcommands
// and flags as the CLI defines them, values of flags, container, service
// and tunnel names; a missing or damaged state directory gives no names, no
// error output and exit 0; a held state lock does not make it wait.
#include "complete_state.hpp"

#include "../integration/lab.hpp"

#include "state/store.hpp"
#include "sys/fs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace moat;

namespace {

struct answer {
    std::string directive;
    std::vector<std::string> words;
    std::string raw, err;
    int code = -1;
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return q + "'";
}

// `moat __complete -- WORDS...` (the last one under the cursor); `env` goes
// before the command ("MOAT_STATE_DIR=... ").
answer complete(const std::vector<std::string>& words, const std::string& env = "") {
    std::string cmd = "env -u MOAT_STATE_DIR " + env + " " + test::moat_binary() + " __complete --";
    for (const auto& w : words) {
        cmd += " " + quote(w);
    }
    auto r = test::sh(cmd, std::chrono::seconds(10));
    answer a{"", {}, r.out, r.err, r.code};
    std::istringstream in(r.out);
    std::getline(in, a.directive);
    for (std::string line; std::getline(in, line);) {
        a.words.push_back(line.substr(0, line.find('\t')));
    }
    return a;
}

using words = std::vector<std::string>;
using test::record, test::container, test::tunnels_host;

class Complete : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/moat-complete-XXXXXX";
        _tmp = ::mkdtemp(tmpl);
        dir = _tmp + "/state";
        state::store st(dir);
        auto lock = st.lock();
        st.save(record("web", container("web", {"nginx", "app"})));
        st.save(record("db", container("db", {})));
        st.save(record(plan::tunnels_container, tunnels_host({"vpn0", "work"})));
        std::filesystem::create_directories(dir + "/containers/broken");  // damaged: no record.json
        std::ofstream(dir + "/containers/not a container");  // foreign
    }
    void TearDown() override { sys::remove_tree(_tmp); }
    std::string flag() const { return "--state-dir=" + dir; }

    std::string dir;
    std::string _tmp;
};

}  // namespace

TEST(CompleteCli, SubcommandsAreTheCliDefinitions) {
    auto all = complete({""});
    EXPECT_EQ(all.code, 0) << all.err;
    EXPECT_EQ(all.directive, ":words");
    EXPECT_EQ(all.words, (words{"up", "down", "gc", "plan", "status", "check", "exec", "login", "logs", "run",
                                "keygen", "version", "pipe", "spipe"}));
    EXPECT_EQ(complete({"st"}).words, words{"status"});
    // A description follows a tab, for zsh and fish.
    EXPECT_NE(complete({"st"}).raw.find("status\tcontainers, state"), std::string::npos);
    EXPECT_EQ(complete({"--state-dir", "/x", "lo"}).words, (words{"login", "logs"}));
    EXPECT_EQ(complete({"nosuchverb", ""}).directive, ":default");
}

TEST(CompleteCli, FlagsOfEachSubcommand) {
    EXPECT_EQ(complete({"status", "-"}).words, (words{"--help", "-h", "--json"}));
    EXPECT_EQ(complete({"up", "--"}).words, (words{"--help", "--file", "--quiet", "--wait", "--no-wait", "--foreground"}));
    EXPECT_EQ(complete({"--st"}).words, words{"--state-dir"});
    EXPECT_EQ(complete({"run", "--p"}).words, words{"--private-users"});
}

TEST(CompleteCli, ValuesOfFlags) {
    EXPECT_EQ(complete({"run", "--network", ""}).words, (words{"host", "private", "none"}));  // its IsMember
    EXPECT_EQ(complete({"run", "--network=p"}).words, words{"--network=private"});
    EXPECT_EQ(complete({"run", "--private-users", ""}).words, (words{"no", "pick", "identity"}));
    EXPECT_EQ(complete({"up", "-f", ""}).directive, ":files toml json");
    EXPECT_EQ(complete({"plan", "--file=x"}).directive, ":files toml json");
    EXPECT_EQ(complete({"--state-dir", ""}).directive, ":dirs");
    EXPECT_EQ(complete({"keygen", ""}).directive, ":files");
    auto wait = complete({"up", "--wait", ""});  // a number: nothing to offer, not files
    EXPECT_EQ(wait.directive, ":words");
    EXPECT_TRUE(wait.words.empty());
}

TEST_F(Complete, ContainerNamesFromTheStateDir) {
    // Damaged ones too (`down NAME` takes them); not moat's internal ones.
    EXPECT_EQ(complete({flag(), "exec", ""}).words, (words{"broken", "db", "web"}));
    EXPECT_EQ(complete({"--state-dir", dir, "down", "w"}).words, words{"web"});
    EXPECT_EQ(complete({"check", "db", ""}, "MOAT_STATE_DIR=" + dir).words, (words{"broken", "db", "web"}));
    // The command after "--" is the shell's to complete.
    EXPECT_EQ(complete({flag(), "exec", "web", "--", "l"}).directive, ":default");
    // Without --state-dir or MOAT_STATE_DIR: /run/moat, not this one.
    for (const auto& w : complete({"exec", ""}).words) {
        EXPECT_NE(w, "broken");
    }
}

TEST_F(Complete, ServiceAndTunnelNames) {
    EXPECT_EQ(complete({flag(), "logs", "web", ""}).words, (words{"app", "nginx"}));
    EXPECT_TRUE(complete({flag(), "logs", "db", ""}).words.empty());
    EXPECT_EQ(complete({flag(), "run", "--egress", ""}).words, (words{"none", "nat", "vpn:vpn0", "vpn:work"}));
    EXPECT_EQ(complete({flag(), "run", "--egress", "vpn:w"}).words, words{"vpn:work"});
    EXPECT_EQ(complete({flag(), "run", "--egress=vpn:v"}).words, words{"--egress=vpn:vpn0"});
}

TEST_F(Complete, UpAndPlanOfferTheFilesContainers) {
    std::ofstream(_tmp + "/m.toml") << "[containers.alpha]\n[containers.beta]\n";
    EXPECT_EQ(complete({flag(), "up", "-f", _tmp + "/m.toml", ""}).words, (words{"alpha", "beta"}));
    EXPECT_EQ(complete({flag(), "plan", "--file=" + _tmp + "/m.toml", "b"}).words, words{"beta"});
    EXPECT_TRUE(complete({flag(), "up", "-f", _tmp + "/missing.toml", ""}).words.empty());
    // A FIFO is not read (the TAB would hang): nothing, at once.
    ASSERT_EQ(::mkfifo((_tmp + "/fifo.toml").c_str(), 0600), 0);
    auto fifo = complete({flag(), "up", "-f", _tmp + "/fifo.toml", ""});
    EXPECT_EQ(fifo.code, 0) << fifo.err;
    EXPECT_TRUE(fifo.words.empty());
}

TEST_F(Complete, DamagedOrMissingStateGivesNothingQuietly) {
    for (const auto& d : {_tmp + "/missing", std::string("/dev/null"), _tmp + "/m.toml"}) {
        auto a = complete({"--state-dir", d, "exec", ""});
        EXPECT_EQ(a.code, 0) << d;
        EXPECT_EQ(a.err, "") << d;
        EXPECT_EQ(a.directive, ":words") << d;
        EXPECT_TRUE(a.words.empty()) << d;
    }
    // Every record and host.json unreadable: names of directories still come,
    // tunnels do not, and nothing is printed to stderr.
    for (const char* c : {"web", "db", "_tunnels"}) {
        std::ofstream(dir + "/containers/" + c + "/record.json") << "{\"name\": \"" << c << "\", trunc";
    }
    std::ofstream(dir + "/host.json") << "{{{";
    auto a = complete({flag(), "login", ""});
    EXPECT_EQ(a.code, 0);
    EXPECT_EQ(a.err, "");
    EXPECT_EQ(a.words, (words{"broken", "db", "web"}));
    auto e = complete({flag(), "run", "--egress", ""});
    EXPECT_EQ(e.err, "");
    EXPECT_EQ(e.words, (words{"none", "nat"}));
    // containers/ a file, not a directory.
    sys::remove_tree(dir + "/containers");
    std::ofstream(dir + "/containers") << "x";
    a = complete({flag(), "exec", ""});
    EXPECT_EQ(a.code, 0);
    EXPECT_EQ(a.err, "");
    EXPECT_TRUE(a.words.empty());
}

// `up` holds the state lock for its whole run: a TAB meanwhile must answer.
TEST_F(Complete, DoesNotWaitForTheStateLock) {
    state::store st(dir);
    auto lock = st.lock();
    ASSERT_TRUE(lock.held());
    auto before = std::chrono::steady_clock::now();
    auto a = complete({flag(), "exec", ""});
    auto took = std::chrono::steady_clock::now() - before;
    EXPECT_EQ(a.words, (words{"broken", "db", "web"})) << a.err;
    EXPECT_LT(took, std::chrono::seconds(2));
}
