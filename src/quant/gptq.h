// Error-compensating quantization of one weight matrix (GPTQ: Frantar et al., 2022,
// "Accurate Post-Training Quantization for Generative Pre-trained Transformers").
//
// Round to nearest minimises each weight's own error. GPTQ minimises the error of the
// layer's output over calibration inputs X, ||X W^T - X Q^T||^2: it quantizes the columns
// of W one at a time and moves each column's rounding error onto the columns not yet
// quantized, weighted by the inverse of the inputs' second moment H = X^T X (through its
// Cholesky factor, so the update is exact for the quadratic). Rows are independent, so
// they run in parallel. Block scales (ggml's Q4_0 / Q8_0, 32 columns each) are chosen when
// the algorithm reaches a block, from the weights as updated so far, by the same rule as
// round to nearest; the output is ordinary ggml blocks that any Q4_0 / Q8_0 reader runs.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/dtype.h"

namespace edgelm {

class ThreadPool;

struct GptqParams {
    // Added to H's diagonal, as a fraction of its mean: keeps the factorisation stable when
    // some inputs barely vary (GPTQ's default 0.01).
    double damp = 0.01;
};

// Whether gptq_quantize can write this type.
bool gptq_supports(DType type);

// w: rows x cols (row-major floats); h: cols x cols, the sum of x x^T over calibration
// inputs x (only the upper triangle is read). Returns rows x cols of `type` in ggml's
// layout. Throws ArgumentError for an unsupported type or cols not a multiple of 32.
std::vector<uint8_t> gptq_quantize(const float* w, int64_t rows, int64_t cols,
                                   const std::vector<double>& h, DType type,
                                   const GptqParams& params, ThreadPool& pool);

// The two halves of gptq_quantize, for matrices that share one input (q/k/v, gate/up):
// the factor U (upper-triangular, H^-1 = U^T U with H damped) is computed once, O(cols^3),
// and each matrix is swept with it.
std::vector<double> gptq_inverse_factor(const std::vector<double>& h, int64_t cols,
                                        const GptqParams& params);
std::vector<uint8_t> gptq_quantize_with_factor(const float* w, int64_t rows, int64_t cols,
                                               const std::vector<double>& u, DType type,
                                               ThreadPool& pool);

// The GPTQ sweep with any scalar rounding rule, for codebooks (quant/weight_clustering.h):
// round(r, c, x) stores weight (r, c), whose value after the updates so far is x, and
// returns the value a reader decodes. Columns are visited in order; rows run in parallel.
void gptq_sweep(const float* w, int64_t rows, int64_t cols, const std::vector<double>& u,
                const std::function<double(int64_t r, int64_t c, double x)>& round,
                ThreadPool& pool);

}  // namespace edgelm
