// The scheduler behind edgelm serve: N slots (Sessions with their own KV caches) over one
// shared Model, a bounded queue, and one thread that runs every step as a single batch
// (Session::eval_batch): each decoding slot's next token, plus a chunk of a waiting
// prompt, so weights are read once per step for all streams and a new prompt delays the
// running streams by one chunk at most. A slot keeps its tokens after a request, and the
// next request whose prompt starts the same (with the same adapters) reuses those keys
// and values; what a slot held before it was taken for another prompt can be kept in a
// byte-bounded LRU of snapshots and restored into any slot. Kernels sum in one order whatever the
// batch, so a greedy request's output is the same alone, batched or from the prefix cache.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/session.h"
#include "serve/job.h"

namespace edgelm::serve {

struct EngineOptions {
    int slots = 4;
    int ctx = 0;     // per slot; 0 = the model's
    int queue = 16;  // jobs waiting for a slot, beyond those running
    int threads = 1;
    int prefill_chunk = 32;  // prompt tokens per step while other slots are decoding
    // Saved prefixes: when a slot is taken for another prompt, what it held is kept (up to
    // this many bytes of keys and values, least recently used first out) for a later
    // request that starts the same. 0: only what the slots themselves hold.
    size_t prefix_cache_bytes = 0;
    int min_saved_prefix = 16;  // tokens worth saving or restoring
};

class Engine {
  public:
    Engine(std::shared_ptr<const Model> model, EngineOptions options);
    ~Engine();  // stops at once; unfinished jobs end Cancelled
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Takes a job unless slots + queue are all taken (then false, at once). A prompt
    // that does not fit a slot's context, or an empty one, ends the job with Error.
    bool submit(std::shared_ptr<Job> job);
    // Wakes the engine so that a cancelled job leaves its slot or the queue now.
    void cancel(Job& job);

    int n_ctx() const { return n_ctx_; }
    int slots() const { return static_cast<int>(slots_.size()); }
    int capacity() const { return options_.slots + options_.queue; }  // jobs admitted at once
    int busy_slots() const;
    int queued() const;
    uint64_t prefix_hit_tokens() const;
    uint64_t prefix_restores() const;  // requests that started from a saved snapshot
    size_t saved_prefix_bytes() const;

  private:
    struct Slot {
        std::unique_ptr<Session> session;
        std::shared_ptr<Job> job;
        size_t fed = 0;     // prompt tokens in the cache
        TokenId next = -1;  // sampled, to run at the next step
        int generated = 0;
        std::vector<float> pooled_sum;
        Clock::time_point last_used{};
    };

    void loop();
    void assign(std::shared_ptr<Job> job);  // to the free slot that reuses the most
    void save_prefix(const Slot& s);        // into saved_, before the slot is overwritten
    void step();
    void after_step(Slot& s);
    void release(Slot& s, FinishReason r, std::string error = {});
    // The token with its log-probability and the top alternatives, if the job wants them.
    SampledToken sampled(Slot& s, TokenId id) const;

    std::shared_ptr<const Model> model_;
    EngineOptions options_;
    int n_ctx_;
    Session engine_;  // threads and scratch for every step; its own cache is unused
    std::vector<Slot> slots_;
    struct SavedPrefix {
        SessionSnapshot snapshot;
        std::vector<LoraBinding> lora;
    };
    std::list<SavedPrefix> saved_;        // most recently used first
    std::atomic<size_t> saved_bytes_{0};  // read by other threads (metrics)
    std::vector<BatchPart> parts_;
    std::vector<Slot*> part_slots_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<Job>> queue_;
    int running_ = 0;  // jobs in slots
    bool stopping_ = false;
    uint64_t prefix_hits_ = 0, prefix_restores_ = 0;
    std::thread thread_;
};

}  // namespace edgelm::serve
