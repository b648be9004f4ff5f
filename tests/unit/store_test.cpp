#include "state/store.hpp"

#include "container/runtime.hpp"
#include "plan/plan.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace moat;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/moat-store-XXXXXX";
    return ::mkdtemp(tmpl);
}

// A record as `up` writes it, for a container with a veth.
state::container_record record(const std::string& name) {
    plan::container_plan p;
    p.name = name;
    p.hostname = name;
    p.host_if = plan::host_link_name(name);
    state::container_record r;
    r.name = name;
    r.source = "/etc/moat/moat.toml";
    r.init = {1234, 99};
    r.cgroup = "/sys/fs/cgroup/moat/0123456789ab/" + name;
    r.host_if = p.host_if;
    r.spec = plan::to_json(p);
    return r;
}

std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST(Store, SavesLoadsAndRemovesRecords) {
    auto dir = temp_dir() + "/state";
    {
        state::store st(dir);
        EXPECT_FALSE(st.exists());
        auto lock = st.lock();
        EXPECT_TRUE(lock.created());
        EXPECT_TRUE(st.exists());
        auto r = record("webapp");
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

// `run --rm` removes its container with its logs under the lock it holds,
// so the end of the command takes the lock no second time (issue 17); a
// plain remove() keeps the logs until then (LogsSurviveARecreate...).
TEST(Store, RemoveWithLogsLeavesNothingAtOnce) {
    auto top = temp_dir();
    auto dir = top + "/state";
    state::store st(dir);
    auto lock = st.lock();
    for (const char* name : {"once", "kept"}) {
        st.save(record(name));
        sys::make_dirs(dir + "/containers/" + name + "/logs");
        sys::write_file_atomic(dir + "/containers/" + name + "/logs/init.log", "line\n", 0600, false);
    }
    st.remove_with_logs("once");
    EXPECT_FALSE(sys::path_exists(dir + "/containers/once"));
    st.remove("kept");  // control: remove() leaves the logs until the end of the command
    EXPECT_TRUE(sys::path_exists(dir + "/containers/kept/logs/init.log"));
    EXPECT_FALSE(st.load("kept"));
    EXPECT_THROW(st.remove_with_logs("../escape"), moat::error);
    sys::remove_tree(top);
}

TEST(Store, InstanceIdsDifferPerDirectory) {
    auto a = temp_dir(), b = temp_dir();
    EXPECT_NE(state::store(a).instance_id(), state::store(b).instance_id());
    EXPECT_EQ(state::store(a).instance_id(), state::store(a).instance_id());
    sys::remove_tree(a);
    sys::remove_tree(b);
}

// The instance that made a container is in its record: without a cgroup
// (no cgroup v2 mount, as under `ip netns exec`) the path said nothing, and
// its teardown took its own veth for another instance's and left it. A
// record of an older moat still names it through its cgroup's path.
TEST(Store, TheInstanceIsRecordedWithOrWithoutACgroup) {
    auto dir = temp_dir();
    state::store st(dir);
    auto lock = st.lock();
    auto r = record("nocg");
    r.cgroup = "";
    r.instance = st.instance_id();
    st.save(r);
    auto back = st.load("nocg");
    ASSERT_TRUE(back);
    EXPECT_EQ(back->instance, st.instance_id());
    EXPECT_EQ(container::instance_of(*back), st.instance_id());
    // Control: the same record without the field names no instance.
    back->instance = "";
    EXPECT_EQ(container::instance_of(*back), "");
    // An older record: the instance from <mount>/moat/<instance>/<name>.
    st.save(record("old"));
    auto old = state::to_json(record("old"));
    old.erase("instance");
    sys::write_file_atomic(dir + "/containers/old/record.json", old.dump());
    auto legacy = st.load("old");
    ASSERT_TRUE(legacy);
    EXPECT_EQ(legacy->instance, "");
    EXPECT_EQ(container::instance_of(*legacy), "0123456789ab");
    // Not a string: a damaged record, not a guess.
    auto bad = state::to_json(record("bad"));
    bad["instance"] = 7;
    std::filesystem::create_directories(dir + "/containers/bad");
    sys::write_file_atomic(dir + "/containers/bad/record.json", bad.dump());
    auto l = st.scan();
    ASSERT_EQ(l.damaged.size(), 1u);
    EXPECT_EQ(l.damaged[0].problem, "its instance is not a string");
    sys::remove_tree(dir);
}

// Each damaged entry is listed with its problem, never dropped and never
// fatal for the others; `remove` refuses what is not a container's directory.
TEST(Store, DamagedRecordsAreListedAndTheOthersStillRead) {
    auto dir = temp_dir();
    state::store st(dir);
    auto lock = st.lock();
    st.save(record("good"));
    auto c = dir + "/containers/";
    std::filesystem::create_directories(c + "empty");
    std::filesystem::create_directories(c + "braces");
    std::filesystem::create_directories(c + "cut");
    std::filesystem::create_directories(c + "other");
    std::filesystem::create_directories(c + "evil");
    std::filesystem::create_directories(c + "norecord/logs");
    std::filesystem::create_directories(c + "Not A Name");
    sys::write_file_atomic(c + "empty/record.json", "");
    sys::write_file_atomic(c + "braces/record.json", "{}");
    auto text = state::to_json(record("cut")).dump(2);
    sys::write_file_atomic(c + "cut/record.json", text.substr(0, text.size() / 2));
    sys::write_file_atomic(c + "other/record.json", state::to_json(record("good")).dump());
    auto evil = record("evil");
    evil.cgroup = "/sys/fs/cgroup/system.slice";
    sys::write_file_atomic(c + "evil/record.json", state::to_json(evil).dump());
    sys::write_file_atomic(c + "stray-file", "x");

    auto l = st.scan();
    ASSERT_EQ(l.records.size(), 1u);
    EXPECT_EQ(l.records[0].name, "good");
    std::map<std::string, std::string> problems;
    for (const auto& d : l.damaged) {
        problems[d.name] = d.problem;
        EXPECT_EQ(d.file, "containers/" + d.name + "/record.json");
    }
    EXPECT_EQ(problems.size(), 6u);
    EXPECT_EQ(problems["empty"], "it is empty");
    EXPECT_EQ(problems["braces"], "it has no name");
    EXPECT_NE(problems["cut"].find("not valid JSON"), std::string::npos) << problems["cut"];
    EXPECT_NE(problems["other"].find("names 'good'"), std::string::npos) << problems["other"];
    EXPECT_NE(problems["evil"].find("not moat's cgroup"), std::string::npos) << problems["evil"];
    EXPECT_EQ(problems["norecord"], "there is no record.json");
    EXPECT_EQ(l.foreign, (std::vector<std::string>{"containers/Not A Name", "containers/stray-file"}));
    // What a damaged record still says is kept when it is usable.
    for (const auto& d : l.damaged) {
        if (d.name == "evil") {
            EXPECT_EQ(d.init.pid, 1234);
            EXPECT_EQ(d.cgroup, "");  // not moat's: never used
        }
    }
    EXPECT_THROW(st.load("cut"), moat::error);
    EXPECT_FALSE(st.load("absent"));
    EXPECT_TRUE(st.has("cut"));
    EXPECT_THROW(st.remove(""), moat::error);
    EXPECT_THROW(st.remove("Not A Name"), moat::error);
    EXPECT_THROW(st.remove(".."), moat::error);
    st.remove("cut");
    EXPECT_FALSE(st.has("cut"));
    EXPECT_TRUE(sys::path_exists(c + "Not A Name"));
    sys::remove_tree(dir);
}

// On main the temporary was "<path>.tmp", opened with O_TRUNC and without
// O_NOFOLLOW: a symlink planted there was followed and its target overwritten.
TEST(Store, AtomicWritesUseAFreshTemporaryAndLeaveNone) {
    auto dir = temp_dir();
    auto victim = dir + "/victim";
    sys::write_file_atomic(victim, "precious\n");
    ASSERT_EQ(::symlink(victim.c_str(), (dir + "/record.json.tmp").c_str()), 0);
    sys::write_file_atomic(dir + "/record.json", "one\n");
    sys::write_file_atomic(dir + "/record.json", "two\n");
    EXPECT_EQ(sys::read_file(victim), "precious\n");
    EXPECT_EQ(sys::read_file(dir + "/record.json"), "two\n");
    EXPECT_EQ(entries(dir), (std::vector<std::string>{"record.json", "record.json.tmp", "victim"}));
    struct stat st {};
    ASSERT_EQ(::stat((dir + "/record.json").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_TRUE(sys::is_atomic_temporary(".record.json.tmp-0123456789abcdef"));
    EXPECT_FALSE(sys::is_atomic_temporary("record.json"));
    sys::remove_tree(dir);
}

// The lock is the directory's own: `down` removes the directory while
// holding it, and a waiter then starts again with a new one instead of
// writing into the removed one (on main: the lock file was unlinked under it).
TEST(Store, WaiterForTheLockStartsAgainWhenTheDirectoryWasRemoved) {
    auto parent = temp_dir();
    auto dir = parent + "/state";
    state::store down_side(dir), up_side(dir);
    auto held = down_side.lock();
    ASSERT_TRUE(held.held());
    std::atomic<bool> got{false};
    std::thread waiter([&] {
        auto lock = up_side.lock();
        got = true;
        up_side.save(record("after"));  // into the directory that exists now
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(got);
    down_side.remove_if_empty();  // under the lock, as `down` does
    EXPECT_FALSE(sys::path_exists(dir));
    held.reset();
    waiter.join();
    EXPECT_TRUE(got);
    EXPECT_TRUE(up_side.load("after").has_value());
    // lock_existing() of a missing directory creates nothing.
    sys::remove_tree(dir);
    EXPECT_FALSE(state::store(dir).lock_existing().held());
    EXPECT_FALSE(sys::path_exists(dir));
    sys::remove_tree(parent);
}

TEST(Store, StateDirOthersCouldWriteIsRefusedAndNotChmodded) {
    auto dir = temp_dir();
    for (mode_t mode : {0777, 0770, 0702}) {
        ASSERT_EQ(::chmod(dir.c_str(), mode), 0);
        state::store st(dir);
        EXPECT_THROW(st.exists(), moat::usage_error) << std::oct << mode;
        EXPECT_THROW(st.lock(), moat::usage_error) << std::oct << mode;
        EXPECT_THROW(st.lock_existing(), moat::usage_error) << std::oct << mode;
        struct stat s {};
        ASSERT_EQ(::stat(dir.c_str(), &s), 0);
        EXPECT_EQ(s.st_mode & 0777, mode);
        EXPECT_TRUE(entries(dir).empty());
    }
    // Control: the caller's own, not writable by others, is used as it is.
    ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
    state::store st(dir);
    EXPECT_TRUE(st.lock().held());
    struct stat s {};
    ASSERT_EQ(::stat(dir.c_str(), &s), 0);
    EXPECT_EQ(s.st_mode & 0777, 0755u);
    sys::remove_tree(dir);
}

// host.json keeps its vital fields first; a truncated one gives them back.
TEST(Store, TruncatedHostJsonIsSalvagedFieldByField) {
    state::host_record h;
    h.nft_table = true;
    h.sysctls["net/ipv4/conf/eth0/forwarding"] = "0";
    h.networks["lab"] = {{"name", "lab"}, {"bridge_if", "mb-lab"}, {"gateway", "10.1.0.1/24"}, {"gateway6", nullptr}};
    h.networks["lab2"] = {{"name", "lab2"}, {"bridge_if", "mb-lab2"}, {"gateway", "10.2.0.1/24"}, {"gateway6", nullptr}};
    h.rules = {{{"family", 2}, {"table", 7}}};
    h.nft_ruleset = std::string(4000, 'r');
    h.nft_listing = std::string(4000, 'l');
    auto text = state::host_text(h);
    ASSERT_LT(text.find("sysctls"), text.find("nft_ruleset"));
    auto whole = state::host_from_text(text);
    EXPECT_EQ(whole.problem, "");
    EXPECT_EQ(whole.record.nft_ruleset, h.nft_ruleset);
    auto half = state::host_from_text(text.substr(0, text.size() / 2));
    EXPECT_NE(half.problem.find("not valid JSON"), std::string::npos) << half.problem;
    EXPECT_TRUE(half.record.nft_table);
    EXPECT_EQ(half.record.sysctls, h.sysctls);
    EXPECT_EQ(half.record.networks, h.networks);
    EXPECT_EQ(half.record.rules, h.rules);
    EXPECT_EQ(half.record.nft_listing, "");
    // Not written when empty (a moat since issue 16 never makes one); read when there.
    EXPECT_EQ(whole.record.nft_listing, h.nft_listing);
    h.nft_listing.clear();
    EXPECT_EQ(state::host_text(h).find("nft_listing"), std::string::npos);
    // Cut inside the second network: the first stays, the half-read one is dropped whole.
    auto cut = state::host_from_text(text.substr(0, text.find("mb-lab2")));
    EXPECT_EQ(cut.record.networks.size(), 1u);
    EXPECT_TRUE(cut.record.networks.count("lab"));
    EXPECT_EQ(cut.record.sysctls, h.sysctls);
    auto garbage = state::host_from_text("garbage");
    EXPECT_FALSE(garbage.problem.empty());
    EXPECT_TRUE(garbage.record.empty());
    // host() names the file; read_host() salvages.
    auto dir = temp_dir();
    state::store st(dir);
    sys::write_file_atomic(dir + "/host.json", text.substr(0, text.size() / 2));
    try {
        st.host();
        ADD_FAILURE() << "host() read a damaged host.json";
    } catch (const moat::error& e) {
        EXPECT_NE(std::string(e.what()).find(dir + "/host.json is damaged"), std::string::npos) << e.what();
    }
    EXPECT_EQ(st.read_host().record.sysctls, h.sysctls);
    sys::remove_tree(dir);
}

// A store parses host.json once per version of the file (a CNI ADD asks
// for it about seven times); every read still sees what another store — or
// a person, in place — wrote since, and what this store wrote itself.
TEST(Store, HostReadsSeeEveryNewVersion) {
    auto dir = temp_dir();
    state::store a(dir), b(dir);
    EXPECT_TRUE(a.host().empty());
    state::host_record h;
    h.nft_table = true;
    h.nft_ruleset = "table inet moat {}";
    a.save_host(h);
    EXPECT_EQ(a.host().nft_ruleset, h.nft_ruleset);  // its own write
    EXPECT_EQ(b.host().nft_ruleset, h.nft_ruleset);
    h.sysctls["net/ipv4/conf/up0/forwarding"] = "0";
    b.save_host(h);  // another file renamed over the one `a` read
    EXPECT_EQ(a.host().sysctls, h.sysctls);
    // Changed in place, same inode: its size and times moved.
    auto text = state::host_text(h);
    text.replace(text.find("\"0\""), 3, "\"1\"");
    text += "\n";
    auto in_place = [&](const std::string& content) {
        std::ofstream(dir + "/host.json", std::ios::trunc) << content;
    };
    in_place(text);
    EXPECT_EQ(a.host().sysctls.at("net/ipv4/conf/up0/forwarding"), "1");
    // Damaged in place: reported, not the version read before.
    in_place(text.substr(0, 20));
    EXPECT_FALSE(a.read_host().problem.empty());
    EXPECT_THROW(a.host(), moat::error);
    b.save_host({});  // removed
    EXPECT_TRUE(a.host().empty());
    a.save_host(h);
    EXPECT_EQ(b.host().sysctls, h.sysctls);
    sys::remove_tree(dir);
}

// A container's logs outlive its record until the command is done: kept
// when the same command records it again (`up` recreating it), removed
// otherwise (`down`, `run --rm`, dropped from the file) and by `down`'s
// remove_if_empty().
TEST(Store, LogsSurviveARecreateAndNothingElse) {
    auto top = temp_dir();
    auto dir = top + "/state";
    auto logs = [&](const std::string& name) { return dir + "/containers/" + name + "/logs/web.log"; };
    {
        state::store st(dir);
        auto lock = st.lock();
        for (const char* name : {"kept", "gone", "down"}) {
            st.save(record(name));
            sys::make_dirs(dir + "/containers/" + name + "/logs");
            sys::write_file_atomic(logs(name), "line\n", 0600, false);
        }
    }
    {
        state::store st(dir);  // `up`: recreates "kept", drops "gone"
        auto lock = st.lock();
        st.remove("kept");
        st.remove("gone");
        EXPECT_FALSE(st.load("kept"));
        EXPECT_EQ(st.containers().size(), 1u);  // logs without a record are no container
        st.save(record("kept"));
    }  // the lock first, then the store: its destructor collects under the lock again
    EXPECT_EQ(sys::read_file(logs("kept")), "line\n");
    EXPECT_FALSE(sys::path_exists(dir + "/containers/gone"));
    EXPECT_TRUE(sys::path_exists(logs("down")));
    {
        state::store st(dir);  // `down`
        auto lock = st.lock();
        st.remove("kept");
        st.remove("down");
        st.remove_if_empty();
        EXPECT_FALSE(sys::path_exists(dir));
    }
    {
        // A crash between remove() and save() left logs alone: that is a
        // damaged record (its record is missing), which `down` removes by
        // its name; this store did not remove it, so it does not collect it.
        state::store st(dir);
        auto lock = st.lock();
        sys::make_dirs(dir + "/containers/crashed/logs");
        ASSERT_EQ(st.scan().damaged.size(), 1u);
        st.remove_if_empty();
        EXPECT_TRUE(sys::path_exists(dir + "/containers/crashed/logs"));
    }
    sys::remove_tree(top);
}
