#include "serve/job.h"

namespace edgelm::serve {

const char* finish_reason_name(FinishReason r) {
    switch (r) {
        case FinishReason::Stop:
            return "stop";
        case FinishReason::Length:
            return "length";
        case FinishReason::Cancelled:
            return "cancelled";
        case FinishReason::Timeout:
            return "timeout";
        case FinishReason::Error:
            return "error";
        case FinishReason::None:
            break;
    }
    return "none";
}

void Job::push(SampledToken t) {
    {
        std::lock_guard lock(mutex_);
        if (generated_ == 0) first_token_at = Clock::now();
        tokens_.push_back(std::move(t));
        ++generated_;
    }
    changed_.notify_all();
}

void Job::finish(FinishReason r, std::string error) {
    {
        std::lock_guard lock(mutex_);
        if (reason_ != FinishReason::None) return;
        finished_at = Clock::now();
        reason_ = r;
        error_ = std::move(error);
    }
    changed_.notify_all();
}

FinishReason Job::wait(std::vector<SampledToken>& out, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout,
                      [&] { return taken_ < tokens_.size() || reason_ != FinishReason::None; });
    for (; taken_ < tokens_.size(); ++taken_) out.push_back(std::move(tokens_[taken_]));
    return reason_;
}

FinishReason Job::finish_reason() const {
    std::lock_guard lock(mutex_);
    return reason_;
}

int Job::generated() const {
    std::lock_guard lock(mutex_);
    return generated_;
}

}  // namespace edgelm::serve
