// The CNI execution protocol as libcni drives it: environment, stdin,
// versions, results and errors — without running anything.
#include "cni/protocol.hpp"

#include <gtest/gtest.h>

#include <map>

namespace moat::cni {
namespace {

using nlohmann::json;

env_fn env_of(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end() || it->second.empty()) {
            return std::nullopt;
        }
        return it->second;
    };
}

std::map<std::string, std::string> add_env() {
    return {{"CNI_COMMAND", "ADD"},
            {"CNI_CONTAINERID", "b7c1e2f0a9"},
            {"CNI_NETNS", "/run/netns/pod1"},
            {"CNI_IFNAME", "eth0"},
            {"CNI_PATH", "/usr/lib/cni:/opt/cni/bin"}};
}

const char* conf_1_0 = R"({"cniVersion":"1.0.0","name":"vpnonly","type":"moat","egress":"vpn:vpn0"})";

// The error a call throws, for asserting on its code.
template <typename F>
error thrown(F&& f) {
    try {
        f();
    } catch (const error& e) {
        return e;
    }
    ADD_FAILURE() << "no cni::error thrown";
    return error(code::internal, "none");
}

TEST(CniProtocol, ParsesAnAddRequestAsLibcniSendsIt) {
    auto env = add_env();
    env["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAME=web-0";
    auto r = parse_request(env_of(env), conf_1_0);
    EXPECT_EQ(r.verb, verb::add);
    EXPECT_EQ(r.container_id, "b7c1e2f0a9");
    EXPECT_EQ(r.netns, "/run/netns/pod1");
    EXPECT_EQ(r.ifname, "eth0");
    EXPECT_EQ(r.network, "vpnonly");
    EXPECT_EQ(r.type, "moat");
    EXPECT_EQ(r.cni_version, "1.0.0");
    EXPECT_EQ(r.config["egress"], "vpn:vpn0");
    ASSERT_EQ(r.args.size(), 2u);
    EXPECT_EQ(r.args[1], (std::pair<std::string, std::string>{"K8S_POD_NAME", "web-0"}));
    EXPECT_EQ(r.path, (std::vector<std::string>{"/usr/lib/cni", "/opt/cni/bin"}));
    EXPECT_FALSE(r.prev_result);
}

TEST(CniProtocol, NamesEveryMissingVariableWithCode4) {
    auto e = thrown([] { parse_request(env_of({{"CNI_COMMAND", "ADD"}}), conf_1_0); });
    EXPECT_EQ(e.code(), code::invalid_environment);
    EXPECT_STREQ(e.what(), "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing");
    // DEL may come without a namespace (it may be gone already).
    auto del = add_env();
    del["CNI_COMMAND"] = "DEL";
    del.erase("CNI_NETNS");
    EXPECT_NO_THROW(parse_request(env_of(del), conf_1_0));
    // Positive control for the above: DEL without an interface name is refused.
    del.erase("CNI_IFNAME");
    EXPECT_EQ(thrown([&] { parse_request(env_of(del), conf_1_0); }).code(), code::invalid_environment);
}

TEST(CniProtocol, RefusesBadIdentifiers) {
    for (const char* id : {"-leading", "has space", "a/b", "semi;colon"}) {
        auto env = add_env();
        env["CNI_CONTAINERID"] = id;
        EXPECT_EQ(thrown([&] { parse_request(env_of(env), conf_1_0); }).code(), code::invalid_environment) << id;
    }
    for (const char* ifname : {"averyveryverylong", ".", "..", "et:h0", "a b", "a/b"}) {
        auto env = add_env();
        env["CNI_IFNAME"] = ifname;
        EXPECT_EQ(thrown([&] { parse_request(env_of(env), conf_1_0); }).code(), code::invalid_environment)
            << ifname;
    }
    auto env = add_env();
    env["CNI_IFNAME"] = "net1.vlan-7_a";  // 13 bytes, all allowed
    EXPECT_NO_THROW(parse_request(env_of(env), conf_1_0));
    auto e = thrown([&] {
        parse_request(env_of(add_env()), R"({"cniVersion":"1.0.0","name":"bad name","type":"moat"})");
    });
    EXPECT_EQ(e.code(), code::invalid_config);
}

TEST(CniProtocol, UnknownCommandAndBadArgs) {
    auto env = add_env();
    env["CNI_COMMAND"] = "ATTACH";
    EXPECT_EQ(thrown([&] { parse_request(env_of(env), conf_1_0); }).code(), code::invalid_environment);
    env = add_env();
    env["CNI_ARGS"] = "novalue";
    EXPECT_EQ(thrown([&] { parse_request(env_of(env), conf_1_0); }).code(), code::invalid_environment);
}

TEST(CniProtocol, DecodingAndConfigErrors) {
    EXPECT_EQ(thrown([] { parse_request(env_of(add_env()), "{not json"); }).code(), code::decoding_failure);
    EXPECT_EQ(thrown([] { parse_request(env_of(add_env()), "[1,2]"); }).code(), code::decoding_failure);
    EXPECT_EQ(thrown([] { parse_request(env_of(add_env()), R"({"cniVersion":"1.0.0","type":"moat"})"); }).code(),
              code::invalid_config);
    EXPECT_EQ(
        thrown([] { parse_request(env_of(add_env()), R"({"cniVersion":"1.0.0","name":7,"type":"moat"})"); })
            .code(),
        code::invalid_config);
}

TEST(CniProtocol, VersionsOutsideTheSupportedSetAreIncompatible) {
    for (const char* v : {"0.3.1", "0.2.0", "2.0.0", "1.2.0"}) {
        std::string conf = std::string(R"({"cniVersion":")") + v + R"(","name":"n","type":"moat"})";
        auto e = thrown([&] { parse_request(env_of(add_env()), conf); });
        EXPECT_EQ(e.code(), code::incompatible_version) << v;
        EXPECT_NE(e.details().find("0.4.0, 1.0.0, 1.1.0"), std::string::npos) << e.details();
    }
    // No cniVersion at all means 0.1.0 to libcni: too old.
    EXPECT_EQ(thrown([] { parse_request(env_of(add_env()), R"({"name":"n","type":"moat"})"); }).code(),
              code::incompatible_version);
    EXPECT_EQ(thrown([] {
                  parse_request(env_of(add_env()), R"({"cniVersion":"one","name":"n","type":"moat"})");
              }).code(),
              code::decoding_failure);
    for (const auto& v : supported_versions()) {
        std::string conf = R"({"cniVersion":")" + v + R"(","name":"n","type":"moat"})";
        EXPECT_EQ(parse_request(env_of(add_env()), conf).cni_version, v);
    }
}

TEST(CniProtocol, GcAndStatusNeedVersion110) {
    std::map<std::string, std::string> gc = {{"CNI_COMMAND", "GC"}, {"CNI_PATH", "/usr/lib/cni"}};
    auto e = thrown([&] { parse_request(env_of(gc), conf_1_0); });
    EXPECT_EQ(e.code(), code::incompatible_version);
    EXPECT_STREQ(e.what(), "config version does not allow GC");
    auto r = parse_request(env_of(gc), R"({"cniVersion":"1.1.0","name":"n","type":"moat",
        "cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"},{"containerID":"c2","ifname":"net1"}]})");
    EXPECT_EQ(r.verb, verb::gc);
    EXPECT_EQ(r.valid_attachments, (std::vector<attachment>{{"c1", "eth0"}, {"c2", "net1"}}));
    // GC forwards to delegated plugins, so it needs CNI_PATH.
    EXPECT_EQ(thrown([] {
                  parse_request(env_of({{"CNI_COMMAND", "GC"}}), R"({"cniVersion":"1.1.0","name":"n"})");
              }).code(),
              code::invalid_environment);
    std::map<std::string, std::string> status = {{"CNI_COMMAND", "STATUS"}};
    EXPECT_EQ(thrown([&] { parse_request(env_of(status), conf_1_0); }).code(), code::incompatible_version);
    EXPECT_EQ(parse_request(env_of(status), R"({"cniVersion":"1.1.0","name":"n","type":"moat"})").verb,
              verb::status);
}

