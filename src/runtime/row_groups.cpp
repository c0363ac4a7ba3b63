#include "runtime/row_groups.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace edgelm {

int64_t row_group_unit(const TypeTraits& t) {
    return t.block_size > 1 ? t.block_size : 8;
}

bool can_group_rows(const WeightMatrix& w) {
    return w.traits && w.traits->group4 && w.traits->group4x2 && w.grouped_rows == 0 && w.rows >= 4 &&
           w.cols % row_group_unit(*w.traits) == 0;
}

void AlignedBytes::Free::operator()(uint8_t* p) const {
    std::free(p);
}

namespace {
uint64_t unit_bytes(const WeightMatrix& w) {
    return static_cast<uint64_t>(row_group_unit(*w.traits) / w.traits->block_size) *
           w.traits->block_bytes;
}
}  // namespace

AlignedBytes group_rows(const WeightMatrix& w, WeightMatrix* grouped) {
    const uint64_t total = static_cast<uint64_t>(w.rows) * w.row_bytes;
    AlignedBytes out;
    out.size = total;
    // aligned_alloc wants a size that is a multiple of the alignment.
    out.bytes.reset(static_cast<uint8_t*>(std::aligned_alloc(64, (total + 63) / 64 * 64)));
    if (!out.bytes) throw std::bad_alloc();
    const int64_t groups = w.rows / 4;
    const uint64_t ub = unit_bytes(w), units = w.row_bytes / ub;
    uint8_t* dst = out.bytes.get();
    for (int64_t g = 0; g < groups; ++g) {
        uint8_t* gd = dst + static_cast<uint64_t>(g) * 4 * w.row_bytes;
        for (int k = 0; k < 4; ++k) {
            const uint8_t* src = w.row(4 * g + k);
            for (uint64_t u = 0; u < units; ++u)
                std::memcpy(gd + (u * 4 + static_cast<uint64_t>(k)) * ub, src + u * ub, ub);
        }
    }
    const uint64_t tail = static_cast<uint64_t>(groups) * 4 * w.row_bytes;
    std::memcpy(dst + tail, w.data + tail, total - tail);
    *grouped = w;
    grouped->data = dst;
    grouped->grouped_rows = groups * 4;
    return out;
}

void read_row(const WeightMatrix& w, int64_t r, uint8_t* dst) {
    if (r >= w.grouped_rows) {
        std::memcpy(dst, w.row(r), w.row_bytes);
        return;
    }
    const uint64_t ub = unit_bytes(w), units = w.row_bytes / ub;
    const uint8_t* src = w.group(r / 4) + static_cast<uint64_t>(r % 4) * ub;
    for (uint64_t u = 0; u < units; ++u) std::memcpy(dst + u * ub, src + u * 4 * ub, ub);
}

}  // namespace edgelm
