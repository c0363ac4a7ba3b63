#include "runtime/stored_matrix.h"

#include "runtime/clustered_weights.h"
#include "runtime/sparse_weights.h"

namespace edgelm {

std::optional<std::vector<int64_t>> weight_dims(const GgufFile& f, const std::string& name) {
    if (const GgufTensor* t = f.find_tensor(name)) return t->dims;
    if (is_clustered(f, name)) return clustered_dims(f, name);
    if (is_sparse(f, name)) return sparse_dims(f, name);
    return std::nullopt;
}

}  // namespace edgelm
