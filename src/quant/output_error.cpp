#include "quant/output_error.h"

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"

namespace edgelm {

double output_rmse(const std::vector<float>& w, const std::vector<float>& q, int64_t rows,
                   int64_t cols, const std::vector<double>& h, int64_t tokens, ThreadPool& pool) {
    std::vector<double> per_row(static_cast<size_t>(rows));
    pool.parallel_for(rows, [&](int64_t r0, int64_t r1) {
        std::vector<double> e(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
            const size_t base = static_cast<size_t>(r * cols);
            for (size_t i = 0; i < e.size(); ++i)
                e[i] = static_cast<double>(w[base + i]) - static_cast<double>(q[base + i]);
            double sum = 0;
            for (size_t i = 0; i < e.size(); ++i) {
                const double* hi = h.data() + i * e.size();
                double hi_e = 0;
                for (size_t j = 0; j < e.size(); ++j) hi_e += hi[j] * e[j];
                sum += e[i] * hi_e;
            }
            per_row[static_cast<size_t>(r)] = sum;
        }
    });
    double total = 0;
    for (const double v : per_row) total += v;
    return std::sqrt(std::max(0.0, total) /
                     static_cast<double>(std::max<int64_t>(1, tokens) * rows));
}

}  // namespace edgelm
