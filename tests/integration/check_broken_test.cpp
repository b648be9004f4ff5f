// `moat check` with broken containers (issue 13): a container whose veth
// was deleted, one whose record is damaged and one whose init is dead are
// each reported as failed with the reason, and the healthy one is still
// checked and passes; --json is the whole document, exit 1.
#include "check_util.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <set>
#include <thread>

using namespace moat::test;

namespace {

std::string container(const std::string& name, int n) {
    std::string net = "10.171." + std::to_string(30 + n);
    return "[containers." + name + "]\nprivateNetwork = true\nhostAddress = \"" + net + ".1\"\nlocalAddress = \"" + net +
           ".2\"\n[containers." + name + ".services.s]\nexec = [\"/bin/sleep\", \"infinity\"]\n\n";
}

std::string read(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Brings the containers up and waits until `moat check` passes (services
// may still be starting right after `up`): the positive control.
void up_healthy(lab& l, const std::vector<std::string>& names) {
    std::string file;
    int n = 0;
    for (const auto& name : names) file += container(name, ++n);
    auto up = l.moat("up -f " + l.write("moat.toml", file));
    ASSERT_EQ(up.code, 0) << up.err;
    nlohmann::json j;
    for (int i = 0; i < 30 && (j = check_json(l))["exit"] != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_EQ(j["exit"], 0) << j.dump(2);
}

// The whole document, exit 1, every container listed; the healthy `c` is
// fully checked and passes.
void expect_full_report(const nlohmann::json& j, const std::vector<std::string>& names) {
    EXPECT_EQ(j["exit"], 1) << j.dump(2);
    EXPECT_FALSE(j.contains("stderr")) << j["stderr"];
    ASSERT_TRUE(j.contains("checks")) << j.dump(2);
    EXPECT_EQ(j["ok"], false);
    std::set<std::string> listed;
    for (const auto& c : j["checks"]) listed.insert(c["container"].get<std::string>());
    for (const auto& name : names) EXPECT_TRUE(listed.count(name)) << name << " missing: " << j.dump(2);
    std::set<std::string> checks_c;
    for (const auto& c : j["checks"]) {
        if (c["container"] == "c") {
            checks_c.insert(c["check"].get<std::string>());
            EXPECT_TRUE(c["ok"].get<bool>()) << c.dump();
        }
    }
    for (const char* check : {"init", "services", "link", "address", "route", "firewall", "host access"}) {
        EXPECT_TRUE(checks_c.count(check)) << "c/" << check << " missing: " << j.dump(2);
    }
}

}  // namespace

TEST(CheckBroken, DeletedVethIsThatContainersFailure) {
    lab l;
    up_healthy(l, {"a", "c"});
    // The veth's host end deleted: the container's eth0 goes with it.
    ASSERT_EQ(l.in("ip link del ve-a").code, 0);
    auto j = check_json(l);
    expect_full_report(j, {"a", "c"});
    std::string failed = failures(j);
    EXPECT_NE(failed.find("a/link "), std::string::npos) << failed;
    EXPECT_EQ(evidence(j, "a", "link"), "ve-a missing");
    EXPECT_NE(failed.find("a/address "), std::string::npos) << failed;
    EXPECT_EQ(evidence(j, "a", "address"), "eth0 missing inside the container");
}

TEST(CheckBroken, DamagedRecordAndDeadInitAreTheirContainersFailures) {
    lab l;
    up_healthy(l, {"b", "c", "d"});
    std::string record_b = l.state_dir() + "/containers/b/record.json";
    std::string saved = read(record_b);
    write(record_b, "{\"name\": \"b\", \"spec\": ");
    auto rec_d = nlohmann::json::parse(read(l.state_dir() + "/containers/d/record.json"));
    int init_d = rec_d["init_pid"];
    ASSERT_EQ(::kill(init_d, SIGKILL), 0);
    for (int i = 0; i < 50 && ::kill(init_d, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto j = check_json(l);
    write(record_b, saved);  // so that the lab's `down` can clean up
    expect_full_report(j, {"b", "c", "d"});
    std::string failed = failures(j);
    EXPECT_NE(failed.find("b/record "), std::string::npos) << failed;
    EXPECT_NE(evidence(j, "b", "record").find("cannot read its record"), std::string::npos) << j.dump(2);
    EXPECT_NE(failed.find("d/init "), std::string::npos) << failed;
    // `check b` names it too, rather than "no container named 'b'".
    write(record_b, "{");
    auto one = l.moat("check --json b", std::chrono::seconds(30));
    write(record_b, saved);
    EXPECT_EQ(one.code, 1) << one.err;
    EXPECT_NE(one.out.find("\"record\""), std::string::npos) << one.out;
}