TEST(CniProtocol, VersionAnswersWithTheInputVersion) {
    auto j = json::parse(version_answer(R"({"cniVersion":"0.4.0"})"));
    EXPECT_EQ(j["cniVersion"], "0.4.0");
    EXPECT_EQ(j["supportedVersions"], json({"0.4.0", "1.0.0", "1.1.0"}));
    EXPECT_EQ(json::parse(version_answer(""))["cniVersion"], "1.1.0");
    // VERSION needs nothing but the command, and ignores a garbled stdin.
    EXPECT_EQ(parse_request(env_of({{"CNI_COMMAND", "VERSION"}}), "garbage").verb, verb::version);
}

TEST(CniProtocol, ErrorObjectHasTheSpecsFields) {
    auto j = json::parse(error_answer(error(code::invalid_config, "bad subnet", "10.0.0.0/31 is too small"), "1.0.0"));
    EXPECT_EQ(j, (json{{"cniVersion", "1.0.0"}, {"code", 7}, {"msg", "bad subnet"},
                       {"details", "10.0.0.0/31 is too small"}}));
    EXPECT_FALSE(json::parse(error_answer(error(code::try_again_later, "busy"), "1.1.0")).contains("details"));
}

const char* host_local_result = R"({
  "cniVersion": "0.4.0",
  "ips": [{"version": "4", "address": "10.88.0.5/16", "gateway": "10.88.0.1"},
          {"version": "6", "address": "fd00::5/64"}],
  "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.99.0.0/16", "gw": "10.88.0.254", "table": 100}],
  "dns": {"nameservers": ["10.88.0.1"], "search": ["lab"]}
})";

