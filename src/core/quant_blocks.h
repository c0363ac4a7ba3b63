// ggml's block layouts for the quantized types edgelm computes with. Byte-exact with
// ggml-common.h so files move freely between edgelm and llama.cpp.
#pragma once

#include <cstdint>

namespace edgelm {

constexpr int kQK8_0 = 32;
constexpr int kQK4_0 = 32;

// Q8_0: 32 weights = d * qs[i]; d is an f16 scale, qs are int8. 34 bytes.
struct BlockQ8_0 {
    uint16_t d;  // f16 bits
    int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must be 34 bytes (ggml layout)");

// Q4_0: 32 weights = d * (q - 8), q in [0, 15]. Byte j holds weight j in its low nibble
// and weight j + 16 in its high nibble. 18 bytes.
struct BlockQ4_0 {
    uint16_t d;  // f16 bits
    uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block must be 18 bytes (ggml layout)");

constexpr int kQK_K = 256;

// Q6_K: a super-block of 256 weights in 16 groups of 16; weight = d * scales[g] * (q - 32)
// with q a 6-bit value: low 4 bits in ql, high 2 bits in qh. 210 bytes. edgelm decodes
// it (llama-quantize stores output matrices this way) but does not produce it yet.
// Q4_K: 256 weights as 8 sub-blocks of 32, w = d * scale_j * q - dmin * min_j with q in
// 0..15; the sub-blocks' 6-bit scales and mins packed into 12 bytes (ggml's layout:
// bytes 0-3 scales 0-3 and bytes 4-7 mins 0-3 in their low 6 bits; bytes 8-11 the low
// nibbles of scale and min 4-7, whose top 2 bits sit in the top bits of bytes 0-7).
struct BlockQ4_K {
    uint16_t d;     // f16 bits: the scales' scale
    uint16_t dmin;  // f16 bits: the mins' scale
    uint8_t scales[12];
    uint8_t qs[kQK_K / 2];  // per 64 weights: 32 bytes, low nibbles first 32, high next 32
};
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block must be 144 bytes (ggml layout)");

struct BlockQ6_K {
    uint8_t ql[kQK_K / 2];
    uint8_t qh[kQK_K / 4];
    int8_t scales[kQK_K / 16];
    uint16_t d;  // f16 bits
};
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block must be 210 bytes (ggml layout)");

}  // namespace edgelm
