// Secret files other users can read; see file_modes.hpp.
#include "plan/file_modes.hpp"

#include <sys/stat.h>

#include <cstdio>

namespace moat::plan {

std::optional<std::string> too_open(const std::string& path, const std::string& what) {
    struct stat st;
    if (path.empty() || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) == 0) {
        return std::nullopt;
    }
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    std::string who = (st.st_mode & 007) ? "other users" : "its group";
    return std::string("permissions ") + mode + " for '" + path + "' are too open: " + who + " can read " + what +
           " (chmod 600 '" + path + "')";
}

void warn_if_too_open(const std::string& path, const std::string& what) {
    if (auto w = too_open(path, what)) {
        std::fprintf(stderr, "moat: warning: %s\n", w->c_str());
    }
}

}  // namespace moat::plan
