// moat gc: remove everything of this instance the kernel still holds, with
// or without its state directory (converge/gc.hpp). `--instance ID` does it
// for an instance id alone (as a refusal message, a link's alias or a
// cgroup path moat/<id>/ names it), without touching any state directory:
// the explicit way to clean up after another instance, live or not.
#include "cli/commands.hpp"
#include "converge/gc.hpp"
#include "state/store.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <optional>

namespace moat::cli {

namespace {

void print(const converge::gc_report& rep, bool quiet) {
    if (!quiet) {
        for (const auto& r : rep.removed) {
            std::printf("removed %s\n", r.c_str());
        }
        if (rep.removed.empty()) {
            std::printf("nothing to remove\n");
        }
    }
    for (const auto& k : rep.kept) {
        std::fprintf(stderr, "moat: note: left alone: %s\n", k.c_str());
    }
    for (const auto& f : rep.failed) {
        std::fprintf(stderr, "moat: error: %s\n", f.c_str());
    }
}

// The directories of `path` that do not exist yet, deepest first: opening
// the store makes them, and gc removes them again.
std::vector<std::string> missing_dirs(const std::string& path) {
    std::vector<std::string> out;
    for (std::filesystem::path p = std::filesystem::absolute(path); !p.empty() && !sys::path_exists(p.string());
         p = p.parent_path()) {
        out.push_back(p.string());
        if (p == p.parent_path()) {
            break;
        }
    }
    return out;
}

}  // namespace

int cmd_gc(const globals& g, const std::string& instance) {
    converge::check_collectable();  // before a lost state directory is made again
    converge::gc_report rep;
    if (!instance.empty()) {
        if (instance.size() > 64 || instance.find_first_not_of("0123456789abcdef") != std::string::npos) {
            throw usage_error("gc --instance: '" + instance + "' is not an instance id (hex digits)");
        }
        rep = converge::collect(instance, nullptr);
    } else {
        auto created = missing_dirs(g.state_dir);
        state::store store(g.state_dir);  // a deleted directory is made again: its id is the path's
        auto lock = store.lock();
        rep = converge::collect(store.instance_id(), &store);
        store.remove_if_empty();  // under the lock, as `down` does (store.hpp)
        lock.reset();
        for (const auto& d : created) {
            ::rmdir(d.c_str());
        }
    }
    print(rep, g.quiet);
    return rep.failed.empty() ? 0 : 1;
}

}  // namespace moat::cli
