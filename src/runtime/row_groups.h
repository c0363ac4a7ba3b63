// Weights repacked at load into interleaved 4-row groups, the layout of the decoding
// kernels (TypeTraits::group4). In a group, unit u of rows 0..3 lie side by side, then
// unit u + 1: a unit is one block of a quantized type or 8 elements of a float type.
// For Q8_0 and Q4_0 the four blocks' f16 scales come first (8 bytes), then their four
// quant arrays, so a kernel converts the four scales in one instruction and loads the
// quants of neighbouring rows in one go.
//
// Why: decoding reads every weight once per token, so it runs at the speed memory
// delivers it. A thread walking four plain rows at once reads four short streams
// (a 768-wide Q8_0 row is 13 cache lines) that the hardware prefetcher does not keep
// ahead of; one interleaved group is one sequential stream. The four rows still share
// each activation load. Prompt batches de-interleave a group into a small buffer and
// run the plain kernels on it (the copy is tiny next to the group's arithmetic).
#pragma once

#include <cstdint>

#include "runtime/weights.h"

namespace edgelm {

// Elements per interleaving unit of a type: its block, or 8 for float types.
int64_t row_group_unit(const TypeTraits& t);

// Whether a group of type t stores its four scales ahead of the quants (Q8_0, Q4_0).
bool row_group_splits_scales(DType t);

// Whether `w` can be repacked here: its type has a group kernel on this CPU, it has at
// least 4 rows, and its width is a whole number of units.
bool can_group_rows(const WeightMatrix& w);

// Memory for repacked weights: one anonymous mapping, populated when it is made.
class WeightArena {
  public:
    WeightArena() = default;
    explicit WeightArena(uint64_t bytes);  // throws std::bad_alloc
    ~WeightArena();
    WeightArena(WeightArena&& o) noexcept;
    WeightArena& operator=(WeightArena&& o) noexcept;
    WeightArena(const WeightArena&) = delete;
    WeightArena& operator=(const WeightArena&) = delete;

    uint8_t* data() const { return base_; }
    uint64_t size() const { return size_; }

  private:
    uint8_t* base_ = nullptr;
    uint64_t size_ = 0;
};

// Bytes `w` takes repacked (the same as plain).
inline uint64_t matrix_bytes(const WeightMatrix& w) {
    return static_cast<uint64_t>(w.rows) * w.row_bytes;
}

// Writes plain `w` (grouped_rows == 0) to dst (matrix_bytes(w)) in the grouped layout:
// every full group of 4 rows interleaved, the last rows % 4 rows plain after them.
// Returns the matrix view of dst.
WeightMatrix group_rows(const WeightMatrix& w, uint8_t* dst);

// Writes row r of `w`, whatever its layout, to dst as a plain row (w.row_bytes bytes).
void read_row(const WeightMatrix& w, int64_t r, uint8_t* dst);

}  // namespace edgelm
