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
