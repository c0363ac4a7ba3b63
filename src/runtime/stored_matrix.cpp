#include "runtime/stored_matrix.h"

#include <cstring>
#include <utility>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "runtime/clustered_weights.h"
#include "runtime/sparse_weights.h"

namespace edgelm {

std::optional<std::vector<int64_t>> weight_dims(const GgufFile& f, const std::string& name) {
    if (const GgufTensor* t = f.find_tensor(name)) return t->dims;
    if (is_clustered(f, name)) return clustered_dims(f, name);
    if (is_sparse(f, name)) return sparse_dims(f, name);
    return std::nullopt;
}

void require_plain_matrices(const GgufFile& f, const std::string& what_to_do) {
    for (const auto& [key, value] : f.metadata())
        for (const auto& [prefix, how] : {std::pair{keys::kSparsePrefix, "sparse"},
                                          std::pair{keys::kClusteredPrefix, "clustered"}})
            if (key.rfind(prefix, 0) == 0)
                throw ArgumentError(f.path() + " stores '" + key.substr(std::strlen(prefix)) +
                                    "' " + how + "; " + what_to_do);
}

}  // namespace edgelm
