#include "core/thread_pool.h"

#include <chrono>

#include "core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EDGELM_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define EDGELM_CPU_RELAX() asm volatile("yield" ::: "memory")
#else
#define EDGELM_CPU_RELAX() \
    do {                   \
    } while (0)
#endif

namespace edgelm {

namespace {
constexpr auto kSpinTime = std::chrono::microseconds(1000);
// After this many pause instructions a waiting thread yields its time slice on each
// further check, so that on a loaded machine it does not hold the core that the thread
// it waits for needs.
constexpr int kPausesBeforeYield = 2048;

inline void backoff(int spins) {
    if (spins < kPausesBeforeYield)
        EDGELM_CPU_RELAX();
    else
        std::this_thread::yield();
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads) {
    if (n_threads < 1)
        throw ArgumentError("thread count must be at least 1, got " + std::to_string(n_threads));
    if (n_threads > 1024)
        throw ArgumentError("thread count " + std::to_string(n_threads) + " is too large");
    for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::run_share(int index) {
    try {
        if (all_fn_.call) {
            all_fn_.call(all_fn_.ctx, index, n_threads_);
            return;
        }
        // Thread `index` takes the index-th of n_threads_ near-equal slices, in grains.
        const int64_t units = (n_ + grain_ - 1) / grain_;
        const int64_t begin = units * index / n_threads_ * grain_;
        const int64_t end = std::min(n_, units * (index + 1) / n_threads_ * grain_);
        if (begin < end) fn_.call(fn_.ctx, begin, end);
    } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu_);
        if (!error_) error_ = std::current_exception();
    }
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = generation_.load(std::memory_order_acquire);
        if (g == seen && !stop_.load(std::memory_order_relaxed)) {
            const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
            for (int spins = 0;; ++spins) {
                backoff(spins);
                g = generation_.load(std::memory_order_acquire);
                if (g != seen || stop_.load(std::memory_order_relaxed)) break;
                if ((spins & 255) == 255 && std::chrono::steady_clock::now() > deadline) {
                    std::unique_lock<std::mutex> lock(mu_);
                    sleepers_.fetch_add(1);
                    cv_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
                    sleepers_.fetch_sub(1);
                    g = generation_.load(std::memory_order_acquire);
                    break;
                }
            }
        }
        if (stop_.load()) return;
        seen = g;
        run_share(index);
        remaining_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::dispatch() {
    error_ = nullptr;
    remaining_.store(n_threads_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1);  // seq_cst: pairs with a sleeper's increment of sleepers_
    if (sleepers_.load() > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        cv_.notify_all();
    }
    run_share(0);
    for (int spins = 0; remaining_.load(std::memory_order_acquire) > 0; ++spins) backoff(spins);
    fn_ = {nullptr, nullptr};
    all_fn_ = {nullptr, nullptr};
    if (error_) std::rethrow_exception(error_);
}

void ThreadPool::parallel_for_impl(int64_t n, RangeFn fn, int64_t grain) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (n_threads_ == 1 || n <= grain) {
        fn.call(fn.ctx, 0, n);
        return;
    }
    fn_ = fn;
    n_ = n;
    grain_ = grain;
    dispatch();
}

void ThreadPool::run_on_all_impl(ThreadFn fn) {
    if (n_threads_ == 1) {
        fn.call(fn.ctx, 0, 1);
        return;
    }
    all_fn_ = fn;
    dispatch();
}

}  // namespace edgelm
