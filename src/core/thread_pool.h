// A persistent pool of worker threads for data-parallel loops. The calling thread takes
// part, so a pool of N threads starts N - 1 workers. Work is split into contiguous
// ranges by a fixed rule (never by timing), so every element is computed by the same
// code whatever the thread count, and results do not depend on it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace edgelm {

class ThreadPool {
  public:
    // n_threads >= 1; throws ArgumentError otherwise.
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Calls fn(begin, end) on disjoint ranges covering [0, n), split evenly across the
    // threads in multiples of `grain`. Returns when all ranges are done. The first
    // exception thrown by fn is rethrown here.
    void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                      int64_t grain = 1);

  private:
    void worker_loop(int index);
    void run_share(int index);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable start_cv_, done_cv_;
    uint64_t generation_ = 0;
    int pending_ = 0;
    bool stop_ = false;

    // The current job.
    const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
    int64_t n_ = 0, grain_ = 1;
    std::exception_ptr error_;
};

}  // namespace edgelm
