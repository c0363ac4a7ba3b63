#include "core/type_kernels_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "core/quant_blocks.h"

namespace edgelm::ref {

void f32_to_float(const void* src, float* dst, int64_t n) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void f32_from_float(const float* src, void* dst, int64_t n) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
float f32_dot(int64_t n, const void* row, const void* act) {
    const float* w = static_cast<const float*>(row);
    const float* x = static_cast<const float*>(act);
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += w[i] * x[i];
    return sum;
}

void f16_to_float(const void* src, float* dst, int64_t n) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
}
void f16_from_float(const float* src, void* dst, int64_t n) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
}
float f16_dot(int64_t n, const void* row, const void* act) {
    const uint16_t* w = static_cast<const uint16_t*>(row);
    const float* x = static_cast<const float*>(act);
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += f16_to_f32(w[i]) * x[i];
    return sum;
}

void bf16_to_float(const void* src, float* dst, int64_t n) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
}
void bf16_from_float(const float* src, void* dst, int64_t n) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
}
float bf16_dot(int64_t n, const void* row, const void* act) {
    const uint16_t* w = static_cast<const uint16_t*>(row);
    const float* x = static_cast<const float*>(act);
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += bf16_to_f32(w[i]) * x[i];
    return sum;
}

void q8_0_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
    for (int64_t i = 0; i < n / kQK8_0; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < kQK8_0; ++j) dst[i * kQK8_0 + j] = b[i].qs[j] * d;
    }
}
void q8_0_from_float(const float* src, void* dst, int64_t n) {
    BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
    for (int64_t i = 0; i < n / kQK8_0; ++i) {
        const float* x = src + i * kQK8_0;
        float amax = 0;
        for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        for (int j = 0; j < kQK8_0; ++j) b[i].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
    }
}
float q8_0_dot(int64_t n, const void* row, const void* act) {
    const BlockQ8_0* w = static_cast<const BlockQ8_0*>(row);
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(act);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK8_0; ++i) {
        int32_t s = 0;
        for (int j = 0; j < kQK8_0; ++j) s += w[i].qs[j] * x[i].qs[j];
        sum += static_cast<float>(s) * (f16_to_f32(w[i].d) * f16_to_f32(x[i].d));
    }
    return sum;
}

void q4_0_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
    for (int64_t i = 0; i < n / kQK4_0; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            dst[i * kQK4_0 + j] = ((b[i].qs[j] & 0x0F) - 8) * d;
            dst[i * kQK4_0 + j + kQK4_0 / 2] = ((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}
void q4_0_from_float(const float* src, void* dst, int64_t n) {
    BlockQ4_0* b = static_cast<BlockQ4_0*>(dst);
    for (int64_t i = 0; i < n / kQK4_0; ++i) {
        const float* x = src + i * kQK4_0;
        // The signed value of largest magnitude maps to -8, so the grid is asymmetric
        // toward the dominant sign (ggml's choice, kept for bit-exact files).
        float amax = 0, max = 0;
        for (int j = 0; j < kQK4_0; ++j) {
            if (std::fabs(x[j]) > amax) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            const uint8_t lo = std::min<uint8_t>(15, static_cast<int8_t>(x[j] * id + 8.5f));
            const uint8_t hi =
                std::min<uint8_t>(15, static_cast<int8_t>(x[j + kQK4_0 / 2] * id + 8.5f));
            b[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
    }
}
float q4_0_dot(int64_t n, const void* row, const void* act) {
    const BlockQ4_0* w = static_cast<const BlockQ4_0*>(row);
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(act);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK4_0; ++i) {
        int32_t s = 0;
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            s += ((w[i].qs[j] & 0x0F) - 8) * x[i].qs[j];
            s += ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + kQK4_0 / 2];
        }
        sum += static_cast<float>(s) * (f16_to_f32(w[i].d) * f16_to_f32(x[i].d));
    }
    return sum;
}

void q6_k_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ6_K* b = static_cast<const BlockQ6_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(b[i].d);
        float* y = dst + i * kQK_K;
        // Two halves of 128 weights; in each, 32 positions l carry four weights
        // (l, l + 32, l + 64, l + 96) spread over two ql bytes and one qh byte.
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = b[i].ql + half * 64;
            const uint8_t* qh = b[i].qh + half * 32;
            const int8_t* sc = b[i].scales + half * 8;
            for (int l = 0; l < 32; ++l) {
                const int g = l / 16;
                const int q0 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q1 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[half * 128 + l + 0] = d * sc[g + 0] * q0;
                y[half * 128 + l + 32] = d * sc[g + 2] * q1;
                y[half * 128 + l + 64] = d * sc[g + 4] * q2;
                y[half * 128 + l + 96] = d * sc[g + 6] * q3;
            }
        }
    }
}

