// Which token windows a training step reads. Torch-free and deterministic, so that a
// resumed run reads exactly the windows the uninterrupted run would have read.
//
// A split is cut into non-overlapping windows of seq + 1 tokens (stride seq, so every
// token is a target once per epoch); each epoch visits them in a fresh shuffled order,
// shifted by a per-epoch offset so window boundaries move between epochs.
#pragma once

#include <cstdint>
#include <vector>

namespace edgelm::train {

class WindowSampler {
  public:
    struct State {
        uint64_t epoch = 0, index = 0;
    };

    // Throws ArgumentError when the split holds fewer than seq + 2 tokens.
    WindowSampler(uint64_t n_tokens, int seq, uint64_t seed);

    // Start position of the next window (seq + 1 tokens from there are in range).
    uint64_t next();

    State state() const { return state_; }
    void restore(State s);
    uint64_t windows_per_epoch() const { return order_.size(); }

  private:
    void shuffle_epoch();

    uint64_t n_tokens_;
    int seq_;
    uint64_t seed_;
    uint64_t offset_ = 0;
    std::vector<uint64_t> order_;
    State state_;
};

// splitmix64 of (a, b, c): a stateless stream for per-row choices.
uint64_t mix_hash(uint64_t a, uint64_t b, uint64_t c);

// Learning rate at `step` (0-based): linear warm-up from lr / warmup to lr over `warmup`
// steps, then constant until `progress` reaches 1 - decay_fraction, then cosine decay to
// lr · min_ratio at progress 1 (decay_fraction 1: cosine all the way; below 1: the
// warm-up-stable-decay schedule, better for short budgets).
double lr_at(int64_t step, int64_t warmup, double progress, double lr, double min_ratio,
             double decay_fraction = 1.0);
// Progress through the decay phase by steps: 0 at the end of warm-up, 1 at `total`.
double decay_progress(int64_t step, int64_t total, int64_t warmup);

}  // namespace edgelm::train
