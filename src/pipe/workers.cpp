#include "pipe/workers.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include "sys/error.hpp"

namespace moat::pipe {

worker_pool::worker_pool(unsigned threads) : _event(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!_event) {
        throw sys::errno_error("creating eventfd");
    }
    for (unsigned i = 0; i < threads; ++i) {
        _threads.emplace_back([this] { loop(); });
    }
}

worker_pool::~worker_pool() {
    {
        std::lock_guard lock(_mu);
        _stop = true;
    }
    _cv.notify_all();
    for (auto& t : _threads) {
        t.join();
    }
}

void worker_pool::submit(std::uint64_t conn_id, std::shared_ptr<dh_job> job) {
    {
        std::lock_guard lock(_mu);
        _queue.emplace_back(conn_id, std::move(job));
    }
    _cv.notify_one();
}

std::vector<std::pair<worker_pool::ticket, bool>> worker_pool::finished() {
    std::uint64_t count;
    (void)::read(_event.get(), &count, sizeof count);
    std::lock_guard lock(_mu);
    return std::exchange(_done, {});
}

void worker_pool::loop() {
    bn_ctx_ptr ctx(BN_CTX_secure_new());
    for (;;) {
        ticket t;
        {
            std::unique_lock lock(_mu);
            _cv.wait(lock, [this] { return _stop || !_queue.empty(); });
            if (_stop) {
                return;
            }
            t = std::move(_queue.front());
            _queue.pop_front();
        }
        bool ok = true;
        try {
            if (!ctx) {
                throw moat::error("no BN_CTX");
            }
            t.second->run(ctx.get());
        } catch (const std::exception&) {
            ok = false;  // the loop closes that connection
        }
        {
            std::lock_guard lock(_mu);
            _done.emplace_back(std::move(t), ok);
        }
        std::uint64_t one = 1;
        (void)::write(_event.get(), &one, sizeof one);
    }
}

}  // namespace moat::pipe
