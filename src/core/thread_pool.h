// A persistent pool of worker threads for data-parallel loops. The calling thread takes
// part, so a pool of N threads starts N - 1 workers. Work is split into contiguous
// ranges by a fixed rule (never by timing), so every element is computed by the same
// code whatever the thread count, and results do not depend on it.
//
// A decoded token runs a few dozen short parallel loops, so waking workers through the
// kernel for each would cost more than the work: workers spin on an atomic generation
// counter for a while after each loop (about a millisecond) and only then sleep on a
// condition variable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
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
    // exception thrown by fn is rethrown here. Not reentrant.
    void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                      int64_t grain = 1);

    // Calls fn(thread_index, n_threads) once on every thread.
    void run_on_all(const std::function<void(int, int)>& fn);

  private:
    void worker_loop(int index);
    void run_share(int index);
    void dispatch();

    int n_threads_;
    std::vector<std::thread> workers_;

    std::atomic<uint64_t> generation_{0};
    std::atomic<int> remaining_{0};
    std::atomic<int> sleepers_{0};
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::condition_variable cv_;

    // The current job, published by the release increment of generation_.
    const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
    const std::function<void(int, int)>* all_fn_ = nullptr;
    int64_t n_ = 0, grain_ = 1;
    std::mutex error_mu_;
    std::exception_ptr error_;
};

}  // namespace edgelm