namespace {
// Round half to even through the float adder, as ggml's nearest_int does (the quantizers
// below must pick the same integers as llama.cpp's to write the same files).
int nearest_int(float v) {
    const float biased = v + 12582912.0f;  // 1.5 * 2^23: the integer lands in the mantissa
    int32_t bits;
    std::memcpy(&bits, &biased, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

// Levels in [-nmax, nmax) for n values and the scale that maps them back, chosen among
// 19 candidate grids by weighted least squares with weights x^2 (ggml's
// make_qx_quants, rmse type 1). levels[i] is stored offset by nmax.
float fit_levels(int n, int nmax, const float* x, int8_t* levels) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; ++i)
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            max = x[i];
        }
    if (amax < 1e-15f) {
        std::fill(levels, levels + n, int8_t{0});
        return 0.0f;
    }
    auto level = [&](float iscale, int i) {
        return std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i])));
    };
    auto fit = [&](float iscale, float& sumlx, float& suml2) {
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = level(iscale, i);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * static_cast<float>(l);
            suml2 += w * static_cast<float>(l) * static_cast<float>(l);
        }
    };
    float iscale = static_cast<float>(-nmax) / max;
    float sumlx, suml2;
    fit(iscale, sumlx, suml2);
    for (int i = 0; i < n; ++i) levels[i] = static_cast<int8_t>(level(iscale, i) + nmax);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
        fit(iscale, sumlx, suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) levels[i] = static_cast<int8_t>(level(iscale, i) + nmax);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}
}  // namespace

// ggml's reference Q6_K quantizer: a least-squares scale per 16 weights, the 16 scales
// stored as int8 against one f16 super-scale (the largest maps to -128), then every
// weight rounded again against its stored scale.
void q6_k_from_float(const float* src, void* dst, int64_t n) {
    BlockQ6_K* b = static_cast<BlockQ6_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float* x = src + i * kQK_K;
        int8_t levels[kQK_K];
        float scales[kQK_K / 16];
        float max_scale = 0, max_abs_scale = 0;
        for (int g = 0; g < kQK_K / 16; ++g) {
            scales[g] = fit_levels(16, 32, x + 16 * g, levels + 16 * g);
            if (std::fabs(scales[g]) > max_abs_scale) {
                max_abs_scale = std::fabs(scales[g]);
                max_scale = scales[g];
            }
        }
        std::memset(&b[i], 0, sizeof(BlockQ6_K));
        if (max_abs_scale < 1e-15f) continue;  // all zero: d = 0
        const float iscale = -128.0f / max_scale;
        b[i].d = f32_to_f16(1 / iscale);
        for (int g = 0; g < kQK_K / 16; ++g)
            b[i].scales[g] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[g])));
        for (int g = 0; g < kQK_K / 16; ++g) {
            const float d = f16_to_f32(b[i].d) * static_cast<float>(b[i].scales[g]);
            if (d == 0.0f) continue;
            for (int k = 0; k < 16; ++k) {
                const int l = std::max(-32, std::min(31, nearest_int(x[16 * g + k] / d)));
                levels[16 * g + k] = static_cast<int8_t>(l + 32);
            }
        }
        // The layout q6_k_to_float reads: per half of 128, position l holds weights
        // l, l + 32, l + 64, l + 96 in two low-nibble bytes and one byte of high bits.
        for (int half = 0; half < 2; ++half) {
            const int8_t* L = levels + half * 128;
            uint8_t* ql = b[i].ql + half * 64;
            uint8_t* qh = b[i].qh + half * 32;
            for (int l = 0; l < 32; ++l) {
                ql[l] = static_cast<uint8_t>((L[l] & 0xF) | ((L[l + 64] & 0xF) << 4));
                ql[l + 32] = static_cast<uint8_t>((L[l + 32] & 0xF) | ((L[l + 96] & 0xF) << 4));
                qh[l] = static_cast<uint8_t>((L[l] >> 4) | ((L[l + 32] >> 4) << 2) |
                                             ((L[l + 64] >> 4) << 4) | ((L[l + 96] >> 4) << 6));
            }
        }
    }
}

