// How a weight matrix is stored in a GGUF file: as a plain tensor of a ggml type, or in one
// of edgelm's encodings that replace the tensor by several (clustered: codebook indices,
// runtime/clustered_weights.h; sparse: mask and non-zeros, runtime/sparse_weights.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"

namespace edgelm {

// Dims of the 2-D weight `name` ([cols, rows]) however it is stored; nullopt if the file
// has no such matrix. Throws FormatError for a malformed encoded entry.
std::optional<std::vector<int64_t>> weight_dims(const GgufFile& f, const std::string& name);

// Throws ArgumentError "PATH stores 'NAME' sparse|clustered; <what_to_do>" for a file with a
// matrix in one of edgelm's encodings, for the tools that read plain tensors only.
void require_plain_matrices(const GgufFile& f, const std::string& what_to_do);

}  // namespace edgelm
