// Calibration statistics for error-compensating quantization (GPTQ, src/quant/gptq.h):
// for every weight matrix, H = sum over calibration tokens of x x^T, where x is the
// matrix's input as the edgelm runtime computes it on the calibration text. Matrices that
// read the same input (attn_q/k/v; ffn_gate/up) share one H; a block shared by several
// layers (--share-layers) sums the inputs of all of them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace edgelm {

class Model;

struct CalibrationParams {
    int64_t max_tokens = 8192;  // tokens of the text used (from its start)
    int n_threads = 1;
};

struct CalibrationStats {
    int64_t tokens = 0;   // calibration tokens run through the model
    int64_t windows = 0;  // model windows they ran in
    // Tensor name -> cols x cols row-major (symmetric, both triangles filled).
    std::map<std::string, std::shared_ptr<const std::vector<double>>> inputs;
};

// Runs the model over `text` in windows of its context. Throws ArgumentError if the text
// does not fill one window (too short to calibrate the model's attention over its context).
CalibrationStats collect_calibration_stats(std::shared_ptr<const Model> model,
                                           const std::string& text,
                                           const CalibrationParams& params);

}  // namespace edgelm
