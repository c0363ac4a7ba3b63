// Re-encodes a GGUF model's weight matrices to another type by round to nearest in
// ggml's layouts (Q8_0, Q4_0) or by conversion (f32, f16, bf16). Metadata is carried
// over; general.file_type is updated. The input file is only read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace edgelm {

struct TensorQuantReport {
    std::string name;
    DType from, to;
    uint64_t bytes_in, bytes_out;
    double rmse;  // root-mean-square error of the stored values against the input's
};

struct QuantizeReport {
    uint64_t size_in = 0, size_out = 0;
    std::vector<TensorQuantReport> tensors;
};

// Throws ArgumentError for an unrunnable target type or when the input is already
// stored at a lower precision than the target (that cannot restore lost precision).
QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path, DType type);

}  // namespace edgelm
