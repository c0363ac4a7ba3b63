#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "core/quant_blocks.h"
#include "core/thread_pool.h"

namespace edgelm {

namespace {

// In place: the lower Cholesky factor L (a = L L^T) of a symmetric positive-definite
// n x n row-major matrix; the upper triangle is zeroed. False if a is not positive definite.
bool cholesky_lower(std::vector<double>& a, int64_t n) {
    for (int64_t j = 0; j < n; ++j) {
        double* lj = a.data() + j * n;
        double s = lj[j];
        for (int64_t k = 0; k < j; ++k) s -= lj[k] * lj[k];
        if (!(s > 0)) return false;
        lj[j] = std::sqrt(s);
        for (int64_t i = j + 1; i < n; ++i) {
            double* li = a.data() + i * n;
            double v = li[j];
            for (int64_t k = 0; k < j; ++k) v -= li[k] * lj[k];
            li[j] = v / lj[j];
        }
    }
    for (int64_t i = 0; i < n; ++i)
        std::fill(a.begin() + i * n + i + 1, a.begin() + (i + 1) * n, 0.0);
    return true;
}

// The inverse of a lower-triangular matrix (forward substitution, column by column).
std::vector<double> invert_lower(const std::vector<double>& l, int64_t n) {
    std::vector<double> inv(static_cast<size_t>(n * n), 0.0);
    for (int64_t c = 0; c < n; ++c) {
        inv[c * n + c] = 1.0 / l[c * n + c];
        for (int64_t i = c + 1; i < n; ++i) {
            double v = 0;
            for (int64_t k = c; k < i; ++k) v -= l[i * n + k] * inv[k * n + c];
            inv[i * n + c] = v / l[i * n + i];
        }
    }
    return inv;
}

// U upper-triangular with H^-1 = U^T U, from H (row-major, upper triangle read), damped.
std::vector<double> inverse_cholesky_upper(const std::vector<double>& h, int64_t n, double damp) {
    double mean_diag = 0;
    for (int64_t i = 0; i < n; ++i) mean_diag += h[i * n + i];
    mean_diag /= static_cast<double>(n);
    if (!(mean_diag > 0)) mean_diag = 1;  // no calibration signal at all: plain rounding
    for (int attempt = 0; attempt < 6; ++attempt, damp *= 10) {
        std::vector<double> a(static_cast<size_t>(n * n));
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = i; j < n; ++j) a[i * n + j] = a[j * n + i] = h[i * n + j];
        for (int64_t i = 0; i < n; ++i) {
            // An input that never varied carries no information: treat it as unit variance
            // so the factorisation exists (its column is then simply rounded).
            if (a[i * n + i] == 0) a[i * n + i] = mean_diag;
            a[i * n + i] += damp * mean_diag;
        }
        if (!cholesky_lower(a, n)) continue;
        // H^-1 = L^-T L^-1; its lower Cholesky factor M gives U = M^T.
        const std::vector<double> li = invert_lower(a, n);
        std::vector<double> hinv(static_cast<size_t>(n * n));
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j <= i; ++j) {
                double v = 0;  // (L^-T L^-1)[i][j] = sum_k li[k][i] li[k][j], k >= max(i, j)
                for (int64_t k = i; k < n; ++k) v += li[k * n + i] * li[k * n + j];
                hinv[i * n + j] = hinv[j * n + i] = v;
            }
        if (!cholesky_lower(hinv, n)) continue;
        std::vector<double> u(static_cast<size_t>(n * n));
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) u[i * n + j] = hinv[j * n + i];
        return u;
    }
    throw Error("GPTQ: the calibration statistics are not positive definite even with damping");
}

// One block type: how a block's scale is chosen (round to nearest's rule, on the weights as
// updated so far) and how one weight is rounded on that scale.
struct BlockCodec {
    int64_t block_bytes;
    // Chooses the scale for x[0..32), returns it as stored (f16 bits).
    uint16_t (*scale)(const double* x);
    int (*level)(double x, double inv_d);  // the stored integer
    double (*value)(int level, double d);  // what a reader decodes
    void (*store)(uint8_t* block, uint16_t d, const int* levels);
};

const BlockCodec kQ8_0 = {
    sizeof(BlockQ8_0),
    [](const double* x) {
        double amax = 0;
        for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
        return f32_to_f16(static_cast<float>(amax / 127.0));
    },
    [](double x, double inv_d) {
        return static_cast<int>(std::clamp(std::round(x * inv_d), -128.0, 127.0));
    },
    [](int level, double d) { return level * d; },
    [](uint8_t* block, uint16_t d, const int* levels) {
        BlockQ8_0 b;
        b.d = d;
        for (int j = 0; j < kQK8_0; ++j) b.qs[j] = static_cast<int8_t>(levels[j]);
        std::memcpy(block, &b, sizeof b);
    },
};

