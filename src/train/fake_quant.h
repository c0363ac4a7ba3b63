// Quantization-aware training: weights rounded in the forward pass exactly as the
// runtime's quantizer stores them (ggml's Q8_0 / Q4_0 reference rounding, f16 scales), with
// the straight-through estimator in the backward pass (the rounding's gradient taken as 1).
// A model trained so and exported at the same type (`--export-type`) runs with exactly the
// weights it was trained with.
#pragma once

#include <torch/torch.h>

#include "core/dtype.h"

namespace edgelm::train {

// Whether fake_quantize implements `type` (q8_0, q4_0).
bool qat_supports(DType type);

// w (rows, cols): forward value decode(encode(w)) of `type`, blocks of 32 along cols;
// gradient 1. Matrices whose cols are not a multiple of 32 pass unchanged (the exporter
// stores them at another type too).
torch::Tensor fake_quantize(const torch::Tensor& w, DType type);

}  // namespace edgelm::train
