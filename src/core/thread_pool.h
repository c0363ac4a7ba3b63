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
#include <mutex>
#include <thread>
#include <type_traits>
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
    // exception thrown by fn is rethrown here. Not reentrant. `fn` is passed by
    // reference (no std::function), so a call allocates nothing.
    template <typename F>
    void parallel_for(int64_t n, F&& fn, int64_t grain = 1) {
        parallel_for_impl(n, RangeFn{erase(&fn), &call_range<std::remove_reference_t<F>>}, grain);
    }

    // Calls fn(thread_index, n_threads) once on every thread.
    template <typename F>
    void run_on_all(F&& fn) {
        run_on_all_impl(ThreadFn{erase(&fn), &call_thread<std::remove_reference_t<F>>});
    }

  private:
    // Non-owning references to callables: a context pointer and a trampoline.
    struct RangeFn {
        void* ctx;
        void (*call)(void*, int64_t, int64_t);
    };
    struct ThreadFn {
        void* ctx;
        void (*call)(void*, int, int);
    };
    template <typename T>
    static void* erase(T* p) {
        return const_cast<void*>(static_cast<const void*>(p));
    }
    template <typename F>
    static void call_range(void* ctx, int64_t b, int64_t e) {
        (*static_cast<F*>(ctx))(b, e);
    }
    template <typename F>
    static void call_thread(void* ctx, int t, int n) {
        (*static_cast<F*>(ctx))(t, n);
    }
    void parallel_for_impl(int64_t n, RangeFn fn, int64_t grain);
    void run_on_all_impl(ThreadFn fn);
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
    RangeFn fn_{nullptr, nullptr};
    ThreadFn all_fn_{nullptr, nullptr};
    int64_t n_ = 0, grain_ = 1;
    std::mutex error_mu_;
    std::exception_ptr error_;
};

}  // namespace edgelm
