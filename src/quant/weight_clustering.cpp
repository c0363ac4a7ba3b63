#include "quant/weight_clustering.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "quant/gptq.h"

namespace edgelm {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The clusters that win somewhere when weight x costs (x - c[j])^2 + b[j], in order of
// x: the lower envelope of the parabolas, each shifted by its code-length cost. hull[h]
// takes the weights in [start[h], start[h + 1]). Centers must be sorted ascending.
struct Envelope {
    std::vector<int> hull;
    std::vector<double> start;

    int cluster_of(double x) const {
        const size_t h =
            static_cast<size_t>(std::upper_bound(start.begin(), start.end(), x) - start.begin());
        return hull[h == 0 ? 0 : h - 1];
    }
};

Envelope lower_envelope(const std::vector<double>& c, const std::vector<double>& b) {
    Envelope e;
    for (size_t j = 0; j < c.size(); ++j) {
        if (!std::isfinite(b[j])) continue;  // an empty cluster under a rate target
        double x = -kInf;
        bool keep = true;
        while (!e.hull.empty()) {
            const size_t i = static_cast<size_t>(e.hull.back());
            if (c[j] == c[i]) {
                if (b[j] >= b[i]) {
                    keep = false;
                    break;
                }
                e.hull.pop_back();
                e.start.pop_back();
                continue;
            }
            x = ((c[j] * c[j] + b[j]) - (c[i] * c[i] + b[i])) / (2 * (c[j] - c[i]));
            if (e.hull.size() > 1 && x <= e.start.back()) {  // i wins nowhere
                e.hull.pop_back();
                e.start.pop_back();
                continue;
            }
            break;
        }
        if (!keep) continue;
        if (e.hull.empty()) x = -kInf;
        e.hull.push_back(static_cast<int>(j));
        e.start.push_back(x);
    }
    return e;
}

// One group of weights (a tensor or a row, without the pruned zeros), sorted, with prefix
// sums for the weighted means of contiguous runs. A weight's importance scales its squared
// error in the centers' means (row scales make it s_r^2); the assignment stays by value.
struct SortedValues {
    std::vector<float> x;
    std::vector<double> sum_w, sum_wx;  // over x[0 .. i - 1]

