// The SIMD vector operations (SwiGLU, softmax, axpy, attention) against plain float
// formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "core/kernels_x86.h"
#include "runtime/ops.h"

namespace edgelm {
namespace {

std::vector<float> values(int n, float scale, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = d(rng);
    return v;
}

// Whatever variant ops.h dispatches to on this CPU.
TEST(VectorOpsTest, SwigluMatchesFormula) {
    for (int n : {1, 7, 8, 33, 768, 2048}) {
        std::vector<float> g = values(n, 4.0f, 1), up = values(n, 1.0f, 2), out = g;
        g[0] = -100.0f;  // exp overflow territory on the negative side
        out[0] = g[0];
        swiglu(out.data(), up.data(), n);
        for (size_t i = 0; i < g.size(); ++i) {
            const double expect = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * up[i];
            EXPECT_NEAR(out[i], expect, 2e-6 * std::fabs(expect) + 1e-30)
                << "n=" << n << " i=" << i;
        }
    }
}

TEST(VectorOpsTest, SoftmaxMatchesFormula) {
    for (int n : {1, 5, 8, 100, 257}) {
        std::vector<float> x = values(n, 5.0f, 3), out = x;
        softmax(out.data(), n);
        double mx = x[0], z = 0, total = 0;
        for (float v : x) mx = std::max(mx, static_cast<double>(v));
        for (float v : x) z += std::exp(v - mx);
        for (size_t i = 0; i < x.size(); ++i) {
            const double expect = std::exp(x[i] - mx) / z;
            EXPECT_NEAR(out[i], expect, 2e-6 * expect + 1e-12) << "n=" << n << " i=" << i;
            total += out[i];
        }
        EXPECT_NEAR(total, 1.0, 1e-5);
    }
}

TEST(VectorOpsTest, AxpyMatchesFormula) {
    for (int n : {3, 8, 48, 67}) {
        std::vector<float> out = values(n, 1.0f, 4), v = values(n, 1.0f, 5), ref = out;
        axpy(out.data(), 0.37f, v.data(), n);
        // FMA rounds once, a * v + out twice: equal within one rounding of the terms.
        for (size_t i = 0; i < ref.size(); ++i)
            EXPECT_NEAR(out[i], ref[i] + 0.37f * v[i],
                        1e-6 * (std::fabs(ref[i]) + std::fabs(0.37f * v[i])));
    }
}

// One head of attention against a double-precision softmax-weighted sum, for head widths
// the SIMD kernel takes (multiples of 8: 32-float chunks and 8-float tails) and one it
// does not (12), over position counts with every remainder of its 4- and 2-steps.
TEST(VectorOpsTest, AttendMatchesFormula) {
    for (int hd : {8, 12, 48, 64, 72}) {
        for (int n_pos : {1, 2, 3, 5, 8, 33}) {
            const int stride = hd * 3;  // rows of a wider cache, as in the model
            const std::vector<float> q = values(hd, 1.0f, 7);
            const std::vector<float> k = values(n_pos * stride, 1.0f, 8);
            const std::vector<float> v = values(n_pos * stride, 1.0f, 9);
            const float scale = 0.3f;
            std::vector<float> scores(static_cast<size_t>(n_pos)), out(static_cast<size_t>(hd));
            attend(q.data(), k.data(), v.data(), stride, n_pos, hd, scale, scores.data(),
                   out.data());
            std::vector<double> p(static_cast<size_t>(n_pos));
            double mx = -1e300, sum = 0;
            for (int u = 0; u < n_pos; ++u) {
                double d = 0;
                for (int i = 0; i < hd; ++i)
                    d += static_cast<double>(q[static_cast<size_t>(i)]) *
                         k[static_cast<size_t>(u * stride + i)];
                p[static_cast<size_t>(u)] = d * scale;
                mx = std::max(mx, d * scale);
            }
            for (double& x : p) sum += (x = std::exp(x - mx));
            for (int i = 0; i < hd; ++i) {
                double want = 0, mag = 0;
                for (int u = 0; u < n_pos; ++u) {
                    const double term =
                        p[static_cast<size_t>(u)] / sum * v[static_cast<size_t>(u * stride + i)];
                    want += term;
                    mag += std::fabs(term);
                }
                EXPECT_NEAR(out[static_cast<size_t>(i)], want, 1e-5 * mag + 1e-6)
                    << "hd=" << hd << " n_pos=" << n_pos << " i=" << i;
            }
        }
    }
}

}  // namespace
}  // namespace edgelm