const BlockCodec kQ4_0 = {
    sizeof(BlockQ4_0),
    [](const double* x) {
        // The signed value of largest magnitude maps to -8 (ggml's rule).
        double amax = 0, max = 0;
        for (int j = 0; j < kQK4_0; ++j)
            if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
        return f32_to_f16(static_cast<float>(max / -8.0));
    },
    [](double x, double inv_d) {
        return static_cast<int>(std::clamp(std::round(x * inv_d) + 8, 0.0, 15.0));
    },
    [](int level, double d) { return (level - 8) * d; },
    [](uint8_t* block, uint16_t d, const int* levels) {
        BlockQ4_0 b;
        b.d = d;
        for (int j = 0; j < kQK4_0 / 2; ++j)
            b.qs[j] = static_cast<uint8_t>(levels[j] | (levels[j + kQK4_0 / 2] << 4));
        std::memcpy(block, &b, sizeof b);
    },
};

const BlockCodec* codec_for(DType type) {
    switch (type) {
        case DType::Q8_0:
            return &kQ8_0;
        case DType::Q4_0:
            return &kQ4_0;
        default:
            return nullptr;
    }
}

}  // namespace

bool gptq_supports(DType type) {
    return codec_for(type) != nullptr;
}

std::vector<double> gptq_inverse_factor(const std::vector<double>& h, int64_t cols,
                                        const GptqParams& params) {
    if (h.size() != static_cast<size_t>(cols * cols))
        throw ArgumentError("GPTQ: calibration statistics of the wrong size");
    return inverse_cholesky_upper(h, cols, params.damp);
}

std::vector<uint8_t> gptq_quantize(const float* w, int64_t rows, int64_t cols,
                                   const std::vector<double>& h, DType type,
                                   const GptqParams& params, ThreadPool& pool) {
    if (!codec_for(type))
        throw ArgumentError(std::string("GPTQ writes q4_0 and q8_0, not ") + dtype_name(type));
    return gptq_quantize_with_factor(w, rows, cols, gptq_inverse_factor(h, cols, params), type,
                                     pool);
}

std::vector<uint8_t> gptq_quantize_with_factor(const float* w, int64_t rows, int64_t cols,
                                               const std::vector<double>& u, DType type,
                                               ThreadPool& pool) {
    const BlockCodec* codec = codec_for(type);
    if (!codec)
        throw ArgumentError(std::string("GPTQ writes q4_0 and q8_0, not ") + dtype_name(type));
    constexpr int64_t kBlock = 32;  // Q4_0 and Q8_0 blocks alike
    if (cols % kBlock != 0)
        throw ArgumentError("GPTQ: rows of " + std::to_string(cols) +
                            " weights do not divide into blocks of 32");
    if (u.size() != static_cast<size_t>(cols * cols))
        throw ArgumentError("GPTQ: a factor of the wrong size");
    const int64_t blocks = cols / kBlock;
    std::vector<uint8_t> out(static_cast<size_t>(rows * blocks * codec->block_bytes));
    pool.parallel_for(rows, [&](int64_t r0, int64_t r1) {
        std::vector<double> row(static_cast<size_t>(cols));
        int levels[kBlock];
        for (int64_t r = r0; r < r1; ++r) {
            std::copy(w + r * cols, w + (r + 1) * cols, row.begin());
            for (int64_t b = 0; b < blocks; ++b) {
                const int64_t i0 = b * kBlock;
                const uint16_t d16 = codec->scale(row.data() + i0);
                const double d = f16_to_f32(d16);
                const double inv_d = d != 0 ? 1.0 / d : 0.0;
                for (int64_t i = i0; i < i0 + kBlock; ++i) {
                    const int level = codec->level(row[static_cast<size_t>(i)], inv_d);
                    levels[i - i0] = level;
                    // Move this weight's error onto the columns still to come.
                    const double* ui = u.data() + i * cols;
                    const double err =
                        (row[static_cast<size_t>(i)] - codec->value(level, d)) / ui[i];
                    for (int64_t j = i + 1; j < cols; ++j)
                        row[static_cast<size_t>(j)] -= err * ui[j];
                }
                codec->store(out.data() + (r * blocks + b) * codec->block_bytes, d16, levels);
            }
        }
    });
    return out;
}

void gptq_sweep(const float* w, int64_t rows, int64_t cols, const std::vector<double>& u,
                const std::function<double(int64_t r, int64_t c, double x)>& round,
                ThreadPool& pool) {
    if (u.size() != static_cast<size_t>(cols * cols))
        throw ArgumentError("GPTQ: a factor of the wrong size");
    pool.parallel_for(rows, [&](int64_t r0, int64_t r1) {
        std::vector<double> row(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
            std::copy(w + r * cols, w + (r + 1) * cols, row.begin());
            for (int64_t i = 0; i < cols; ++i) {
                const double* ui = u.data() + i * cols;
                const double err =
                    (row[static_cast<size_t>(i)] - round(r, i, row[static_cast<size_t>(i)])) /
                    ui[i];
                for (int64_t j = i + 1; j < cols; ++j) row[static_cast<size_t>(j)] -= err * ui[j];
            }
        }
    });
}

}  // namespace edgelm
