// [check] probe: the forms `moat check` understands, and the file:line:col
// errors for the ones it would not.
#include "config/probe.hpp"
#include "config_test_util.hpp"

#include <gmock/gmock.h>

using testing::ElementsAre;

namespace moat::config::test {
namespace {

TEST(config_probe, http_with_address_port_and_path) {
    auto t = parse_probe("http://198.51.100.10:8080/ip?x=1");
    ASSERT_TRUE(t);
    EXPECT_TRUE(t->http);
    EXPECT_EQ(t->address->str(), "198.51.100.10");
    EXPECT_EQ(t->port, 8080);
    EXPECT_EQ(t->path, "/ip?x=1");
    t = parse_probe("http://[2001:db8::10]/");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->host, "2001:db8::10");
    EXPECT_TRUE(t->address->is_v6());
    EXPECT_EQ(t->port, 80);
    t = parse_probe("http://198.51.100.10");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->path, "/");
}

TEST(config_probe, names_are_kept_for_the_containers_resolver) {
    auto t = parse_probe("http://probe.lab/");
    ASSERT_TRUE(t);
    EXPECT_FALSE(t->address);
    EXPECT_EQ(t->host, "probe.lab");
    t = parse_probe("ifconfig.example:443");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->port, 443);
    EXPECT_FALSE(t->http);
}

TEST(config_probe, bad_forms) {
    for (const char* bad : {"198.51.100.10", "198.51.100.10:", "198.51.100.10:0", "198.51.100.10:70000",
                            "2001:db8::10:80", "[198.51.100.10]:80", "http://[2001:db8::10", "http://[::1]x/",
                            "http://-bad.example/", "http://a..b/", "http://10.1.2/", "http://a b/", "https://x.example/",
                            "http://198.51.100.10/a b", ":80", "http://"}) {
        EXPECT_FALSE(parse_probe(bad)) << bad;
    }
}

TEST(config_probe, dns_names) {
    EXPECT_TRUE(is_dns_name("probe.lab"));
    EXPECT_TRUE(is_dns_name("a-1.example."));
    EXPECT_FALSE(is_dns_name("1.2.3"));
    EXPECT_FALSE(is_dns_name(std::string(64, 'a') + ".x"));
    EXPECT_FALSE(is_dns_name("a_b.example"));
}

TEST(config_probe, one_or_an_array_in_the_file) {
    auto m = load_string("[check]\nprobe = [\"http://198.51.100.10/\", \"http://[2001:db8::10]/\"]\n", "t.toml", format::toml);
    EXPECT_THAT(m.check->probes, ElementsAre("http://198.51.100.10/", "http://[2001:db8::10]/"));
    EXPECT_THAT(briefs(load_errors("[check]\nprobe = \"198.51.100.10\"\n")),
                ElementsAre("2:9: probe: expected http://HOST[:PORT][/PATH] or HOST:PORT (HOST an address, [IPv6] or a DNS "
                            "name), got \"198.51.100.10\""));
    EXPECT_THAT(briefs(load_errors("[check]\nprobe = [\"1.2.3.4:1\", \"x:80:1\"]\n")),
                ElementsAre("2:23: probe: expected http://HOST[:PORT][/PATH] or HOST:PORT (HOST an address, [IPv6] or a DNS "
                            "name), got \"x:80:1\""));
    EXPECT_THAT(briefs(load_errors("[check]\nprobe = []\n")), ElementsAre("2:9: probe: expected one to four probes, got 0"));
}

}  // namespace
}  // namespace moat::config::test
