#include "sys/error.hpp"

#include <cstring>

namespace moat {

namespace sys {

std::system_error errno_error(const std::string& what, int err) {
    return std::system_error(err, std::generic_category(), what);
}

long check(long rc, const std::string& what) {
    if (rc < 0) {
        throw errno_error(what);
    }
    return rc;
}

}  // namespace sys

void add_context(const std::string& context) {
    try {
        throw;
    } catch (const usage_error& e) {
        throw usage_error(context + ": " + e.what());
    } catch (const std::system_error& e) {
        throw error(context + ": " + e.what(), e.code().value());
    } catch (const error& e) {
        throw error(context + ": " + e.what(), e.code());
    } catch (const std::exception& e) {
        throw error(context + ": " + e.what());
    }
}

}  // namespace moat