TEST(CniResult, ReadsAnIpamResultAndWritesEachVersionsShape) {
    auto r = result_from_json(json::parse(host_local_result));
    ASSERT_EQ(r.ips.size(), 2u);
    EXPECT_EQ(r.ips[0].gateway, "10.88.0.1");
    EXPECT_FALSE(r.ips[0].interface);
    EXPECT_EQ(r.routes[1].extra["table"], 100);  // kept for pass-through
    auto v04 = to_json(r, "0.4.0");
    EXPECT_EQ(v04["ips"][0]["version"], "4");
    EXPECT_EQ(v04["ips"][1]["version"], "6");
    EXPECT_EQ(v04["routes"][1]["table"], 100);
    auto v10 = to_json(r, "1.0.0");
    EXPECT_EQ(v10["cniVersion"], "1.0.0");
    EXPECT_FALSE(v10["ips"][0].contains("version"));
    EXPECT_EQ(v10["dns"]["search"], json({"lab"}));
    // Round trip: what we write, we read back the same.
    EXPECT_EQ(result_from_json(v10), r);
    EXPECT_EQ(result_from_json(v04), r);
}

TEST(CniResult, InterfacesAndTheirIndexes) {
    result r;
    r.interfaces.push_back({"ve-pod1", "02:00:00:00:00:01", "", 0, json::object()});
    r.interfaces.push_back({"eth0", "02:00:00:00:00:02", "/run/netns/pod1", 1500, json{{"socketPath", "/x"}}});
    r.ips.push_back({"10.88.0.5/16", "10.88.0.1", 1});
    auto j = to_json(r, "1.1.0");
    EXPECT_EQ(j["interfaces"][1]["sandbox"], "/run/netns/pod1");
    EXPECT_EQ(j["interfaces"][1]["socketPath"], "/x");
    EXPECT_EQ(j["interfaces"][1]["mtu"], 1500);
    EXPECT_FALSE(j["interfaces"][0].contains("sandbox"));
    EXPECT_EQ(j["ips"][0]["interface"], 1);
    EXPECT_EQ(result_from_json(j), r);
}

TEST(CniResult, PrevResultIsParsedAndCheckedOnTheRequest) {
    std::string conf = R"({"cniVersion":"1.0.0","name":"n","type":"moat","prevResult":)" +
                       std::string(host_local_result) + "}";
    auto r = parse_request(env_of(add_env()), conf);
    ASSERT_TRUE(r.prev_result);
    EXPECT_EQ(r.prev_result->ips.size(), 2u);
    for (const char* bad : {
             R"({"ips":[{"address":"10.88.0.5"}]})",                       // no prefix length
             R"({"ips":[{"address":"10.88.0.5/16","interface":3}]})",      // index out of range
             R"({"ips":[{"address":"10.88.0.5/16","gateway":"nope"}]})",
             R"({"routes":[{"gw":"10.0.0.1"}]})",                          // no dst
             R"({"interfaces":[{"mac":"x"}]})",                            // no name
             R"({"dns":{"nameservers":"10.0.0.1"}})",
             R"([])",
         }) {
        std::string c = R"({"cniVersion":"1.0.0","name":"n","type":"moat","prevResult":)" + std::string(bad) + "}";
        EXPECT_EQ(thrown([&] { parse_request(env_of(add_env()), c); }).code(), code::decoding_failure) << bad;
    }
}

TEST(CniProtocol, ComparesVersions) {
    EXPECT_LT(compare_versions("0.4.0", "1.0.0"), 0);
    EXPECT_GT(compare_versions("1.10.0", "1.9.0"), 0);
    EXPECT_EQ(compare_versions("1.1.0", "1.1.0"), 0);
    for (const char* bad : {"1.0", "1.0.0.0", "v1.0.0", "1..0", "", "1.0.x"}) {
        EXPECT_EQ(thrown([&] { compare_versions(bad, "1.0.0"); }).code(), code::decoding_failure) << bad;
    }
}

}  // namespace
}  // namespace moat::cni
