// Micro-benchmarks of every kernel variant (scalar reference and SIMD) on the row widths
// of the preset models. `kernels_bench --benchmark_format=json` for machine-readable
// output; compare variants within one run (the machine is shared and noisy).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "core/dtype.h"
#include "runtime/ops.h"
#include "runtime/row_groups.h"
#include "runtime/sparse_weights.h"

namespace edgelm {
namespace {

struct Operands {
    std::vector<uint8_t> w, x;
};

Operands make_operands(DType type, int64_t n, int rows_x) {
    const TypeTraits& tr = type_traits(type);
    const TypeTraits& at = type_traits(tr.act_type);
    std::mt19937 rng(1);
    std::normal_distribution<float> dist;
    std::vector<float> f(static_cast<size_t>(n));
    for (float& v : f) v = dist(rng);
    Operands o;
    o.w.resize(static_cast<size_t>(n / tr.block_size) * tr.block_bytes);
    kernel_variants(type).front().from_float(f.data(), o.w.data(), n);
    const size_t xb = static_cast<size_t>(n / at.block_size) * at.block_bytes;
    o.x.resize(xb * static_cast<size_t>(rows_x));
    for (int r = 0; r < rows_x; ++r)
        kernel_variants(tr.act_type).front().from_float(f.data(), o.x.data() + r * xb, n);
    return o;
}

void BM_Dot(benchmark::State& state, DType type, size_t variant) {
    const int64_t n = state.range(0);
    const auto variants = kernel_variants(type);
    if (variant >= variants.size()) {
        state.SkipWithError("variant not available on this CPU");
        return;
    }
    const Operands o = make_operands(type, n, 1);
    for (auto _ : state) benchmark::DoNotOptimize(variants[variant].dot(n, o.w.data(), o.x.data()));
    state.counters["MAC/s"] =
        benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(variants[variant].isa);
}

void BM_Dot4(benchmark::State& state, DType type) {
    const int64_t n = state.range(0);
    const KernelVariant v = kernel_variants(type).back();
    if (!v.dot4) {
        state.SkipWithError("no four-row kernel on this CPU");
        return;
    }
    const Operands o = make_operands(type, n, 4);
    float out[4];
    for (auto _ : state) {
        v.dot4(n, o.w.data(), o.x.data(), o.x.size() / 4, out);
        benchmark::DoNotOptimize(out);
    }
    state.counters["MAC/s"] = benchmark::Counter(4.0 * static_cast<double>(n),
                                                 benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(v.isa);
}

void BM_Rows4(benchmark::State& state, DType type) {
    const int64_t n = state.range(0);
    const KernelVariant v = kernel_variants(type).back();
    if (!v.rows4) {
        state.SkipWithError("no four-row kernel on this CPU");
        return;
    }
    Operands o = make_operands(type, n, 1);
    const size_t row_bytes = o.w.size();
    std::vector<uint8_t> w4;
    for (int k = 0; k < 4; ++k) w4.insert(w4.end(), o.w.begin(), o.w.end());
    float out[4];
    for (auto _ : state) {
        v.rows4(n, w4.data(), row_bytes, o.x.data(), out);
        benchmark::DoNotOptimize(out);
    }
    state.counters["MAC/s"] = benchmark::Counter(4.0 * static_cast<double>(n),
                                                 benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(v.isa);
}

// A decoding matrix-vector product with the fraction `sparsity` % of the weights zero, on
// a matrix that stays in the cache (2048 x 768, the 110m FFN's) and one read from DRAM
// every time (8192 x 4096, 128 MiB): dense f32 as the runtime runs it (repacked
// into 4-row groups) against the sparse layout (runtime/sparse_weights.h). Where the sparse
// one overtakes is kSparseBreakEven.
void BM_MatvecSparsity(benchmark::State& state, bool sparse, int64_t rows, int64_t cols) {
    const double sparsity = static_cast<double>(state.range(0)) / 100.0;
    std::mt19937 rng(2);
    std::normal_distribution<float> dist;
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<float> w(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(cols)),
        out(static_cast<size_t>(rows));
    for (float& v : w) v = u(rng) < sparsity ? 0.0f : dist(rng);
    for (float& v : x) v = dist(rng);
    WeightMatrix plain;
    plain.traits = &type_traits(DType::F32);
    plain.rows = rows;
    plain.cols = cols;
    plain.row_bytes = static_cast<uint64_t>(cols) * sizeof(float);
    plain.data = reinterpret_cast<const uint8_t*>(w.data());
    WeightArena arena(matrix_bytes(plain));
    SparseMatrixData sparse_data;
    const WeightMatrix m = sparse
                               ? pack_sparse_matrix(w.data(), rows, cols, sparse_data)
                               : (can_group_rows(plain) ? group_rows(plain, arena.data()) : plain);
    ActivationRows act;
    act.set(x.data(), 1, cols, cols, DType::F32);
    for (auto _ : state) {
        matmul_rows(m, act, out.data(), rows, 0, rows);
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["weights/s"] = benchmark::Counter(static_cast<double>(rows * cols),
                                                     benchmark::Counter::kIsIterationInvariantRate);
}

void register_all() {
    for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{2048, 768}, {8192, 4096}})
        for (bool sparse : {false, true})
            benchmark::RegisterBenchmark(
                (std::string("matvec_sparsity/") + std::to_string(rows) + "x" +
                 std::to_string(cols) + (sparse ? "/sparse" : "/dense_f32"))
                    .c_str(),
                BM_MatvecSparsity, sparse, rows, cols)
                ->DenseRange(0, 90, 10);
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
        for (size_t v = 0; v < 2; ++v)
            benchmark::RegisterBenchmark(
                (std::string("dot/") + dtype_name(t) + (v ? "/simd" : "/scalar")).c_str(), BM_Dot,
                t, v)
                ->Arg(288)
                ->Arg(768)
                ->Arg(2048);
        benchmark::RegisterBenchmark((std::string("dot4/") + dtype_name(t)).c_str(), BM_Dot4, t)
            ->Arg(288)
            ->Arg(768)
            ->Arg(2048);
        benchmark::RegisterBenchmark((std::string("rows4/") + dtype_name(t)).c_str(), BM_Rows4, t)
            ->Arg(288)
            ->Arg(768)
            ->Arg(2048);
    }
}

const int registered = (register_all(), 0);

}  // namespace
}  // namespace edgelm
