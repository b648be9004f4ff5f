// What a moat command loads to start (issue 17): libcrypto, libnftables and
// libnl only where they are used (sys/shared_library.hpp). The dynamic loader says what it maps
// (LD_DEBUG=files, glibc), so the test needs no ELF parsing of its own.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace {

// The loader's "file=..." lines of one run of the moat binary.
std::string loaded_by(const std::string& args) {
    std::string cmd = "LD_DEBUG=files " MOAT_BINARY " " + args + " 2>&1 >/dev/null";
    FILE* p = ::popen(cmd.c_str(), "r");
    EXPECT_NE(p, nullptr);
    std::string out;
    char buf[4096];
    for (std::size_t n; p && (n = std::fread(buf, 1, sizeof buf, p)) > 0;) {
        out.append(buf, n);
    }
    if (p) {
        ::pclose(p);
    }
    return out;
}

TEST(Startup, CommandsThatNeedNoneOfThemDoNotLoadLibcryptoLibnftablesOrLibnl) {
    for (const char* args : {"--help", "--state-dir /nonexistent/moat-startup-test status",
                             "run --private-users bad -- true"}) {
        auto files = loaded_by(args);
        EXPECT_NE(files.find("file=libc.so.6"), std::string::npos) << args << ": no loader output:\n" << files;
        EXPECT_EQ(files.find("libcrypto"), std::string::npos) << args << " loaded libcrypto:\n" << files;
        EXPECT_EQ(files.find("libnftables"), std::string::npos) << args << " loaded libnftables:\n" << files;
        EXPECT_EQ(files.find("libnl"), std::string::npos) << args << " loaded libnl:\n" << files;
    }
}

// Positive control: the pipe loads it (before it reads its key file, which
// fails here), so the check above would see it.
TEST(Startup, ThePipeLoadsLibcrypto) {
    auto files = loaded_by("spipe -t 127.0.0.1:9 -k /nonexistent/moat-startup-test.key");
    EXPECT_NE(files.find("libcrypto.so"), std::string::npos) << files;
}

// `moat --version` (what docker and most tools answer) and `moat version`
// print the same line and succeed.
TEST(Startup, VersionFlagAndCommandAgree) {
    auto run = [](const char* args, int& rc) {
        FILE* p = ::popen((std::string(MOAT_BINARY " ") + args + " 2>&1").c_str(), "r");
        std::string out;
        char buf[256];
        for (std::size_t n; p && (n = std::fread(buf, 1, sizeof buf, p)) > 0;) {
            out.append(buf, n);
        }
        rc = p ? ::pclose(p) : -1;
        return out;
    };
    int flag_rc = -1, command_rc = -1;
    auto flag = run("--version", flag_rc), command = run("version", command_rc);
    EXPECT_EQ(flag_rc, 0) << flag;
    EXPECT_EQ(command_rc, 0) << command;
    EXPECT_EQ(flag.rfind("moat ", 0), 0u) << flag;
    EXPECT_EQ(flag, command);
}

}  // namespace
