// The installed shell completion (dist/completion) against a real container:
// `cmake --install` of this build into a staging directory, then bash
// (--norc, without the bash-completion package), zsh (-f) and fish
// (--no-config) load the installed files and complete `moat st`, a container
// name of a state directory where `moat up` ran in a lab namespace, its
// services, and the configuration files for `up -f`.
#include "lab.hpp"
#include "../unit/complete_state.hpp"

#include "sys/fs.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

using moat::test::lab;
using moat::test::sh;

namespace {

namespace fs = std::filesystem;
using lines = std::vector<std::string>;

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return q + "'";
}

lines sorted_lines(const std::string& text, bool first_field = true) {
    lines out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        if (!l.empty()) {
            out.push_back(first_field ? l.substr(0, l.find('\t')) : l);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// One staging install and one container for every test of the suite.
class Completion : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        l = new lab();
        stage = l->dir() + "/stage";
        auto r = sh(std::string(MOAT_CMAKE) + " --install " + MOAT_BUILD_DIR + " --prefix " + stage);
        ASSERT_EQ(r.code, 0) << r.out << r.err;
        // The binary as installed when the install rules have it, else this build's.
        bin = l->dir() + "/bin";
        fs::create_directories(bin);
        std::string installed = stage + "/bin/moat";
        fs::create_symlink(fs::exists(installed) ? installed : moat::test::moat_binary(), bin + "/moat");
        // Where `up -f <TAB>` is typed: two configurations, a directory, and a file that is neither.
        work = l->dir() + "/work";
        fs::create_directories(work + "/conf.d");
        std::ofstream(work + "/hello.toml") << "";
        std::ofstream(work + "/nixos.json") << "";
        std::ofstream(work + "/notes.txt") << "";
        auto up = l->moat("up -f " + l->write("c.toml", R"toml(
[containers.webapp]
[containers.webapp.services.server]
script = 'sleep 100000'
[containers.webapp.services.worker]
script = 'sleep 100000'
)toml"));
        ASSERT_EQ(up.code, 0) << up.out << up.err;
        ready = true;
    }
    void SetUp() override { ASSERT_TRUE(ready) << "the staging install or `moat up` failed (see above)"; }
    static void TearDownTestSuite() {
        if (l) {
            auto down = l->moat("down");
            EXPECT_EQ(down.code, 0) << down.err;
            EXPECT_FALSE(fs::exists(l->state_dir()));
        }
        delete l;
        l = nullptr;
        ready = false;
    }

    // Runs `script` in `shell` with the staged binary first on PATH, in `work`,
    // with a HOME of its own (zsh's compinit, fish's history stay in the lab).
    static moat::test::result run(const std::string& shell, const std::string& script, const std::string& env = "") {
        fs::create_directories(l->dir() + "/home");
        return sh("cd " + work + " && env -u MOAT_STATE_DIR HOME=" + l->dir() + "/home XDG_CONFIG_HOME=" + l->dir() +
                  "/home XDG_DATA_HOME=" + l->dir() + "/home PATH=" + bin + ":/usr/bin:/bin " + env + " " + shell +
                  " -c " + quote(script));
    }

    // bash: sets what bash sets for a completion function (COMP_WORDS split
    // at blanks and, as bash does, at ':' and '=') and prints COMPREPLY.
    static moat::test::result bash(const std::string& line, const lines& comp_words, const std::string& env = "") {
        std::string words;
        for (const auto& w : comp_words) {
            words += " " + quote(w);
        }
        return run("bash --norc --noprofile",
                   "source " + stage + "/share/bash-completion/completions/moat || exit 9\n"
                   "COMP_LINE=" + quote(line) + "; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(" + words + ")\n"
                   "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _moat\n"
                   "printf '%s\\n' \"${COMPREPLY[@]}\"",
                   env);
    }

    static lab* l;
    static bool ready;
    static std::string stage, bin, work;
};

lab* Completion::l = nullptr;
bool Completion::ready = false;
std::string Completion::stage, Completion::bin, Completion::work;

}  // namespace

TEST_F(Completion, InstalledWhereEachShellLooks) {
    EXPECT_TRUE(fs::is_regular_file(stage + "/share/bash-completion/completions/moat"));
    EXPECT_TRUE(fs::is_regular_file(stage + "/share/zsh/vendor-completions/_moat"));
    EXPECT_TRUE(fs::is_regular_file(stage + "/share/fish/vendor_completions.d/moat.fish"));
    auto r = run("bash --norc --noprofile", "source " + stage + "/share/bash-completion/completions/moat && complete -p moat");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.out, "complete -F _moat moat\n");
}

TEST_F(Completion, BashSubcommandsFlagsAndValues) {
    auto st = bash("moat st", {"moat", "st"});
    EXPECT_EQ(st.err, "");
    EXPECT_EQ(sorted_lines(st.out), lines{"status"});  // the CLI has no `stop`
    EXPECT_EQ(sorted_lines(bash("moat l", {"moat", "l"}).out), (lines{"login", "logs"}));
    EXPECT_EQ(sorted_lines(bash("moat status --j", {"moat", "status", "--j"}).out), lines{"--json"});
    // bash splits "--network=p" into "--network" "=" "p": the reply replaces "p".
    EXPECT_EQ(sorted_lines(bash("moat run --network=p", {"moat", "run", "--network", "=", "p"}).out),
              lines{"private"});
    // Right after the '=' readline completes an empty word (bash's "=" word is not replaced).
    EXPECT_EQ(sorted_lines(bash("moat run --network=", {"moat", "run", "--network", "="}).out),
              (lines{"host", "none", "private"}));
}