    SortedValues(const std::vector<float>& v, const std::vector<float>& importance) {
        std::vector<std::pair<float, float>> p(v.size());
        for (size_t i = 0; i < v.size(); ++i)
            p[i] = {v[i], importance.empty() ? 1.0f : importance[i]};
        std::sort(p.begin(), p.end());
        x.resize(p.size());
        sum_w.assign(p.size() + 1, 0.0);
        sum_wx.assign(p.size() + 1, 0.0);
        for (size_t i = 0; i < p.size(); ++i) {
            x[i] = p[i].first;
            sum_w[i + 1] = sum_w[i] + p[i].second;
            sum_wx[i + 1] = sum_wx[i] + double(p[i].second) * p[i].first;
        }
    }
    size_t first_at_least(double v) const {
        return static_cast<size_t>(std::lower_bound(x.begin(), x.end(), v) - x.begin());
    }
    double mean(size_t lo, size_t hi) const {
        return (sum_wx[hi] - sum_wx[lo]) / (sum_w[hi] - sum_w[lo]);
    }
};

struct Solution {
    std::vector<double> centers;  // ascending
    std::vector<uint64_t> counts;
    double entropy = 0;
    double lambda = 0;  // the rate weight it was found with
};

double entropy_of(const std::vector<uint64_t>& counts) {
    uint64_t n = 0;
    for (uint64_t c : counts) n += c;
    double h = 0;
    for (uint64_t c : counts)
        if (c) h -= static_cast<double>(c) / n * std::log2(static_cast<double>(c) / n);
    return h;
}

// Code-length costs lambda * -log2(p) of the clusters' current shares.
std::vector<double> rate_costs(const std::vector<uint64_t>& counts, uint64_t n, double lambda) {
    std::vector<double> b(counts.size(), 0.0);
    if (lambda <= 0) return b;
    for (size_t j = 0; j < counts.size(); ++j)
        b[j] = counts[j] ? -lambda * std::log2(static_cast<double>(counts[j]) / n) : kInf;
    return b;
}

// Lloyd's iterations from `start` with the rate weight lambda.
Solution lloyd(const SortedValues& v, Solution s, double lambda, int max_iterations) {
    const uint64_t n = v.x.size();
    const double scale = std::max(std::abs(v.x.front()), std::abs(v.x.back()));
    for (int it = 0; it < max_iterations; ++it) {
        const Envelope e = lower_envelope(s.centers, rate_costs(s.counts, n, lambda));
        std::vector<uint64_t> counts(s.centers.size(), 0);
        std::vector<double> centers = s.centers;
        for (size_t h = 0; h < e.hull.size(); ++h) {
            const size_t lo = v.first_at_least(e.start[h]);
            const size_t hi = h + 1 < e.hull.size() ? v.first_at_least(e.start[h + 1]) : n;
            const size_t j = static_cast<size_t>(e.hull[h]);
            counts[j] = hi > lo ? hi - lo : 0;
            if (counts[j]) centers[j] = v.mean(lo, hi);
        }
        double moved = 0;
        for (size_t j = 0; j < centers.size(); ++j)
            moved = std::max(moved, std::abs(centers[j] - s.centers[j]));
        s.centers = centers;
        s.counts = counts;
        // Means of sorted contiguous runs stay sorted; keep it exact after rounding.
        if (moved <= 1e-9 * scale) break;
    }
    s.entropy = entropy_of(s.counts);
    s.lambda = lambda;
    return s;
}

// k-means++ seeding on an evenly spaced sample of the sorted values (quantiles).
std::vector<double> seed_centers(const SortedValues& v, int k, std::mt19937_64& rng) {
    const size_t n = v.x.size();
    const size_t m = std::min<size_t>(n, 65536);
    std::vector<double> sample(m);
    for (size_t i = 0; i < m; ++i) sample[i] = v.x[i * n / m];
    std::vector<double> centers = {sample[rng() % m]};
    std::vector<double> d2(m);
    for (size_t i = 0; i < m; ++i) d2[i] = (sample[i] - centers[0]) * (sample[i] - centers[0]);
    while (static_cast<int>(centers.size()) < k) {
        double total = 0;
        for (double d : d2) total += d;
        if (total <= 0) break;  // fewer distinct values than clusters
        double r = std::uniform_real_distribution<double>(0, total)(rng);
        size_t pick = m - 1;
        for (size_t i = 0; i < m; ++i) {
            r -= d2[i];
            if (r <= 0) {
                pick = i;
                break;
            }
        }
        centers.push_back(sample[pick]);
        for (size_t i = 0; i < m; ++i)
            d2[i] = std::min(d2[i], (sample[i] - sample[pick]) * (sample[i] - sample[pick]));
    }
    std::sort(centers.begin(), centers.end());
    centers.erase(std::unique(centers.begin(), centers.end()), centers.end());
    return centers;
}

// k-means of one group, then, with a rate target above what it reaches, the smallest
// lambda (by bisection) whose entropy-constrained solution meets the target.
Solution solve_group(const SortedValues& v, int k, double rate, int max_iterations,
                     std::mt19937_64& rng) {
    Solution s;
    s.centers = seed_centers(v, k, rng);
    s.counts.assign(s.centers.size(), 1);
    s = lloyd(v, s, 0, max_iterations);
    if (rate <= 0 || s.entropy <= rate) return s;
    const Solution plain = s;
    // lambda is in units of squared weight: start from the variance of the values.
    const double n = static_cast<double>(v.x.size());
    double mean = 0;
    for (float x : v.x) mean += x;
    mean /= n;
    double var = 0;
    for (float x : v.x) var += (x - mean) * (x - mean);
    var = std::max(var / n, 1e-30);
    double lo = 0, hi = var;
    Solution best;
    for (int i = 0; i < 40; ++i) {  // grow hi until the target is met
        best = lloyd(v, plain, hi, max_iterations);
        if (best.entropy <= rate) break;
        lo = hi;
        hi *= 2;
    }
    for (int i = 0; i < 30; ++i) {
        const double mid = 0.5 * (lo + hi);
        Solution m = lloyd(v, plain, mid, max_iterations);
        if (m.entropy <= rate) {
            hi = mid;
            best = m;
        } else {
            lo = mid;
        }
    }
    return best;
}

// The solution's centers rounded to f16, and the envelope that assigns weights to them
// (with the solution's rate costs, so the stored indices are the ones it chose).
struct Assignment {
    std::vector<double> centers;
    Envelope envelope;
};

Assignment finalize(const Solution& s) {
    Assignment a;
    a.centers = s.centers;
    for (double& c : a.centers) c = f16_to_f32(f32_to_f16(static_cast<float>(c)));
    uint64_t n = 0;
    for (uint64_t c : s.counts) n += c;
    // Empty clusters stay out: the final assignment uses only centers that won weights.
    std::vector<double> b = rate_costs(s.counts, n, s.lambda);
    for (size_t j = 0; j < b.size(); ++j)
        if (s.counts[j] == 0) b[j] = kInf;
    a.envelope = lower_envelope(a.centers, b);
    return a;
}

}  // namespace

