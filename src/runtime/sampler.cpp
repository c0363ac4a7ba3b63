#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "core/error.h"

namespace edgelm {

namespace {

// The largest value, in eight independent lanes (a max reduction GCC does not vectorize
// or reorder without -ffast-math; max is associative for non-NaN floats, and a NaN never
// compares above anything, as in std::max_element).
float max_value(std::span<const float> x) {
    float m[8];
    std::fill(m, m + 8, x[0]);
    size_t i = 0;
    for (; i + 8 <= x.size(); i += 8)
        for (int k = 0; k < 8; ++k)
            m[k] = x[i + static_cast<size_t>(k)] > m[k] ? x[i + static_cast<size_t>(k)] : m[k];
    for (; i < x.size(); ++i) m[0] = x[i] > m[0] ? x[i] : m[0];
    for (int k = 1; k < 8; ++k) m[0] = m[k] > m[0] ? m[k] : m[0];
    return m[0];
}

// std::max_element's answer (the first index of the largest value; 0 if that is a NaN
// that nothing compares above) in two passes: the maximum, then where it first occurs.
// A 32k vocabulary's greedy pick was ~4 % of 15m decoding with std::max_element.
int first_argmax(std::span<const float> x) {
    const float m = max_value(x);
    for (size_t i = 0; i < x.size(); ++i)
        if (x[i] == m) return static_cast<int>(i);
    return 0;
}

}  // namespace

void SamplerParams::validate() const {
    auto need = [](bool ok, const std::string& what) {
        if (!ok) throw ArgumentError(what);
    };
    need(std::isfinite(temperature) && temperature >= 0, "--temp must be >= 0");
    need(top_k >= 0, "--top-k must be >= 0");
    need(top_p > 0 && top_p <= 1, "--top-p must be in (0, 1]");
    need(min_p >= 0 && min_p < 1, "--min-p must be in [0, 1)");
    need(std::isfinite(repeat_penalty) && repeat_penalty > 0, "--repeat-penalty must be > 0");
    need(repeat_last_n >= 0, "--repeat-last-n must be >= 0");
}

Sampler::Sampler(SamplerParams params) : params_(params), state_(params.seed) {
    params_.validate();
}

uint64_t Sampler::next_u64() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double Sampler::next_uniform() {
    return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

TokenId Sampler::sample(std::span<const float> logits, std::span<const TokenId> history) {
    const int n = static_cast<int>(logits.size());
    if (params_.temperature == 0.0f &&
        (params_.repeat_penalty == 1.0f || params_.repeat_last_n == 0)) {
        // Greedy without a penalty: the first maximum, without building candidates.
        return static_cast<TokenId>(first_argmax(logits));
    }
    cand_.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
        cand_[static_cast<size_t>(i)] = {i, logits[static_cast<size_t>(i)], 0.0f};

    if (params_.repeat_penalty != 1.0f && params_.repeat_last_n > 0) {
        const size_t start = history.size() > static_cast<size_t>(params_.repeat_last_n)
                                 ? history.size() - static_cast<size_t>(params_.repeat_last_n)
                                 : 0;
        std::unordered_set<TokenId> seen(history.begin() + static_cast<std::ptrdiff_t>(start),
                                         history.end());
        for (TokenId t : seen) {
            if (t < 0 || t >= n) continue;
            float& l = cand_[static_cast<size_t>(t)].logit;
            l = l > 0 ? l / params_.repeat_penalty : l * params_.repeat_penalty;
        }
    }

    auto by_logit = [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    if (params_.temperature == 0.0f) {
        return std::min_element(cand_.begin(), cand_.end(), by_logit)->id;
    }

    size_t keep = cand_.size();
    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < keep) {
        keep = static_cast<size_t>(params_.top_k);
        std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(keep),
                          cand_.end(), by_logit);
    } else {
        std::sort(cand_.begin(), cand_.end(), by_logit);
    }
    cand_.resize(keep);

    // Softmax at the temperature over the survivors (sorted, highest first).
    const float mx = cand_[0].logit;
    double sum = 0;
    for (auto& c : cand_) {
        c.p = std::exp((c.logit - mx) / params_.temperature);
        sum += c.p;
    }
    for (auto& c : cand_) c.p = static_cast<float>(c.p / sum);

    if (params_.top_p < 1.0f) {
        double cum = 0;
        size_t k = 0;
        while (k < cand_.size()) {
            cum += cand_[k].p;
            ++k;
            if (cum >= params_.top_p) break;
        }
        cand_.resize(k);
    }
    if (params_.min_p > 0.0f) {
        const float threshold = cand_[0].p * params_.min_p;
        size_t k = 1;
        while (k < cand_.size() && cand_[k].p >= threshold) ++k;
        cand_.resize(k);
    }

    double total = 0;
    for (const auto& c : cand_) total += c.p;
    double r = next_uniform() * total;
    for (const auto& c : cand_) {
        r -= c.p;
        if (r < 0) return c.id;
    }
    return cand_.back().id;
}

}  // namespace edgelm
