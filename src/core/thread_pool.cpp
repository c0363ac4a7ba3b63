#include "core/thread_pool.h"

#include "core/error.h"

namespace edgelm {

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads) {
    if (n_threads < 1)
        throw ArgumentError("thread count must be at least 1, got " + std::to_string(n_threads));
    for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    start_cv_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::run_share(int index) {
    // Thread `index` takes the index-th of n_threads_ near-equal slices, rounded to grain.
    const int64_t units = (n_ + grain_ - 1) / grain_;
    const int64_t begin_unit = units * index / n_threads_;
    const int64_t end_unit = units * (index + 1) / n_threads_;
    const int64_t begin = begin_unit * grain_;
    const int64_t end = std::min(n_, end_unit * grain_);
    if (begin >= end) return;
    try {
        (*fn_)(begin, end);
    } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
    }
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
        }
        run_share(index);
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (--pending_ == 0) done_cv_.notify_one();
        }
    }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                              int64_t grain) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (n_threads_ == 1 || n <= grain) {
        fn(0, n);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        fn_ = &fn;
        n_ = n;
        grain_ = grain;
        error_ = nullptr;
        pending_ = n_threads_ - 1;
        ++generation_;
    }
    start_cv_.notify_all();
    run_share(0);
    std::exception_ptr err;
    {
        std::unique_lock<std::mutex> lock(mu_);
        done_cv_.wait(lock, [&] { return pending_ == 0; });
        err = error_;
        fn_ = nullptr;
    }
    if (err) std::rethrow_exception(err);
}

}  // namespace edgelm
