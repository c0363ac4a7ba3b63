// edgelm inspect FILE [--json]: what a GGUF file holds.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "runtime/model_config.h"
#include "tokenizer/gguf_vocabulary.h"

namespace edgelm::cli {

namespace {

struct InspectOptions {
    std::string path;
    bool json = false;
};

nlohmann::json value_json(const GgufValue& v) {
    switch (v.type) {
        case GgufType::STRING:
            return v.s;
        case GgufType::BOOL:
            return v.i != 0;
        case GgufType::F32:
        case GgufType::F64:
            return v.f;
        case GgufType::U64:
            return static_cast<uint64_t>(v.i);
        case GgufType::ARRAY: {
            // Long arrays (vocabularies) are summarised, not dumped.
            nlohmann::json a = {{"type", gguf_type_name(v.array_type)}, {"count", v.array_size()}};
            return a;
        }
        default:
            return v.i;
    }
}

std::string shape_string(const std::vector<int64_t>& dims) {
    std::string s;
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
    return s;
}

void run_inspect(const InspectOptions& o) {
    GgufFile f(o.path);
    uint64_t n_params = 0, tensor_bytes = 0;
    for (const auto& t : f.tensors()) {
        n_params += static_cast<uint64_t>(t.n_elements);
        tensor_bytes += t.bytes;
    }
    std::unique_ptr<ModelConfig> config;
    std::string config_error;
    try {
        config = std::make_unique<ModelConfig>(ModelConfig::from_gguf(f));
    } catch (const Error& e) {
        config_error = e.what();
    }
    std::unique_ptr<Vocabulary> vocab;
    if (f.find(keys::kTokModel)) vocab = std::make_unique<Vocabulary>(read_vocabulary(f));

    if (o.json) {
        nlohmann::json j;
        j["file"] = o.path;
        j["size_bytes"] = f.file_size();
        j["gguf_version"] = f.version();
        j["alignment"] = f.alignment();
        j["architecture"] = f.get_string(keys::kArchitecture).value_or("");
        if (config) {
            j["config"] = {{"dim", config->dim},
                           {"layers", config->n_layers},
                           {"heads", config->n_heads},
                           {"kv_heads", config->n_kv_heads},
                           {"head_dim", config->head_dim},
                           {"ffn", config->ffn_dim},
                           {"vocab", config->vocab},
                           {"ctx", config->ctx},
                           {"rope_dim", config->rope_dim},
                           {"rope_base", config->rope_base},
                           {"rope_freq_scale", config->rope_freq_scale},
                           {"norm_eps", config->norm_eps},
                           {"tied_output", config->tied_output}};
        }
        if (vocab) {
            j["tokenizer"] = {{"model", vocab->model},
                              {"tokens", vocab->tokens.size()},
                              {"merges", vocab->merges.size()},
                              {"bos", vocab->bos},
                              {"eos", vocab->eos},
                              {"unk", vocab->unk},
                              {"pad", vocab->pad},
                              {"add_bos", vocab->add_bos}};
        }
        nlohmann::json meta = nlohmann::json::object();
        for (const auto& [k, v] : f.metadata()) meta[k] = value_json(v);
        j["metadata"] = meta;
        nlohmann::json tensors = nlohmann::json::array();
        for (const auto& t : f.tensors())
            tensors.push_back({{"name", t.name},
                               {"type", dtype_name(t.type)},
                               {"shape", t.dims},
                               {"bytes", t.bytes},
                               {"offset", f.data_offset() + t.offset}});
        j["tensors"] = tensors;
        j["n_params"] = n_params;
        j["tensor_bytes"] = tensor_bytes;
        std::printf("%s\n", j.dump(2).c_str());
        return;
    }

    std::printf("file:          %s (%s, GGUF v%u, alignment %llu)\n", o.path.c_str(),
                human_bytes(f.file_size()).c_str(), f.version(),
                static_cast<unsigned long long>(f.alignment()));
    std::printf("architecture:  %s\n",
                f.get_string(keys::kArchitecture).value_or("(none)").c_str());
    if (config) {
        std::printf(
            "shape:         dim %d, layers %d, heads %d (kv %d, head_dim %d), ffn %d, vocab %d, "
            "ctx %d\n",
            config->dim, config->n_layers, config->n_heads, config->n_kv_heads, config->head_dim,
            config->ffn_dim, config->vocab, config->ctx);
        std::printf("rope:          dim %d, base %g, freq scale %g; rms eps %g; output %s\n",
                    config->rope_dim, config->rope_base, config->rope_freq_scale, config->norm_eps,
                    config->tied_output ? "tied to token_embd" : "separate");
    } else if (!config_error.empty()) {
        std::printf("shape:         not runnable by edgelm (%s)\n", config_error.c_str());
    }
    if (vocab)
        std::printf(
            "tokenizer:     %s, %zu tokens, %zu merges, bos %d, eos %d, unk %d, add_bos %s\n",
            vocab->model.c_str(), vocab->tokens.size(), vocab->merges.size(), vocab->bos,
            vocab->eos, vocab->unk, vocab->add_bos ? "yes" : "no");
    std::printf("metadata:      %zu keys\n", f.metadata().size());
    for (const auto& [k, v] : f.metadata())
        std::printf("  %-44s %-4s %s\n", k.c_str(), gguf_type_name(v.type),
                    v.to_display_string(4).c_str());
    std::printf("tensors:       %zu\n", f.tensors().size());
    for (const auto& t : f.tensors())
        std::printf("  %-32s %-6s %-16s %12llu bytes\n", t.name.c_str(), dtype_name(t.type),
                    shape_string(t.dims).c_str(), static_cast<unsigned long long>(t.bytes));
    std::printf("parameters:    %llu (%.2f M), tensor data %s\n",
                static_cast<unsigned long long>(n_params), static_cast<double>(n_params) / 1e6,
                human_bytes(tensor_bytes).c_str());
}

}  // namespace

void add_inspect(CLI::App& app) {
    auto o = std::make_shared<InspectOptions>();
    CLI::App* sub =
        app.add_subcommand("inspect", "Show a GGUF file's metadata, shape, tokenizer and tensors");
    sub->add_option("file", o->path, "GGUF file")->required();
    sub->add_flag("--json", o->json, "Print JSON instead of text");
    sub->callback([o] { run_inspect(*o); });
}

}  // namespace edgelm::cli
