// Canonical Huffman coding of small alphabets (up to 256 symbols), as Deep Compression
// stores cluster indices: frequent indices get short codes. A code is described by its
// code lengths alone (canonical order: shorter codes first, then by symbol), so a file
// stores one length byte per symbol and the bit stream. Bits are written most significant
// first; the stream is padded with zero bits to a whole byte.
#pragma once

#include <cstdint>
#include <vector>

namespace edgelm {

// Longest code length produced: the decoder's lookup table has 2^kMaxHuffmanBits entries.
constexpr int kMaxHuffmanBits = 15;

// Code lengths (0 for a symbol that never occurs) of an optimal prefix code for `counts`,
// limited to kMaxHuffmanBits (counts are flattened until the limit holds). A single
// occurring symbol gets a 1-bit code.
std::vector<uint8_t> huffman_code_lengths(const std::vector<uint64_t>& counts);

// The bit stream of `symbols` under the canonical code of `lengths`. Throws
// std::invalid_argument for a symbol without a code.
std::vector<uint8_t> huffman_encode(const std::vector<uint8_t>& lengths, const uint8_t* symbols,
                                    uint64_t n);

// Bits the stream of `counts` takes under `lengths` (sum of count * length).
uint64_t huffman_encoded_bits(const std::vector<uint8_t>& lengths,
                              const std::vector<uint64_t>& counts);

// Decodes exactly n symbols from `bytes` into out. Returns false if the lengths do not
// form a prefix code (over-subscribed, or longer than kMaxHuffmanBits), the stream runs
// out, holds a bit pattern no code starts with, or has bytes left after the symbols'
// padding: never reads outside `bytes`.
bool huffman_decode(const std::vector<uint8_t>& lengths, const uint8_t* bytes, uint64_t n_bytes,
                    uint8_t* out, uint64_t n);

}  // namespace edgelm