TEST_F(Completion, BashContainerAndServiceNamesOfARealStateDir) {
    std::string d = l->state_dir();
    EXPECT_EQ(sorted_lines(bash("moat --state-dir " + d + " exec ", {"moat", "--state-dir", d, "exec", ""}).out),
              lines{"webapp"});
    EXPECT_EQ(sorted_lines(bash("moat exec w", {"moat", "exec", "w"}, "MOAT_STATE_DIR=" + d).out), lines{"webapp"});
    EXPECT_EQ(sorted_lines(bash("moat logs webapp ", {"moat", "logs", "webapp", ""}, "MOAT_STATE_DIR=" + d).out),
              (lines{"server", "worker"}));
    // Another state directory has other containers (here: none).
    EXPECT_EQ(sorted_lines(bash("moat exec ", {"moat", "exec", ""}, "MOAT_STATE_DIR=" + l->dir() + "/none").out),
              lines{});
}

// Tunnel names need a VPN lab to be real; the `_tunnels` record is written
// as `up` writes it. bash splits "vpn:w" into "vpn" ":" "w" (COMP_WORDBREAKS):
// the reply replaces what follows the ':'.
TEST_F(Completion, BashTunnelNamesAfterTheColon) {
    std::string d = l->dir() + "/vpn-state";
    moat::state::store st(d);
    auto lock = st.lock();
    st.save(moat::test::record(moat::plan::tunnels_container, moat::test::tunnels_host({"vpn0", "work"})));
    lock.reset();
    std::string env = "MOAT_STATE_DIR=" + d;
    EXPECT_EQ(sorted_lines(bash("moat run --egress ", {"moat", "run", "--egress", ""}, env).out),
              (lines{"nat", "none", "vpn:vpn0", "vpn:work"}));
    EXPECT_EQ(sorted_lines(bash("moat run --egress vpn:", {"moat", "run", "--egress", "vpn", ":"}, env).out),
              (lines{"vpn0", "work"}));
    EXPECT_EQ(sorted_lines(bash("moat run --egress vpn:w", {"moat", "run", "--egress", "vpn", ":", "w"}, env).out),
              lines{"work"});
    EXPECT_EQ(sorted_lines(bash("moat run --egress=vpn:v", {"moat", "run", "--egress", "=", "vpn", ":", "v"}, env).out),
              lines{"vpn0"});
    moat::sys::remove_tree(d);
}

TEST_F(Completion, BashConfigurationFilesForUpF) {
    EXPECT_EQ(sorted_lines(bash("moat up -f ", {"moat", "up", "-f", ""}).out),
              (lines{"conf.d", "hello.toml", "nixos.json"}));
    EXPECT_EQ(sorted_lines(bash("moat up -f h", {"moat", "up", "-f", "h"}).out), lines{"hello.toml"});
    EXPECT_EQ(sorted_lines(bash("moat plan --file=n", {"moat", "plan", "--file", "=", "n"}).out), lines{"nixos.json"});
}

TEST_F(Completion, ZshLoadsFromFpathAndCompletes) {
    // compinit finds _moat by its #compdef line; calling it autoloads the
    // installed file. compadd is replaced by a function that prints what it gets.
    std::string script = "fpath=(" + stage + "/share/zsh/vendor-completions $fpath)\n"
                         "autoload -U compinit && compinit -u -D || exit 9\n"
                         "[[ $_comps[moat] == _moat ]] || { print -u2 \"not registered: $_comps[moat]\"; exit 8; }\n"
                         "compadd() { while [[ $# -gt 0 && $1 != -- ]]; do shift; done; shift; print -l -- \"$@\"; }\n";
    auto st = run("zsh -f", script + "words=(moat st); CURRENT=2; _moat");
    EXPECT_EQ(st.code, 0) << st.err;
    EXPECT_EQ(st.err, "");
    EXPECT_EQ(sorted_lines(st.out), lines{"status"});
    auto names = run("zsh -f", script + "words=(moat exec ''); CURRENT=3; _moat", "MOAT_STATE_DIR=" + l->state_dir());
    EXPECT_EQ(names.err, "");
    EXPECT_EQ(sorted_lines(names.out), lines{"webapp"});
    // Sourced instead of autoloaded, it only defines (and registers) _moat.
    auto sourced = run("zsh -f", "autoload -U compinit && compinit -u -D; source " + stage +
                                     "/share/zsh/vendor-completions/_moat && print $_comps[moat]");
    EXPECT_EQ(sourced.code, 0) << sourced.err;
    EXPECT_EQ(sourced.err, "");
    EXPECT_EQ(sourced.out, "_moat\n");
}

TEST_F(Completion, FishLoadsFromItsVendorDirAndCompletes) {
    std::string setup = "set fish_complete_path " + stage + "/share/fish/vendor_completions.d $fish_complete_path\n";
    auto st = run("fish --no-config", setup + "complete -C 'moat st'");
    EXPECT_EQ(st.code, 0) << st.err;
    EXPECT_EQ(st.err, "");
    EXPECT_EQ(sorted_lines(st.out), lines{"status"});
    EXPECT_NE(st.out.find("status\tcontainers, state"), std::string::npos) << st.out;  // with its description
    auto names = run("fish --no-config", setup + "complete -C 'moat exec '", "MOAT_STATE_DIR=" + l->state_dir());
    EXPECT_EQ(sorted_lines(names.out), lines{"webapp"}) << names.err;
    auto services = run("fish --no-config",
                        setup + "complete -C 'moat --state-dir " + l->state_dir() + " logs webapp '");
    EXPECT_EQ(sorted_lines(services.out), (lines{"server", "worker"})) << services.err;
    auto files = run("fish --no-config", setup + "complete -C 'moat up -f '");
    EXPECT_EQ(sorted_lines(files.out), (lines{"conf.d/", "hello.toml", "nixos.json"})) << files.err;
}
