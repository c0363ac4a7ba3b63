#include "core/dtype.h"

#include <array>
#include <cctype>

#include "core/checked_math.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/kernels_arm.h"
#include "core/kernels_avx512.h"
#include "core/kernels_x86.h"
#include "core/quant_blocks.h"
#include "core/type_kernels_ref.h"

namespace edgelm {

namespace {

struct StorageRow {
    uint32_t id;
    StorageInfo info;
};

// Block sizes and bytes of every ggml type (ggml.c's type_traits), including the ones
// edgelm does not compute with, so that any valid GGUF file can be checked and inspected.
constexpr std::array<StorageRow, 31> kStorage = {{
    {0, {"f32", 1, 4}},         {1, {"f16", 1, 2}},         {2, {"q4_0", 32, 18}},
    {3, {"q4_1", 32, 20}},      {6, {"q5_0", 32, 22}},      {7, {"q5_1", 32, 24}},
    {8, {"q8_0", 32, 34}},      {9, {"q8_1", 32, 36}},      {10, {"q2_K", 256, 84}},
    {11, {"q3_K", 256, 110}},   {12, {"q4_K", 256, 144}},   {13, {"q5_K", 256, 176}},
    {14, {"q6_K", 256, 210}},   {15, {"q8_K", 256, 292}},   {16, {"iq2_xxs", 256, 66}},
    {17, {"iq2_xs", 256, 74}},  {18, {"iq3_xxs", 256, 98}}, {19, {"iq1_s", 256, 50}},
    {20, {"iq4_nl", 32, 18}},   {21, {"iq3_s", 256, 110}},  {22, {"iq2_s", 256, 82}},
    {23, {"iq4_xs", 256, 136}}, {24, {"i8", 1, 1}},         {25, {"i16", 1, 2}},
    {26, {"i32", 1, 4}},        {27, {"i64", 1, 8}},        {28, {"f64", 1, 8}},
    {29, {"iq1_m", 256, 56}},   {30, {"bf16", 1, 2}},       {34, {"tq1_0", 256, 54}},
    {35, {"tq2_0", 256, 66}},
}};

const std::array<TypeTraits, 7> kScalarTraits = {{
    {DType::F32, "f32", 1, 4, ref::f32_to_float, ref::f32_from_float, ref::f32_dot, DType::F32,
     nullptr, nullptr},
    {DType::F16, "f16", 1, 2, ref::f16_to_float, ref::f16_from_float, ref::f16_dot, DType::F32,
     nullptr, nullptr},
    {DType::BF16, "bf16", 1, 2, ref::bf16_to_float, ref::bf16_from_float, ref::bf16_dot, DType::F32,
     nullptr, nullptr},
    {DType::Q8_0, "q8_0", kQK8_0, sizeof(BlockQ8_0), ref::q8_0_to_float, ref::q8_0_from_float,
     ref::q8_0_dot, DType::Q8_0, nullptr, nullptr},
    {DType::Q4_0, "q4_0", kQK4_0, sizeof(BlockQ4_0), ref::q4_0_to_float, ref::q4_0_from_float,
     ref::q4_0_dot, DType::Q8_0, nullptr, nullptr},
    {DType::Q4_K, "q4_K", kQK_K, sizeof(BlockQ4_K), ref::q4_k_to_float, ref::q4_k_from_float,
     ref::q4_k_dot, DType::Q8_0, nullptr, nullptr},
    {DType::Q6_K, "q6_K", kQK_K, sizeof(BlockQ6_K), ref::q6_k_to_float, ref::q6_k_from_float,
     ref::q6_k_dot, DType::Q8_0, nullptr, nullptr},
}};

// The scalar table with each function replaced by the best variant this CPU runs.
std::array<TypeTraits, 7> best_traits() {
    std::array<TypeTraits, 7> t = kScalarTraits;
    for (TypeTraits& tr : t) {
        const std::vector<KernelVariant> v = kernel_variants(tr.type);
        const KernelVariant& best = v.back();
        tr.to_float = best.to_float;
        tr.from_float = best.from_float;
        tr.dot = best.dot;
        tr.dot4 = best.dot4;
        tr.rows4 = best.rows4;
        tr.tile2x4 = best.tile2x4;
        tr.group4 = best.group4;
        tr.group4x2 = best.group4x2;
        tr.group4x4 = best.group4x4;
        tr.prepare_act = best.prepare_act;
        tr.prepared_bytes = best.prepared_bytes;
    }
    return t;
}

const std::array<TypeTraits, 7>& traits_table() {
    static const std::array<TypeTraits, 7> t = best_traits();
    return t;
}

}  // namespace

std::vector<KernelVariant> kernel_variants(DType t) {
    std::vector<KernelVariant> v;
    for (const TypeTraits& tr : kScalarTraits)
        if (tr.type == t)
            v.push_back({"scalar", tr.to_float, tr.from_float, tr.dot, nullptr, nullptr});
    if (v.empty()) return v;
#if defined(__x86_64__)
    if (cpu_features().avx2_fma_f16c) {
        const KernelVariant& s = v.front();
        switch (t) {
            case DType::F32:
                v.push_back({"avx2", s.to_float, s.from_float, x86::f32_dot_avx2,
                             x86::f32_dot4_avx2, x86::f32_rows4_avx2});
                v.back().tile2x4 = x86::f32_tile2x4_avx2;
                v.back().group4 = x86::f32_group4_avx2;
                v.back().group4x2 = x86::f32_group4x2_avx2;
                break;
            case DType::F16:
                v.push_back({"avx2", x86::f16_to_float_avx2, s.from_float, x86::f16_dot_avx2,
                             x86::f16_dot4_avx2, x86::f16_rows4_avx2});
                v.back().tile2x4 = x86::f16_tile2x4_avx2;
                v.back().group4 = x86::f16_group4_avx2;
                v.back().group4x2 = x86::f16_group4x2_avx2;
                break;
            case DType::BF16:
                v.push_back(
                    {"avx2", s.to_float, s.from_float, x86::bf16_dot_avx2, nullptr, nullptr});
                break;
            case DType::Q8_0:
                v.push_back({"avx2", s.to_float, x86::q8_0_from_float_avx2, x86::q8_0_dot_avx2,
                             x86::q8_0_dot4_avx2, x86::q8_0_rows4_avx2});
                v.back().group4 = x86::q8_0_group4_avx2;
                v.back().group4x2 = x86::q8_0_group4x2_avx2;
                break;
            case DType::Q4_0:
                v.push_back({"avx2", s.to_float, s.from_float, x86::q4_0_dot_avx2,
                             x86::q4_0_dot4_avx2, x86::q4_0_rows4_avx2});
                v.back().group4 = x86::q4_0_group4_avx2;
                v.back().group4x2 = x86::q4_0_group4x2_avx2;
                v.back().group4x4 = x86::q4_0_group4x4_avx2;
                break;
            case DType::Q4_K:
                v.push_back(
                    {"avx2", s.to_float, s.from_float, x86::q4_k_dot_avx2, nullptr, nullptr});
                break;
            case DType::Q6_K:
                v.push_back(
                    {"avx2", s.to_float, s.from_float, x86::q6_k_dot_avx2, nullptr, nullptr});
                break;
            default:
                break;
        }
    }
    if (cpu_features().avx512_vnni) {
        // The AVX2 variant with the row-group kernels in AVX-512 (kernels_avx512.h).
        const KernelVariant avx2 = v.back();
        const auto add = [&](Group4Fn g1, Group4x2Fn g2, Group4x2Fn g4) {
            v.push_back(avx2);
            v.back().isa = "avx512";
            v.back().group4 = g1;
            v.back().group4x2 = g2;
            v.back().group4x4 = g4;
        };
        switch (t) {
            case DType::F32:
                add(x86::f32_group4_avx512, x86::f32_group4x2_avx512, x86::f32_group4x4_avx512);
                break;
            case DType::F16:
                add(x86::f16_group4_avx512, x86::f16_group4x2_avx512, x86::f16_group4x4_avx512);
                break;
            case DType::Q8_0:
                add(x86::q8_0_group4_avx512, x86::q8_0_group4x2_avx512, x86::q8_0_group4x4_avx512);
                v.back().prepare_act = x86::q8_0_prepare_avx512;
                v.back().prepared_bytes = x86::quant_prepared_bytes_avx512;
                break;
            case DType::Q4_0:
                add(x86::q4_0_group4_avx512, x86::q4_0_group4x2_avx512, x86::q4_0_group4x4_avx512);
                v.back().prepare_act = x86::q4_0_prepare_avx512;
                v.back().prepared_bytes = x86::quant_prepared_bytes_avx512;
                break;
            case DType::Q6_K:
                v.push_back(avx2);
                v.back().isa = "avx512";
                v.back().dot = x86::q6_k_dot_avx512;
                break;
            default:
                break;
        }
    }
#elif defined(__aarch64__)
    // NEON is part of aarch64: "neon" unless EDGELM_KERNELS=scalar; "neon-dotprod" adds
    // SDOT for the quantized dot products where the CPU has it.
    if (!cpu_features().neon) return v;
    const KernelVariant s = v.front();
    const bool dotprod = cpu_features().neon_dotprod;
    switch (t) {
        case DType::F32:
            v.push_back({"neon", s.to_float, s.from_float, arm::f32_dot_neon, arm::f32_dot4_neon,
                         arm::f32_rows4_neon});
            break;
        case DType::F16:
            v.push_back({"neon", arm::f16_to_float_neon, s.from_float, arm::f16_dot_neon,
                         arm::f16_dot4_neon, arm::f16_rows4_neon});
            break;
        case DType::BF16:
            v.push_back({"neon", s.to_float, s.from_float, arm::bf16_dot_neon, arm::bf16_dot4_neon,
                         arm::bf16_rows4_neon});
            break;
        case DType::Q8_0:
            v.push_back({"neon", s.to_float, arm::q8_0_from_float_neon, arm::q8_0_dot_neon,
                         arm::q8_0_dot4_neon, arm::q8_0_rows4_neon});
            if (dotprod)
                v.push_back({"neon-dotprod", s.to_float, arm::q8_0_from_float_neon,
                             arm::q8_0_dot_dotprod, arm::q8_0_dot4_dotprod,
                             arm::q8_0_rows4_dotprod});
            break;
        case DType::Q4_0:
            v.push_back({"neon", s.to_float, s.from_float, arm::q4_0_dot_neon, arm::q4_0_dot4_neon,
                         arm::q4_0_rows4_neon});
            if (dotprod)
                v.push_back({"neon-dotprod", s.to_float, s.from_float, arm::q4_0_dot_dotprod,
                             arm::q4_0_dot4_dotprod, arm::q4_0_rows4_dotprod});
            break;
        default:
            break;
    }
#endif
    return v;
}

std::optional<StorageInfo> storage_info(uint32_t raw_type) {
    for (const auto& row : kStorage)
        if (row.id == raw_type) return row.info;
    return std::nullopt;
}

const TypeTraits* find_type_traits(DType t) {
    for (const auto& tr : traits_table())
        if (tr.type == t) return &tr;
    return nullptr;
}

const TypeTraits& type_traits(DType t) {
    const TypeTraits* tr = find_type_traits(t);
    if (!tr)
        throw ArgumentError(std::string("tensor type ") + dtype_name(t) +
                            " is not supported by the edgelm runtime (supported: f32, f16, "
                            "bf16, q8_0, q4_0, q6_K); requantize the file with `edgelm quantize`");
    return *tr;
}

const char* dtype_name(DType t) {
    auto info = storage_info(static_cast<uint32_t>(t));
    return info ? info->name : "unknown";
}

std::optional<DType> runnable_dtype_from_name(std::string_view name) {
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto& tr : kScalarTraits) {
        std::string known(tr.name);  // "q6_K": ggml's names mix cases
        for (char& c : known) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (tr.from_float && lower == known) return tr.type;
    }
    return std::nullopt;
}

std::optional<uint64_t> row_bytes(DType t, int64_t n) {
    auto info = storage_info(static_cast<uint32_t>(t));
    if (!info || n < 0 || n % info->block_size != 0) return std::nullopt;
    return checked_mul(static_cast<uint64_t>(n / info->block_size), info->block_bytes);
}

}  // namespace edgelm
