// The command's side of a terminal relay: allocating the pty inside the
// container and making it the command's controlling terminal. Both run
// between fork and execve (no allocation, errno values instead of
// exceptions); see relay.hpp.
#include "container/relay.hpp"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <unistd.h>

namespace moat::container {

int open_pty_noexcept(const terminal_settings& settings, int& master, int& slave) noexcept {
    // /dev/pts/ptmx, not /dev/ptmx: the container's /dev is a tmpfs its root
    // may write, but /dev/pts is a mount point it cannot replace, and the
    // file system type is checked on the opened file itself.
    int m = ::open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
    if (m < 0) {
        return errno;
    }
    struct statfs fs {};
    int unlock = 0;
    int s = -1;
    int err = 0;
    if (::fstatfs(m, &fs) < 0) {
        err = errno;
    } else if (fs.f_type != DEVPTS_SUPER_MAGIC) {
        err = ENOTTY;
    } else if (::ioctl(m, TIOCSPTLCK, &unlock) < 0) {
        err = errno;
    } else if ((s = ::ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        err = errno;
    } else if (::tcsetattr(s, TCSANOW, &settings.modes) < 0) {
        err = errno;
    } else if ((settings.size.ws_row != 0 || settings.size.ws_col != 0) &&
               ::ioctl(m, TIOCSWINSZ, &settings.size) < 0) {
        err = errno;
    }
    if (err != 0) {
        if (s >= 0) {
            ::close(s);
        }
        ::close(m);
        return err;
    }
    master = m;
    slave = s;
    return 0;
}

int attach_terminal_noexcept(int slave) noexcept {
    // TIOCSCTTY needs a session leader without a controlling terminal.
    if (::getsid(0) != ::getpid() && ::setsid() < 0) {
        return errno;
    }
    if (::ioctl(slave, TIOCSCTTY, 0) < 0) {
        return errno;
    }
    for (int fd = 0; fd < 3; ++fd) {
        if (::dup2(slave, fd) < 0) {
            return errno;
        }
    }
    if (slave > 2) {
        ::close(slave);
    }
    return 0;
}

}  // namespace moat::container
