#include "runtime/row_groups.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <new>

namespace edgelm {

int64_t row_group_unit(const TypeTraits& t) {
    return t.block_size > 1 ? t.block_size : 8;
}

bool row_group_splits_scales(DType t) {
    return t == DType::Q8_0 || t == DType::Q4_0;
}

bool can_group_rows(const WeightMatrix& w) {
    return w.traits && w.traits->group4 && w.traits->group4x2 && w.grouped_rows == 0 &&
           w.rows >= 4 && w.cols % row_group_unit(*w.traits) == 0;
}

WeightArena::WeightArena(uint64_t bytes) {
    if (bytes == 0) return;
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    size_ = (bytes + page - 1) / page * page;
    // MAP_POPULATE: the kernel zeroes and maps every page in one call, instead of one
    // fault per 4 KiB page during the copy (most of the time of repacking a 15m
    // model). Transparent huge pages were tried: faster on average, but an allocation
    // that has to compact memory took 60-70 ms now and then.
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<uint8_t*>(p);
}

WeightArena::~WeightArena() {
    if (base_) ::munmap(base_, size_);
}

WeightArena::WeightArena(WeightArena&& o) noexcept : base_(o.base_), size_(o.size_) {
    o.base_ = nullptr;
    o.size_ = 0;
}

WeightArena& WeightArena::operator=(WeightArena&& o) noexcept {
    if (this != &o) {
        if (base_) ::munmap(base_, size_);
        base_ = o.base_;
        size_ = o.size_;
        o.base_ = nullptr;
        o.size_ = 0;
    }
    return *this;
}

namespace {
uint64_t unit_bytes(const WeightMatrix& w) {
    return static_cast<uint64_t>(row_group_unit(*w.traits) / w.traits->block_size) *
           w.traits->block_bytes;
}

// Writes groups [0, groups) of plain `w` to dst in order. UB: the unit's bytes, or 0 for
// a size known only at run time. With `split`, each unit's four 2-byte scales come
// first, then the four units' remaining bytes.
template <uint64_t UB>
void interleave(const WeightMatrix& w, int64_t groups, bool split, uint8_t* dst) {
    const uint64_t ub = UB ? UB : unit_bytes(w), units = w.row_bytes / ub;
    for (int64_t g = 0; g < groups; ++g) {
        const uint8_t* rows[4] = {w.row(4 * g), w.row(4 * g + 1), w.row(4 * g + 2),
                                  w.row(4 * g + 3)};
        for (uint64_t u = 0; u < units; ++u) {
            if (split) {
                for (const uint8_t* row : rows) {
                    std::memcpy(dst, row + u * ub, 2);
                    dst += 2;
                }
                for (const uint8_t* row : rows) {
                    std::memcpy(dst, row + u * ub + 2, (UB ? UB : ub) - 2);
                    dst += ub - 2;
                }
            } else {
                for (const uint8_t* row : rows) {
                    std::memcpy(dst, row + u * ub, UB ? UB : ub);
                    dst += ub;
                }
            }
        }
    }
}
}  // namespace

WeightMatrix group_rows(const WeightMatrix& w, uint8_t* dst) {
    const int64_t groups = w.rows / 4;
    const bool split = row_group_splits_scales(w.traits->type);
    switch (unit_bytes(w)) {  // fixed-size copies the compiler inlines
        case 16:
            interleave<16>(w, groups, split, dst);
            break;
        case 18:
            interleave<18>(w, groups, split, dst);
            break;
        case 32:
            interleave<32>(w, groups, split, dst);
            break;
        case 34:
            interleave<34>(w, groups, split, dst);
            break;
        default:
            interleave<0>(w, groups, split, dst);
            break;
    }
    const uint64_t tail = static_cast<uint64_t>(groups) * 4 * w.row_bytes;
    std::memcpy(dst + tail, w.data + tail, matrix_bytes(w) - tail);
    WeightMatrix grouped = w;
    grouped.data = dst;
    grouped.grouped_rows = groups * 4;
    return grouped;
}

void read_row(const WeightMatrix& w, int64_t r, uint8_t* dst) {
    if (r >= w.grouped_rows) {
        std::memcpy(dst, w.row(r), w.row_bytes);
        return;
    }
    const uint64_t ub = unit_bytes(w), units = w.row_bytes / ub, k = static_cast<uint64_t>(r % 4);
    const uint8_t* group = w.group(r / 4);
    if (row_group_splits_scales(w.traits->type)) {
        for (uint64_t u = 0; u < units; ++u) {
            const uint8_t* unit = group + u * 4 * ub;
            std::memcpy(dst + u * ub, unit + 2 * k, 2);
            std::memcpy(dst + u * ub + 2, unit + 8 + k * (ub - 2), ub - 2);
        }
        return;
    }
    for (uint64_t u = 0; u < units; ++u) std::memcpy(dst + u * ub, group + (u * 4 + k) * ub, ub);
}

}  // namespace edgelm
