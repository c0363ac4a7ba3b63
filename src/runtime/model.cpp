#include "runtime/model.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "tokenizer/gguf_vocabulary.h"

namespace edgelm {

namespace {

std::string shape_string(const std::vector<int64_t>& dims) {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "]";
}

}  // namespace

WeightMatrix Model::matrix(const std::string& name, int64_t rows, int64_t cols) {
    if (!file_->find_tensor(name) && is_clustered(*file_, name)) {
        const auto [it, fresh] = clustered_.try_emplace(name);
        if (!fresh) return it->second.view;  // a block shared by several layers
        return load_clustered_matrix(*file_, name, rows, cols, it->second);
    }
    if (!file_->find_tensor(name) && is_sparse(*file_, name)) {
        const auto [it, fresh] = sparse_.try_emplace(name);
        if (!fresh) return it->second.view;
        return load_sparse_matrix(*file_, name, rows, cols, it->second);
    }
    const GgufTensor& t = file_->tensor(name);
    if (t.dims.size() != 2 || t.dims[0] != cols || t.dims[1] != rows)
        throw FormatError(file_->path() + ": tensor '" + name + "' has shape " +
                          shape_string(t.dims) + ", expected [" + std::to_string(cols) + ", " +
                          std::to_string(rows) + "]");
    const TypeTraits* tr = find_type_traits(t.type);
    if (!tr)
        throw FormatError(
            file_->path() + ": tensor '" + name + "' has type " + dtype_name(t.type) +
            ", which the edgelm runtime does not run (f32, f16, bf16, q8_0, q4_0, q4_K, q6_K); "
            "requantize it with `edgelm quantize`");
    WeightMatrix m;
    m.traits = tr;
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = *row_bytes(t.type, cols);
    m.data = t.data;
    return m;
}

void Model::group_weight_rows() {
    ModelWeights& w = weights_;
    std::vector<WeightMatrix*> all = {&w.token_embd};
    if (!config_.tied_output) all.push_back(&w.output);
    for (LayerWeights& lw : w.layers)
        for (WeightMatrix* m : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down})
            all.push_back(m);
    // Layers that share a block share its tensors: repack each tensor once, into one
    // arena, at 64-byte aligned offsets.
    std::map<const uint8_t*, uint64_t> offset;
    uint64_t total = 0;
    for (const WeightMatrix* m : all)
        if (can_group_rows(*m) && offset.emplace(m->data, total).second)
            total += (matrix_bytes(*m) + 63) / 64 * 64;
    if (total == 0) return;
    grouped_ = WeightArena(total);
    std::map<const uint8_t*, WeightMatrix> done;
    for (WeightMatrix* m : all) {
        const auto at = offset.find(m->data);
        if (at == offset.end()) continue;
        if (const auto it = done.find(m->data); it != done.end()) {
            *m = it->second;
            continue;
        }
        const WeightMatrix plain = *m;
        uint8_t* dst = grouped_.data() + at->second;
        // One copy in memory, not two: the mapped pages go back to the page cache as
        // soon as they are copied, a slice at a time, so that peak memory is the copy
        // plus one slice, not plus the largest matrix (the embedding).
        constexpr int64_t kSliceRows = 1024;
        for (int64_t r = 0; r < plain.rows; r += kSliceRows) {
            WeightMatrix slice = plain;
            slice.data = plain.row(r);
            // Whole groups, except the last slice, which takes the rows after them.
            slice.rows = plain.rows - r <= kSliceRows + 3 ? plain.rows - r : kSliceRows;
            group_rows(slice, dst + (slice.data - plain.data));
            // From up to 64 KiB back (any page size): the page the previous slice
            // shared with this one is whole now. Dropping an unmodified mapped page is
            // always safe; it is read again from the page cache if touched.
            const uint64_t back =
                r > 0 ? std::min<uint64_t>(64 * 1024, static_cast<uint64_t>(r) * plain.row_bytes)
                      : 0;
            file_->release_pages(slice.data - back, matrix_bytes(slice) + back);
            if (slice.rows != kSliceRows) break;
        }
        *m = plain;
        m->data = dst;
        m->grouped_rows = plain.rows / 4 * 4;
        done.emplace(plain.data, *m);
    }
    if (config_.tied_output) w.output = w.token_embd;
}

