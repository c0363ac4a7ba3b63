// One request's life in the engine, shared by the HTTP thread that waits on it and the
// engine thread that runs it: what to run (set before Engine::submit), and what came out
// (tokens as they are sampled, then how it ended), behind one mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/lora_adapter.h"
#include "runtime/sampler.h"

namespace edgelm::serve {

using Clock = std::chrono::steady_clock;

struct SampledToken {
    TokenId id = -1;
    float logprob = 0;                           // log p(id), from the model's logits
    std::vector<std::pair<TokenId, float>> top;  // most likely tokens and their log p
};

enum class FinishReason {
    None,       // still running
    Stop,       // end of sequence, an end-of-turn token, or the caller's stop string
    Length,     // max_tokens reached, or the context is full
    Cancelled,  // the client went away
    Timeout,    // --timeout passed
    Error,      // the runtime refused it (message in error)
};
const char* finish_reason_name(FinishReason r);  // "stop", "length", ...

class Job {
  public:
    enum class Kind { Generate, Pool };

    // What to run.
    Kind kind = Kind::Generate;
    std::vector<TokenId> prompt;
    int max_tokens = -1;  // generated tokens; -1: until the context is full
    SamplerParams sampler;
    std::vector<LoraBinding> lora;
    std::vector<TokenId> stop_ids;  // end the turn besides the vocabulary's EOS
    bool ignore_eos = false;        // EOS is a token like any other
    int top_logprobs = -1;          // -1: no log-probabilities; else entries per token
    Clock::time_point deadline = Clock::time_point::max();

    // What happened, when (set by the engine; read after finished() or under wait()).
    Clock::time_point queued_at = Clock::now(), started_at, first_token_at, finished_at;
    int cached_tokens = 0;         // prompt tokens whose keys and values were reused
    bool restored_prefix = false;  // ... from a saved snapshot (not the slot's own)
    std::vector<float> pooled;     // Pool: the mean final normed hidden state

    // Engine side.
    void push(SampledToken t);
    void finish(FinishReason r, std::string error = {});

    // Caller side: waits until there are tokens not yet taken or the job ended, or until
    // `timeout`; appends the new tokens to `out`. Returns the finish reason (None: running).
    FinishReason wait(std::vector<SampledToken>& out, std::chrono::milliseconds timeout);
    FinishReason finish_reason() const;
    const std::string& error() const { return error_; }  // after the job ended
    int generated() const;

    // Asks the engine to stop this job (it frees its slot at the next step).
    void cancel() { cancelled_ = true; }
    bool cancelled() const { return cancelled_; }

  private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<SampledToken> tokens_;
    size_t taken_ = 0;
    int generated_ = 0;
    FinishReason reason_ = FinishReason::None;
    std::string error_;
    std::atomic<bool> cancelled_{false};
};

}  // namespace edgelm::serve
