// How much a matrix's quantization error moves its outputs on calibration inputs.
#pragma once

#include <cstdint>
#include <vector>

namespace edgelm {

class ThreadPool;

// sqrt(sum_r e_r H e_r^T / (tokens * rows)): the RMS error of the matrix's outputs over
// the calibration inputs, from the weight errors e = w - q (both rows x cols, row-major)
// and H = sum x x^T (cols x cols) over `tokens` inputs.
double output_rmse(const std::vector<float>& w, const std::vector<float>& q, int64_t rows,
                   int64_t cols, const std::vector<double>& h, int64_t tokens, ThreadPool& pool);

}  // namespace edgelm
