// Weights repacked at load into interleaved 4-row groups, the layout of the decoding
// kernels (TypeTraits::group4). In a group, unit u of rows 0..3 lie side by side, then
// unit u + 1: a unit is one block of a quantized type or 8 elements of a float type.
//
// Why: decoding reads every weight once per token, so it runs at the speed memory
// delivers it. A thread walking four plain rows at once reads four short streams
// (a 768-wide Q8_0 row is 13 cache lines) that the hardware prefetcher does not keep
// ahead of; one interleaved group is one sequential stream. The four rows still share
// each activation load. Prompt batches de-interleave a group into a small buffer and
// run the plain kernels on it (the copy is tiny next to the group's arithmetic).
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/weights.h"

namespace edgelm {

// Elements per interleaving unit of a type: its block, or 8 for float types.
int64_t row_group_unit(const TypeTraits& t);

// Whether `w` can be repacked here: its type has a group kernel on this CPU, it has at
// least 4 rows, and its width is a whole number of units.
bool can_group_rows(const WeightMatrix& w);

// Memory for repacked weights: 64-byte aligned, freed on destruction.
struct AlignedBytes {
    struct Free {
        void operator()(uint8_t* p) const;
    };
    std::unique_ptr<uint8_t, Free> bytes;
    uint64_t size = 0;
};

// Copies plain `w` (grouped_rows == 0) into a new buffer in the grouped layout: every
// full group of 4 rows interleaved, the last rows % 4 rows plain after them. Returns
// the buffer; `grouped` gets the matrix view of it.
AlignedBytes group_rows(const WeightMatrix& w, WeightMatrix* grouped);

// Writes row r of `w`, whatever its layout, to dst as a plain row (w.row_bytes bytes).
void read_row(const WeightMatrix& w, int64_t r, uint8_t* dst);

}  // namespace edgelm
