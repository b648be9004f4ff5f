// `moat exec` / `moat login`: join a running container.
//
// setns(2) into each of the init's namespaces (mount last among those that
// change the file system view, PID only affecting children), join its cgroup,
// then fork: the child is inside the container's PID namespace, drops to the
// same privileges as a service and execs the command.
#include "container/runtime.hpp"

#include "sandbox/privileges.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace moat::container {

namespace {

void join_namespaces(pid_t pid) {
    struct ns {
        const char* name;
        int type;
    };
    // cgroup first (its view depends on the current cgroup), mnt late: after
    // it the host's /proc is no longer reachable by path.
    const ns order[] = {{"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
                        {"net", CLONE_NEWNET},       {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS}};
    std::vector<sys::unique_fd> fds;
    std::string base = "/proc/" + std::to_string(pid) + "/ns/";
    for (const auto& n : order) {
        sys::unique_fd fd(::open((base + n.name).c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) {
            throw sys::errno_error("opening " + base + n.name);
        }
        fds.push_back(std::move(fd));
    }
    for (size_t i = 0; i < fds.size(); ++i) {
        if (::setns(fds[i].get(), order[i].type) < 0) {
            throw sys::errno_error(std::string("joining the container's ") + order[i].name + " namespace");
        }
    }
}

}  // namespace

int enter(const state::container_record& rec, const std::vector<std::string>& argv) {
    if (!sys::process_alive(rec.init)) {
        throw moat::error("container " + rec.name + " is not running");
    }
    if (!rec.cgroup.empty() && sys::path_exists(rec.cgroup + "/cgroup.procs")) {
        sys::write_file(rec.cgroup + "/cgroup.procs", std::to_string(::getpid()));
    }
    join_namespaces(rec.init.pid);

    std::vector<std::string> env_store = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "container=moat",
        "HOME=/root", "LANG=C.UTF-8", "HOSTNAME=" + rec.name};
    if (const char* term = ::getenv("TERM")) {
        env_store.push_back(std::string("TERM=") + term);
    }
    std::vector<char*> envp;
    for (auto& e : env_store) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    std::vector<std::string> args = argv;
    std::vector<char*> cargv;
    for (auto& a : args) {
        cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);

    sandbox::prepare_privileges();  // the child below only loads the filter
    pid_t child = ::fork();
    sys::check(child, "forking into the container");
    if (child == 0) {
        if (::chdir("/") < 0 || sandbox::drop_privileges_noexcept() != 0) {
            ::_exit(126);
        }
        ::execvpe(cargv[0], cargv.data(), envp.data());
        ::_exit(errno == ENOENT ? 127 : 126);
    }
    // Like a shell: the terminal's signals go to the command, not to us.
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGQUIT, SIG_IGN);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) {
            throw sys::errno_error("waiting for the command");
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace moat::container