ClusteredTensor cluster_weights(const float* values, int64_t rows, int64_t cols,
                                const ClusterParams& p, const ClusterCalibration& calibration) {
    const std::vector<double>* gptq_factor = calibration.gptq_factor;
    ThreadPool* pool = calibration.pool;
    const std::vector<float>* energy = calibration.input_energy;
    if (energy && energy->size() != static_cast<size_t>(cols))
        throw ArgumentError("cluster: input energies for " + std::to_string(energy->size()) +
                            " columns, the matrix has " + std::to_string(cols));
    if (p.bits < 1 || p.bits > 8)
        throw ArgumentError("cluster: --bits " + std::to_string(p.bits) + " is outside 1..8");
    if (p.rate < 0 || (p.rate > 0 && p.rate >= p.bits))
        throw ArgumentError("cluster: --rate " + std::to_string(p.rate) +
                            " must be above 0 and below --bits");
    ClusteredTensor t;
    t.rows = rows;
    t.cols = cols;
    t.k = 1 << p.bits;
    t.per_row = p.per_row;
    const uint64_t n = static_cast<uint64_t>(rows * cols);
    t.indices.assign(n, 0);
    uint64_t zeros = 0;
    for (uint64_t i = 0; i < n; ++i) zeros += values[i] == 0.0f;
    t.zero_cluster = t.k > 2 && zeros * 20 >= n && zeros < n;
    const int k_free = t.zero_cluster ? t.k - 1 : t.k;
    const int first = t.zero_cluster ? 1 : 0;
    std::mt19937_64 rng(p.seed);
    // Row scales: each row divided by its root mean square (over its non-zero weights,
    // rounded to f16 as stored), so one codebook fits rows of any magnitude. The centers
    // then minimise sum s_r^2 (v / s_r - c)^2, the error of the weights themselves.
    const float* src = values;
    std::vector<float> normalized;
    std::vector<float> importance;
    if (energy) {
        importance.resize(n);
        for (uint64_t i = 0; i < n; ++i) importance[i] = (*energy)[i % static_cast<uint64_t>(cols)];
    }
    if (p.row_scales && !p.per_row) {
        t.row_scales.assign(static_cast<size_t>(rows), 1.0f);
        normalized.assign(values, values + n);
        if (importance.empty()) importance.assign(n, 1.0f);
        for (int64_t r = 0; r < rows; ++r) {
            double ss = 0;
            int64_t nz = 0;
            for (int64_t c = 0; c < cols; ++c) {
                const float v = values[r * cols + c];
                ss += double(v) * v;
                nz += v != 0.0f;
            }
            float scale = nz ? f16_to_f32(f32_to_f16(static_cast<float>(std::sqrt(ss / nz)))) : 0;
            if (!(scale > 0) || !std::isfinite(scale)) scale = 1.0f;
            t.row_scales[static_cast<size_t>(r)] = scale;
            for (int64_t c = 0; c < cols; ++c) {
                normalized[static_cast<size_t>(r * cols + c)] /= scale;
                importance[static_cast<size_t>(r * cols + c)] *= scale * scale;
            }
        }
        src = normalized.data();
    }
    const int64_t n_groups = p.per_row ? rows : 1;
    const int64_t group_len = p.per_row ? cols : rows * cols;
    t.codebook.assign(static_cast<size_t>(n_groups * t.k), 0.0f);
    std::vector<Envelope> envelopes(static_cast<size_t>(n_groups));
    for (int64_t g = 0; g < n_groups; ++g) {
        const float* x = src + g * group_len;
        std::vector<float> nonzero, weight;
        nonzero.reserve(static_cast<size_t>(group_len));
        for (int64_t i = 0; i < group_len; ++i)
            if (!t.zero_cluster || x[i] != 0.0f) {
                nonzero.push_back(x[i]);
                if (!importance.empty())
                    weight.push_back(importance[static_cast<size_t>(g * group_len + i)]);
            }
        float* cb = t.codebook.data() + g * t.k;
        if (nonzero.empty()) continue;  // an all-zero row: every index 0, center 0
        // The rate target of the non-zero weights: the zeros' share is fixed.
        double rate = p.rate;
        if (rate > 0 && t.zero_cluster) {
            const double p0 = 1.0 - static_cast<double>(nonzero.size()) / group_len;
            const double h0 = p0 > 0 ? -p0 * std::log2(p0) - (1 - p0) * std::log2(1 - p0) : 0;
            rate = std::max(0.25, (rate - h0) / (1 - p0));
        }
        const SortedValues v(nonzero, weight);
        const Assignment a = finalize(solve_group(v, k_free, rate, p.max_iterations, rng));
        for (size_t j = 0; j < a.centers.size(); ++j)
            cb[first + static_cast<int>(j)] = static_cast<float>(a.centers[j]);
        envelopes[static_cast<size_t>(g)] = a.envelope;
        uint8_t* idx = t.indices.data() + g * group_len;
        for (int64_t i = 0; i < group_len; ++i)
            idx[i] = t.zero_cluster && x[i] == 0.0f
                         ? 0
                         : static_cast<uint8_t>(first + a.envelope.cluster_of(x[i]));
    }
    if (gptq_factor) {
        // Same centers, indices chosen column by column with the rounding errors moved onto
        // the columns not yet assigned. Pruned weights stay 0; their error moves on too.
        ThreadPool one(1);
        gptq_sweep(
            values, rows, cols, *gptq_factor,
            [&](int64_t r, int64_t c, double x) {
                const size_t at = static_cast<size_t>(r * cols + c);
                if (t.zero_cluster && values[at] == 0.0f) {
                    t.indices[at] = 0;
                    return 0.0;
                }
                const int64_t g = p.per_row ? r : 0;
                const double scale =
                    t.row_scales.empty() ? 1.0 : t.row_scales[static_cast<size_t>(r)];
                const int j = first + envelopes[static_cast<size_t>(g)].cluster_of(x / scale);
                t.indices[at] = static_cast<uint8_t>(j);
                return scale * t.codebook[static_cast<size_t>(g * t.k + j)];
            },
            pool ? *pool : one);
    }
    return t;
}

std::vector<uint64_t> index_counts(const ClusteredTensor& t) {
    std::vector<uint64_t> counts(static_cast<size_t>(t.k), 0);
    for (uint8_t i : t.indices) ++counts[i];
    return counts;
}

double index_entropy(const std::vector<uint64_t>& counts) {
    return entropy_of(counts);
}

}  // namespace edgelm