namespace {
// Scale and min (6 bits each) of sub-block j of a Q4_K block.
void q4_k_scale_min(int j, const uint8_t* q, int& sc, int& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// Levels 0..nmax for n values as x ~ scale * l - min_out, min_out >= 0: start from the
// range [min(x, 0), max x], then try nstep + 1 widened grids and keep the weighted
// least-squares fit with the smallest weighted squared error (ggml's make_qkx2_quants
// with squared error).
float fit_levels_with_min(int n, int nmax, const float* x, const float* w, uint8_t* levels,
                          float* min_out, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; ++i) {
        min = std::min(min, x[i]);
        max = std::max(max, x[i]);
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        std::fill(levels, levels + n, uint8_t{0});
        *min_out = -min;
        return 0.0f;
    }
    float iscale = static_cast<float>(nmax) / (max - min);
    float scale = 1 / iscale;
    float best_err = 0;
    for (int i = 0; i < n; ++i) {
        const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
        levels[i] = static_cast<uint8_t>(l);
        const float diff = scale * static_cast<float>(l) + min - x[i];
        best_err += w[i] * (diff * diff);
    }
    uint8_t trial[32];
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
            trial[i] = static_cast<uint8_t>(l);
            const float fl = static_cast<float>(l);
            sum_l += w[i] * fl;
            sum_l2 += w[i] * fl * fl;
            sum_xl += w[i] * fl * x[i];
        }
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; ++i) {
                const float diff = this_scale * static_cast<float>(trial[i]) + this_min - x[i];
                err += w[i] * (diff * diff);
            }
            if (err < best_err) {
                std::copy(trial, trial + n, levels);
                best_err = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *min_out = -min;
    return scale;
}
}  // namespace

// ggml's reference Q4_K quantizer: per 32 weights a scale and a min fitted with weights
// rms(x) + |x_i|, both quantized to 6 bits against the block's largest, then every
// weight rounded again against its stored scale and min.
void q4_k_from_float(const float* src, void* dst, int64_t n) {
    BlockQ4_K* b = static_cast<BlockQ4_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float* x = src + i * kQK_K;
        uint8_t levels[kQK_K];
        float scales[8], mins[8], weights[32];
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; ++j) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
            const float av_x = std::sqrt(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
            scales[j] = fit_levels_with_min(32, 15, x + 32 * j, weights, levels + 32 * j, &mins[j],
                                            -1.0f, 0.1f, 20);
            max_scale = std::max(max_scale, scales[j]);
            max_min = std::max(max_min, mins[j]);
        }
        std::memset(&b[i], 0, sizeof(BlockQ4_K));
        const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
        const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
        for (int j = 0; j < 8; ++j) {
            // ggml stores nearest_int's result in a byte before clamping to 63.
            const int ls = std::min(
                63, static_cast<int>(static_cast<uint8_t>(nearest_int(inv_scale * scales[j]))));
            const int lm = std::min(
                63, static_cast<int>(static_cast<uint8_t>(nearest_int(inv_min * mins[j]))));
            if (j < 4) {
                b[i].scales[j] = static_cast<uint8_t>(ls);
                b[i].scales[j + 4] = static_cast<uint8_t>(lm);
            } else {
                b[i].scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
                b[i].scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
                b[i].scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
            }
        }
        b[i].d = f32_to_f16(max_scale / 63.0f);
        b[i].dmin = f32_to_f16(max_min / 63.0f);
        for (int j = 0; j < 8; ++j) {
            int sc, m;
            q4_k_scale_min(j, b[i].scales, sc, m);
            const float d = f16_to_f32(b[i].d) * static_cast<float>(sc);
            if (d == 0.0f) continue;
            const float dm = f16_to_f32(b[i].dmin) * static_cast<float>(m);
            for (int k = 0; k < 32; ++k) {
                const int l = std::max(0, std::min(15, nearest_int((x[32 * j + k] + dm) / d)));
                levels[32 * j + k] = static_cast<uint8_t>(l);
            }
        }
        for (int c = 0; c < 4; ++c)
            for (int l = 0; l < 32; ++l)
                b[i].qs[32 * c + l] =
                    static_cast<uint8_t>(levels[64 * c + l] | (levels[64 * c + 32 + l] << 4));
    }
}

