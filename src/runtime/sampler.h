// Token sampling: repetition penalty, then greedy (temperature 0) or temperature ->
// top-k -> top-p -> min-p -> a draw from a seeded generator. The same seed, logits and
// history give the same token on every platform (the generator and the conversion to
// a uniform number are written out here, not left to the standard library).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace edgelm {

struct SamplerParams {
    float temperature = 0.8f;     // 0 = greedy
    int top_k = 40;               // 0 = off
    float top_p = 0.95f;          // 1 = off
    float min_p = 0.05f;          // 0 = off
    float repeat_penalty = 1.0f;  // 1 = off (llama.cpp's rule: divide positive logits)
    int repeat_last_n = 64;
    uint64_t seed = 0;

    // Throws ArgumentError naming the bad parameter.
    void validate() const;
};

class Sampler {
  public:
    explicit Sampler(SamplerParams params = {});

    // Picks the next token from logits (vocab) given the tokens so far.
    TokenId sample(std::span<const float> logits, std::span<const TokenId> history);

    const SamplerParams& params() const { return params_; }
    // The generator state, for saving and restoring a session.
    uint64_t rng_state() const { return state_; }
    void set_rng_state(uint64_t s) { state_ = s; }

  private:
    uint64_t next_u64();    // splitmix64
    double next_uniform();  // [0, 1) with 53 random bits

    SamplerParams params_;
    uint64_t state_;
    struct Candidate {
        TokenId id;
        float logit;
        float p;
    };
    std::vector<Candidate> cand_;  // reused between calls
};

}  // namespace edgelm