const float* Model::vector(const std::string& name, int64_t n) {
    const GgufTensor& t = file_->tensor(name);
    if (t.n_elements != n)
        throw FormatError(file_->path() + ": tensor '" + name + "' has " +
                          std::to_string(t.n_elements) + " elements, expected " +
                          std::to_string(n));
    if (t.type == DType::F32) return reinterpret_cast<const float*>(t.data);
    const TypeTraits* tr = find_type_traits(t.type);
    if (!tr)
        throw FormatError(file_->path() + ": tensor '" + name + "' has unsupported type " +
                          dtype_name(t.type));
    converted_.emplace_back(static_cast<size_t>(n));
    tr->to_float(t.data, converted_.back().data(), n);
    return converted_.back().data();
}

void Model::load_classifier() {
    const GgufFile& f = *file_;
    ClassifierWeights head;
    head.labels = f.get_array(keys::kClassifierLabels, GgufType::STRING)->strings;
    if (head.labels.size() < 2)
        f.fail_key(keys::kClassifierLabels, "a classifier needs at least two labels");
    const auto pooling = f.get_string(keys::kClassifierPooling).value_or("mean");
    if (pooling != "mean")
        f.fail_key(keys::kClassifierPooling,
                   "pooling '" + pooling + "' is not one this edgelm runs (mean)");
    const uint64_t max_tokens = f.get_uint(keys::kClassifierMaxTokens).value_or(config_.ctx);
    if (max_tokens < 1 || max_tokens > static_cast<uint64_t>(config_.ctx))
        f.fail_key(keys::kClassifierMaxTokens, "must be in [1, the context length]");
    head.max_tokens = static_cast<int>(max_tokens);
    const auto n = static_cast<int64_t>(head.labels.size());
    head.weight = matrix(keys::kClassifierWeight, n, config_.dim);
    head.bias = vector(keys::kClassifierBias, n);
    weights_.classifier = std::move(head);
}

std::shared_ptr<const Model> Model::load(const std::string& path, const ModelLoadOptions& options) {
    std::shared_ptr<Model> m(new Model());
    m->file_ = std::make_unique<GgufFile>(path);
    const GgufFile& f = *m->file_;
    m->config_ = ModelConfig::from_gguf(f);
    const ModelConfig& c = m->config_;

    Vocabulary vocab = read_vocabulary(f);
    if (static_cast<int>(vocab.tokens.size()) != c.vocab)
        throw FormatError(path + ": the tokenizer has " + std::to_string(vocab.tokens.size()) +
                          " tokens but token_embd.weight has " + std::to_string(c.vocab) + " rows");
    m->tokenizer_ = make_tokenizer(std::move(vocab));

    ModelWeights& w = m->weights_;
    w.token_embd = m->matrix(keys::kTokenEmbd, c.vocab, c.dim);
    w.output_norm = m->vector(keys::kOutputNorm, c.dim);
    w.output = c.tied_output ? w.token_embd : m->matrix(keys::kOutput, c.vocab, c.dim);
    if (f.find_tensor(keys::kRopeFreqs))
        w.rope_freq_factors = m->vector(keys::kRopeFreqs, c.rope_dim / 2);
    for (int l = 0; l < c.n_layers; ++l) {
        const int block = c.block_of_layer(l);
        auto name = [&](const char* n) { return keys::block_tensor(block, n); };
        LayerWeights lw{};
        lw.attn_norm = m->vector(name(keys::kAttnNorm), c.dim);
        lw.wq = m->matrix(name(keys::kAttnQ), c.q_dim(), c.dim);
        lw.wk = m->matrix(name(keys::kAttnK), c.kv_dim(), c.dim);
        lw.wv = m->matrix(name(keys::kAttnV), c.kv_dim(), c.dim);
        lw.wo = m->matrix(name(keys::kAttnOutput), c.dim, c.q_dim());
        lw.ffn_norm = m->vector(name(keys::kFfnNorm), c.dim);
        lw.w_gate = m->matrix(name(keys::kFfnGate), c.ffn_dim, c.dim);
        lw.w_up = m->matrix(name(keys::kFfnUp), c.ffn_dim, c.dim);
        lw.w_down = m->matrix(name(keys::kFfnDown), c.dim, c.ffn_dim);
        w.layers.push_back(lw);
    }
    if (options.group_rows) m->group_weight_rows();
    if (f.find(keys::kClassifierLabels)) m->load_classifier();

    // FNV-1a over the header bytes: they name every key, shape, type and offset.
    uint64_t h = 1469598103934665603ull;
    const uint64_t header = std::min(f.data_offset(), f.file_size());
    for (uint64_t i = 0; i < header; ++i) {
        h ^= f.raw_bytes()[i];
        h *= 1099511628211ull;
    }
    m->fingerprint_ = h ^ f.file_size();
    return m;
}

}  // namespace edgelm
