// Quantization-aware training: weights rounded in the forward pass exactly as the
// runtime's quantizer stores them (ggml's Q8_0 / Q4_0 / Q4_K reference rounding), with
// the straight-through estimator in the backward pass (the rounding's gradient taken as 1).
// A model trained so and exported at the same type (`--export-type`) runs with exactly the
// weights it was trained with.
#pragma once

#include <torch/torch.h>

#include "core/dtype.h"

namespace edgelm::train {

// Whether fake_quantize implements `type` (q8_0, q4_0, q4_k).
bool qat_supports(DType type);

// w (rows, cols): forward value decode(encode(w)) of the type the exporter stores it as
// for `type` (storage_type_for: q4_k falls back to q4_0 on rows that are not whole
// 256-blocks; a row that is not whole 32-blocks stays f32 and passes unchanged); gradient 1.
torch::Tensor fake_quantize(const torch::Tensor& w, DType type);

}  // namespace edgelm::train
