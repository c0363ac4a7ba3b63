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
