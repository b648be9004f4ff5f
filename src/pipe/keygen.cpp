// moat keygen FILE: a new 32-byte key from getrandom(), created with O_EXCL
// (an existing key is never replaced) and mode 0600 whatever the umask.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>

#include "pipe/crypto.hpp"
#include "pipe/pipe.hpp"
#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

namespace moat::pipe {

int keygen_main(const std::string& path) {
    try {
        sys::unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!fd) {
            throw sys::errno_error("creating " + path);
        }
        try {
            // Whatever the umask, a key file is exactly 0600.
            sys::check(fchmod(fd.get(), 0600), "setting the mode of " + path);
            secret32 key;
            kernel_random_bytes(key.bytes);
            std::size_t done = 0;
            while (done < key.bytes.size()) {
                ssize_t w = ::write(fd.get(), key.data() + done, key.bytes.size() - done);
                if (w < 0 && errno == EINTR) {
                    continue;
                }
                sys::check(w, "writing " + path);
                done += std::size_t(w);
            }
            sys::check(fsync(fd.get()), "writing " + path);
        } catch (...) {
            ::unlink(path.c_str());  // never leave a half-written key behind
            throw;
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "moat keygen: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace moat::pipe
