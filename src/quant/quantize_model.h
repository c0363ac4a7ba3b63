// Re-encodes a GGUF model's weight matrices to another type by round to nearest in
// ggml's layouts (Q8_0, Q4_0) or by conversion (f32, f16, bf16), or, given calibration
// statistics, by GPTQ (src/quant/gptq.h) for the Q8_0 / Q4_0 matrices they cover. Metadata
// is carried over; general.file_type is updated. The input file is only read.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "quant/calibration.h"

namespace edgelm {

struct TensorQuantReport {
    std::string name;
    DType from, to;
    uint64_t bytes_in, bytes_out;
    double rmse;  // root-mean-square error of the stored values against the input's
    // With calibration: the root-mean-square error of the matrix's outputs over the
    // calibration inputs, sqrt(sum_r e_r H e_r^T / (tokens * rows)) with e_r the row's
    // weight error; what GPTQ minimises. 0 without calibration.
    double output_rmse = 0;
    bool gptq = false;    // written by GPTQ rather than round to nearest
    bool scaled = false;  // its input channels scaled (activation_scaling.h)
    // With GPTQ or scaling: output_rmse that plain round to nearest gives.
    double rounded_output_rmse = 0;
};

struct QuantizeReport {
    uint64_t size_in = 0, size_out = 0;
    std::map<std::string, double> scaling_alpha;  // norm weight -> alpha chosen
    std::vector<TensorQuantReport> tensors;
};

// A tensor-name pattern (shell glob: `token_embd.weight`, `output*`, `blk.*.ffn_down*`)
// and the type its matches are stored as instead of the target, e.g. to keep the
// embedding at Q8_0 in a Q4_0 file, as llama.cpp's Q4_0 files do.
struct TensorTypeRule {
    std::string pattern;
    DType type;
};

// Parses "PATTERN=TYPE" (`token_embd.weight=q8_0`). Throws ArgumentError naming the rule.
TensorTypeRule parse_tensor_type_rule(const std::string& rule);

struct QuantizeOptions {
    explicit QuantizeOptions(DType t) : type(t) {}
    DType type;
    // The first rule that matches a tensor decides its type.
    std::vector<TensorTypeRule> keep;
    // From collect_calibration_stats on the input model; null: round to nearest.
    const CalibrationStats* calibration = nullptr;
    // With calibration: choose activation-aware channel scales first (AWQ,
    // quant/activation_scaling.h). The scaled model computes the same function.
    bool activation_scaling = true;
    int n_threads = 1;
};

// Throws ArgumentError for an unrunnable target type, a rule that matches no tensor, or
// when a tensor is already stored at a lower precision than it would be written at (that
// cannot restore lost precision).
QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path,
                              const QuantizeOptions& options);

}  // namespace edgelm