void q4_k_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ4_K* b = static_cast<const BlockQ4_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
        float* y = dst + i * kQK_K;
        for (int j = 0; j < 8; ++j) {
            int sc, m;
            q4_k_scale_min(j, b[i].scales, sc, m);
            const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
            const uint8_t* q = b[i].qs + 32 * (j / 2);
            for (int l = 0; l < 32; ++l)
                y[32 * j + l] = d1 * static_cast<float>(j % 2 ? q[l] >> 4 : q[l] & 0xF) - m1;
        }
    }
}

// Against Q8_0 activations: sub-block j of 32 weights meets one activation block, so
// its sum is dx * (d * scale_j * sum(q x) - dmin * min_j * sum(x)), in integers inside.
float q4_k_dot(int64_t n, const void* row, const void* act) {
    const BlockQ4_K* b = static_cast<const BlockQ4_K*>(row);
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(act);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
        for (int j = 0; j < 8; ++j) {
            int sc, m;
            q4_k_scale_min(j, b[i].scales, sc, m);
            const BlockQ8_0& a = x[i * 8 + j];
            const uint8_t* q = b[i].qs + 32 * (j / 2);
            int32_t sq = 0, sx = 0;
            for (int l = 0; l < 32; ++l) {
                sq += (j % 2 ? q[l] >> 4 : q[l] & 0xF) * a.qs[l];
                sx += a.qs[l];
            }
            sum += f16_to_f32(a.d) * (d * static_cast<float>(sc) * static_cast<float>(sq) -
                                      dmin * static_cast<float>(m) * static_cast<float>(sx));
        }
    }
    return sum;
}

// Against Q8_0 activations: each 32-weight chunk of a super-block (two groups of 16
// with their own int8 scales) meets one activation block, and its integer sum
// sum_g scale[g] * sum_i q_i * x_i is scaled by d * dx once.
float q6_k_dot(int64_t n, const void* row, const void* act) {
    const BlockQ6_K* b = static_cast<const BlockQ6_K*>(row);
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(act);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = b[i].ql + half * 64;
            const uint8_t* qh = b[i].qh + half * 32;
            const int8_t* sc = b[i].scales + half * 8;
            for (int j = 0; j < 4; ++j) {  // chunk j holds elements 32j .. 32j + 31 of the half
                const BlockQ8_0& xb = x[i * 8 + half * 4 + j];
                int32_t isum = 0;
                for (int g = 0; g < 2; ++g) {
                    int32_t gsum = 0;
                    for (int l = g * 16; l < g * 16 + 16; ++l) {
                        const int lo = (j & 1) ? ql[l + 32] : ql[l];
                        const int q = (((j < 2) ? (lo & 0x0F) : (lo >> 4)) |
                                       (((qh[l] >> (2 * j)) & 3) << 4)) -
                                      32;
                        gsum += q * xb.qs[l];
                    }
                    isum += sc[g + 2 * j] * gsum;
                }
                sum += static_cast<float>(isum) * (d * f16_to_f32(xb.d));
            }
        }
    }
    return sum;
}

}  // namespace edgelm::ref
