#include "state/store.hpp"

#include "sys/fs.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

using namespace moat;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/moat-store-XXXXXX";
    return ::mkdtemp(tmpl);
}

}  // namespace

TEST(Store, SavesLoadsAndRemovesRecords) {
    auto dir = temp_dir() + "/state";
    {
        state::store st(dir);
        state::container_record r;
        r.name = "webapp";
        r.init = {1234, 99};
        r.cgroup = "/sys/fs/cgroup/moat/x/webapp";
        r.spec = {{"k", 1}};
        st.save(r);
        auto back = st.load("webapp");
        ASSERT_TRUE(back);
        EXPECT_EQ(back->init.pid, 1234);
        EXPECT_EQ(back->init.start_time, 99u);
        EXPECT_EQ(back->cgroup, r.cgroup);
        EXPECT_EQ(back->spec, r.spec);
        EXPECT_EQ(st.containers().size(), 1u);
        state::host_record h;
        h.nft_table = true;
        h.nft_ruleset = "table inet moat {}";
        st.save_host(h);
        EXPECT_TRUE(st.host().nft_table);
        st.remove("webapp");
        st.remove_if_empty();
        EXPECT_TRUE(sys::path_exists(dir));  // host.json still names the table
        h = {};
        h.networks["lab"] = {{"bridge_if", "mb-lab"}};
        h.sysctls["net/ipv6/conf/all/forwarding"] = "0";
        st.save_host(h);
        auto back_host = st.host();
        EXPECT_EQ(back_host.networks, h.networks);
        EXPECT_EQ(back_host.sysctls, h.sysctls);
        st.remove_if_empty();
        EXPECT_TRUE(sys::path_exists(dir));  // a bridge and a sysctl to undo
        st.save_host({});
        st.remove_if_empty();
        EXPECT_FALSE(sys::path_exists(dir));
    }
    sys::remove_tree(dir.substr(0, dir.rfind('/')));
}

TEST(Store, InstanceIdsDifferPerDirectory) {
    auto a = temp_dir(), b = temp_dir();
    EXPECT_NE(state::store(a).instance_id(), state::store(b).instance_id());
    EXPECT_EQ(state::store(a).instance_id(), state::store(a).instance_id());
    sys::remove_tree(a);
    sys::remove_tree(b);
}

// A container's logs outlive its record until the command is done: kept
// when the same command records it again (`up` recreating it), removed
// otherwise (`down`, `run --rm`, dropped from the file) and by `down`'s
// remove_if_empty() when a crash left them without a record.
TEST(Store, LogsSurviveARecreateAndNothingElse) {
    auto top = temp_dir();
    auto dir = top + "/state";
    auto logs = [&](const std::string& name) { return dir + "/containers/" + name + "/logs/web.log"; };
    state::container_record r;
    {
        state::store st(dir);
        for (const char* name : {"kept", "gone", "down"}) {
            r.name = name;
            st.save(r);
            sys::make_dirs(dir + "/containers/" + name + "/logs");
            sys::write_file_atomic(logs(name), "line\n", 0600, false);
        }
    }
    {
        state::store st(dir);  // `up`: recreates "kept", drops "gone"
        st.remove("kept");
        st.remove("gone");
        EXPECT_FALSE(st.load("kept"));
        EXPECT_EQ(st.containers().size(), 1u);  // logs without a record are no container
        r.name = "kept";
        st.save(r);
    }
    EXPECT_EQ(sys::read_file(logs("kept")), "line\n");
    EXPECT_FALSE(sys::path_exists(dir + "/containers/gone"));
    EXPECT_TRUE(sys::path_exists(logs("down")));
    {
        state::store st(dir);  // `down`
        st.remove("kept");
        st.remove("down");
        st.remove_if_empty();
        EXPECT_FALSE(sys::path_exists(dir));
    }
    {
        state::store st(dir);  // a crash between remove() and save() left logs alone
        sys::make_dirs(dir + "/containers/crashed/logs");
        st.remove_if_empty();
        EXPECT_FALSE(sys::path_exists(dir));
    }
    sys::remove_tree(top);
}
