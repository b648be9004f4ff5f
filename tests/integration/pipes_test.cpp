// Declarative pipes ([pipes.<name>]): started and supervised by `moat up`,
// shown by `status`, stopped by `down`, interoperating with the real spiped.
#include "lab.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <thread>

using moat::test::lab;
using moat::test::sh;

namespace {

std::string config(const std::string& key) {
    return R"(
[containers.webapp]
privateNetwork = true
hostAddress = "10.171.1.1"
localAddress = "10.171.1.2"
firewall.allowedTCPPorts = [8999]

# Bound to the container's loopback only: reachable through the pipe alone.
[containers.webapp.services.greeting]
script = 'while true; do echo "Hello, world!" | nc -l -s 127.0.0.1 -p 12345; done'
restart = "always"

[pipes.inside]
mode = "decrypt"
source = "0.0.0.0:8999"
target = "127.0.0.1:12345"
keyFile = ")" + key + R"("
container = "webapp"

[pipes.front]
mode = "encrypt"
source = "127.0.0.1:7000"
target = "webapp:8999"
keyFile = ")" + key + R"("
)";
}

std::string read_with_retry(lab& l, const std::string& addr, int port) {
    std::string line;
    for (int i = 0; i < 50 && line.empty(); ++i) {
        line = l.read_line(addr, port);
        if (line.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return line;
}

nlohmann::json pipes_status(lab& l) {
    auto r = l.moat("status --json");
    EXPECT_EQ(r.code, 0) << r.err;
    return nlohmann::json::parse(r.out)["pipes"];
}

}  // namespace

TEST(Pipes, HelloThroughMoatAndSpiped) {
    lab l;
    std::string key = l.dir() + "/greeting.key";
    ASSERT_EQ(l.moat("keygen " + key).code, 0);
    auto up = l.moat("up -f " + l.write("moat.toml", config(key)));
    ASSERT_EQ(up.code, 0) << up.err;
    // The service itself is not reachable from the host...
    EXPECT_EQ(l.read_line("10.171.1.2", 12345, "", 2), "");
    // ...but moat's encrypting pipe on the host reaches it through moat's
    // decrypting pipe inside the container,
    EXPECT_EQ(read_with_retry(l, "127.0.0.1", 7000), "Hello, world!\n");
    // and so does the real spiped with the same key.
    auto spiped = l.in("spiped -e -s 127.0.0.1:7001 -t 10.171.1.2:8999 -k " + key + " -p " + l.dir() + "/spiped.pid >/dev/null 2>&1");
    ASSERT_EQ(spiped.code, 0) << spiped.err;
    EXPECT_EQ(read_with_retry(l, "127.0.0.1", 7001), "Hello, world!\n");
    // A wrong key gets nothing.
    std::string wrong = l.dir() + "/wrong.key";
    ASSERT_EQ(l.moat("keygen " + wrong).code, 0);
    ASSERT_EQ(l.in("spiped -e -s 127.0.0.1:7002 -t 10.171.1.2:8999 -k " + wrong + " -p " + l.dir() + "/wrong.pid >/dev/null 2>&1").code, 0);
    EXPECT_EQ(l.read_line("127.0.0.1", 7002, "", 2), "");

    auto pipes = pipes_status(l);
    ASSERT_EQ(pipes.size(), 2u) << pipes;
    for (const auto& p : pipes) {
        EXPECT_EQ(p["state"], "running") << p;
    }
    l.in("kill $(cat " + l.dir() + "/spiped.pid) $(cat " + l.dir() + "/wrong.pid)");
}

TEST(Pipes, RestartedWhenKilledAndGoneAfterDown) {
    lab l;
    std::string key = l.dir() + "/greeting.key";
    ASSERT_EQ(l.moat("keygen " + key).code, 0);
    ASSERT_EQ(l.moat("up -f " + l.write("moat.toml", config(key))).code, 0);
    ASSERT_EQ(read_with_retry(l, "127.0.0.1", 7000), "Hello, world!\n");
    // Kill the host pipe's process (every process of the _pipes cgroup but its init).
    std::string cgroup;
    int init_pid = 0;
    ASSERT_TRUE(sh("test -d " + l.state_dir() + "/containers/_pipes").code == 0);
    auto rec = nlohmann::json::parse(sh("cat " + l.state_dir() + "/containers/_pipes/record.json").out);
    cgroup = rec["cgroup"];
    init_pid = rec["init_pid"];
    ASSERT_FALSE(cgroup.empty());
    auto killed = sh("for p in $(cat " + cgroup + "/cgroup.procs); do [ $p != " + std::to_string(init_pid) +
                     " ] && kill -9 $p && echo $p; done");
    ASSERT_FALSE(killed.out.empty());
    int restarts = 0;
    for (int i = 0; i < 50 && restarts < 1; ++i) {
        for (const auto& p : pipes_status(l)) {
            if (p["name"] == "front") restarts = p["restarts"].get<int>();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(restarts, 1);
    EXPECT_EQ(read_with_retry(l, "127.0.0.1", 7000), "Hello, world!\n");

    ASSERT_EQ(l.moat("down").code, 0);
    EXPECT_EQ(sh("test -e " + cgroup).code, 1);
    EXPECT_EQ(l.read_line("127.0.0.1", 7000, "", 1), "");
    EXPECT_EQ(l.in("ss -ltnH | wc -l").out, "0\n");
}

TEST(Pipes, BadKeyFileIsAConfigError) {
    lab l;
    auto r = l.moat("up -f " + l.write("moat.toml", config(l.dir() + "/missing.key")));
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("moat.toml:17:1: error: pipe 'inside': cannot read key file"), std::string::npos) << r.err;
    EXPECT_FALSE(sh("test -e " + l.state_dir()).code == 0 && sh("ls " + l.state_dir() + "/containers | grep -q .").code == 0);
    // A key file that leads to one of the host's secrets: the pipe's
    // container would get a copy of it.
    ASSERT_EQ(sh("ln -s /etc/shadow " + l.dir() + "/borrowed.key").code, 0);
    r = l.moat("up -f " + l.write("moat.toml", config(l.dir() + "/borrowed.key")));
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("moat.toml:17:1: error: pipe 'inside': key file " + l.dir() + "/borrowed.key: it is the "
                         "host's /etc/shadow: moat hands none of the host's secrets to a container"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(sh("test -e " + l.state_dir()).code == 0 && sh("ls " + l.state_dir() + "/containers | grep -q .").code == 0);
}

// Issue 14: rotating a key file (`moat keygen new && mv new key`) is a
// change `up` must see. The pipes that read it are restarted with the new
// key: a client that still has the old one is refused, one with the new
// key gets through, and a second `up` changes nothing.
TEST(Pipes, RotatedKeyFileRestartsItsPipes) {
    lab l;
    std::string key = l.dir() + "/greeting.key", old_key = l.dir() + "/old.key";
    ASSERT_EQ(l.moat("keygen " + key).code, 0);
    ASSERT_EQ(l.in("cp " + key + " " + old_key).code, 0);
    std::string file = l.write("moat.toml", config(key));
    ASSERT_EQ(l.moat("up -f " + file).code, 0);
    auto client = [&](const std::string& k, int port) {
        auto r = l.in("spiped -e -s 127.0.0.1:" + std::to_string(port) + " -t 10.171.1.2:8999 -k " + k + " -p " +
                      l.dir() + "/spiped-" + std::to_string(port) + ".pid >/dev/null 2>&1");
        ASSERT_EQ(r.code, 0) << r.err;
    };
    client(old_key, 7001);
    ASSERT_EQ(read_with_retry(l, "127.0.0.1", 7001), "Hello, world!\n");  // positive control: key A works

    ASSERT_EQ(l.moat("keygen " + l.dir() + "/new.key").code, 0);
    ASSERT_EQ(l.in("mv " + l.dir() + "/new.key " + key).code, 0);
    auto up = l.moat("up -f " + file);
    ASSERT_EQ(up.code, 0) << up.err;
    // Both containers that read the key, and no other reason.
    EXPECT_NE(up.out.find("webapp"), std::string::npos) << up.out;
    EXPECT_NE(up.out.find("recreated (key file " + key + " changed)"), std::string::npos) << up.out;
    EXPECT_NE(up.out.find("_pipes"), std::string::npos) << up.out;

    // The old key is refused (the still-running client with key A gets
    // nothing), the new one works, through spiped and moat's own pipe.
    EXPECT_EQ(read_with_retry(l, "127.0.0.1", 7000), "Hello, world!\n");
    EXPECT_EQ(l.read_line("127.0.0.1", 7001, "", 2), "");
    client(key, 7002);
    EXPECT_EQ(read_with_retry(l, "127.0.0.1", 7002), "Hello, world!\n");
    EXPECT_EQ(l.read_line("127.0.0.1", 7001, "", 2), "") << "key A still accepted";

    // Unchanged content (even a fresh copy of the same bytes): nothing restarts.
    ASSERT_EQ(l.in("cp " + key + " " + key + ".tmp && mv " + key + ".tmp " + key).code, 0);
    auto again = l.moat("up -f " + file);
    EXPECT_EQ(again.code, 0) << again.err;
    EXPECT_NE(again.out.find("no changes"), std::string::npos) << again.out;
    l.in("kill $(cat " + l.dir() + "/spiped-7001.pid) $(cat " + l.dir() + "/spiped-7002.pid)");
}
