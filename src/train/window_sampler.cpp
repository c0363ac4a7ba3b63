#include "train/window_sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

#include "core/error.h"

namespace edgelm::train {

uint64_t mix_hash(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t z = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull ^
                 (c + 0x94D049BB133111EBull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

WindowSampler::WindowSampler(uint64_t n_tokens, int seq, uint64_t seed)
    : n_tokens_(n_tokens), seq_(seq), seed_(seed) {
    if (seq <= 0 || n_tokens < static_cast<uint64_t>(seq) + 2)
        throw ArgumentError("the training split has " + std::to_string(n_tokens) +
                            " tokens, fewer than one window of " + std::to_string(seq + 1) +
                            "; use more data or a shorter --ctx");
    shuffle_epoch();
}

void WindowSampler::shuffle_epoch() {
    // The offset keeps offset + k·seq + seq + 1 <= n_tokens for every window k.
    const uint64_t s = static_cast<uint64_t>(seq_);
    offset_ = mix_hash(seed_, state_.epoch, 1) % s;
    if (offset_ + s + 1 > n_tokens_) offset_ = 0;
    const uint64_t n_windows = (n_tokens_ - offset_ - 1) / s;
    order_.resize(n_windows);
    std::iota(order_.begin(), order_.end(), 0);
    // Fisher-Yates with our own generator: std::shuffle's algorithm is not specified.
    uint64_t x = mix_hash(seed_, state_.epoch, 2);
    for (uint64_t i = n_windows; i > 1; --i) {
        x = mix_hash(x, i, 3);
        std::swap(order_[i - 1], order_[x % i]);
    }
}

uint64_t WindowSampler::next() {
    if (state_.index >= order_.size()) {
        ++state_.epoch;
        state_.index = 0;
        shuffle_epoch();
    }
    return offset_ + order_[state_.index++] * static_cast<uint64_t>(seq_);
}

void WindowSampler::restore(State s) {
    state_.epoch = s.epoch;
    state_.index = 0;
    shuffle_epoch();
    if (s.index > order_.size())
        throw FormatError("checkpoint data position " + std::to_string(s.index) +
                          " is past the end of the epoch (" + std::to_string(order_.size()) +
                          " windows): the data changed since the checkpoint");
    state_.index = s.index;
}

double lr_at(int64_t step, int64_t warmup, double progress, double lr, double min_ratio,
             double decay_fraction) {
    if (step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
    const double f = std::clamp(decay_fraction, 1e-9, 1.0);
    const double decay = std::clamp((progress - (1.0 - f)) / f, 0.0, 1.0);
    const double cosine = 0.5 * (1.0 + std::cos(M_PI * decay));
    return lr * (min_ratio + (1.0 - min_ratio) * cosine);
}

double decay_progress(int64_t step, int64_t total, int64_t warmup) {
    if (total <= warmup) return 0.0;
    return static_cast<double>(step - warmup) / static_cast<double>(total - warmup);
}

}  // namespace edgelm::train
