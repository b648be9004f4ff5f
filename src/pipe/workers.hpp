// A few threads that run Diffie-Hellman jobs off the event loop.
//
// Why threads at all: a handshake costs two 2048-bit exponentiations
// (~0.1 ms + ~0.4 ms here). Run inline they would stall every other
// connection's data for that long, and a burst of new connections could use
// only one core. The loop hands a job over with submit() and learns about
// finished jobs through an eventfd it polls like any socket; the job object
// owns all its data, so nothing the loop frees can be touched by a worker.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "pipe/handshake.hpp"
#include "sys/unique_fd.hpp"

namespace moat::pipe {

class worker_pool {
public:
    using ticket = std::pair<std::uint64_t, std::shared_ptr<dh_job>>;  // (connection id, job)

    explicit worker_pool(unsigned threads);
    ~worker_pool();
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;

    void submit(std::uint64_t conn_id, std::shared_ptr<dh_job> job);
    // Readable when finished() has something.
    int event_fd() const { return _event.get(); }
    // Jobs finished since the last call, each with whether it succeeded.
    std::vector<std::pair<ticket, bool>> finished();

private:
    void loop();

    std::mutex _mu;
    std::condition_variable _cv;
    std::deque<ticket> _queue;
    std::vector<std::pair<ticket, bool>> _done;
    bool _stop = false;
    sys::unique_fd _event;
    std::vector<std::thread> _threads;
};

}  // namespace moat::pipe
