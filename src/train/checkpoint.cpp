#include "train/checkpoint.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace edgelm::train {

namespace {

constexpr const char* kFormat = "edgelm-checkpoint-1";

nlohmann::json config_to_json(const ModelConfig& c) {
    return {{"dim", c.dim},
            {"layers", c.n_layers},
            {"heads", c.n_heads},
            {"kv_heads", c.n_kv_heads},
            {"head_dim", c.head_dim},
            {"ffn", c.ffn_dim},
            {"vocab", c.vocab},
            {"ctx", c.ctx},
            {"rope_dim", c.rope_dim},
            {"rope_base", c.rope_base},
            {"rope_freq_scale", c.rope_freq_scale},
            {"norm_eps", c.norm_eps},
            {"tied_output", c.tied_output},
            {"blocks", c.n_blocks}};
}

ModelConfig config_from_json(const nlohmann::json& j) {
    ModelConfig c;
    c.dim = j.at("dim");
    c.n_layers = j.at("layers");
    c.n_heads = j.at("heads");
    c.n_kv_heads = j.at("kv_heads");
    c.head_dim = j.at("head_dim");
    c.ffn_dim = j.at("ffn");
    c.vocab = j.at("vocab");
    c.ctx = j.at("ctx");
    c.rope_dim = j.at("rope_dim");
    c.rope_base = j.at("rope_base");
    c.rope_freq_scale = j.at("rope_freq_scale");
    c.norm_eps = j.at("norm_eps");
    c.tied_output = j.at("tied_output");
    c.n_blocks = j.at("blocks");
    c.validate();
    return c;
}

torch::Tensor bytes_tensor(const std::string& s) {
    torch::Tensor t = torch::empty({static_cast<int64_t>(s.size())}, torch::kUInt8);
    std::memcpy(t.data_ptr(), s.data(), s.size());
    return t;
}

}  // namespace

void save_checkpoint(const std::string& path, LlamaModelImpl& model,
                     torch::optim::Optimizer* optimizer, const CheckpointMeta& meta) {
    nlohmann::json j = {{"format", kFormat},
                        {"config", config_to_json(meta.config)},
                        {"step", meta.step},
                        {"tokens_seen", meta.tokens_seen},
                        {"elapsed_seconds", meta.elapsed_seconds},
                        {"seed", meta.seed},
                        {"samplers", nlohmann::json::array()}};
    for (const auto& s : meta.samplers) j["samplers"].push_back({s.epoch, s.index});

    torch::serialize::OutputArchive archive;
    archive.write("meta_json", bytes_tensor(j.dump()));
    archive.write("tokenizer_model", bytes_tensor(meta.tokenizer_model));
    torch::serialize::OutputArchive weights;
    // clone(): a view would be saved with its whole storage (the fused matrix, again).
    for (auto& [name, tensor] : gguf_named_parameters(model))
        weights.write(name, tensor.detach().clone());
    archive.write("model", weights);
    if (optimizer != nullptr) {
        torch::serialize::OutputArchive opt;
        optimizer->save(opt);
        archive.write("optimizer", opt);
    }
    std::ostringstream bytes;
    archive.save_to(bytes);
    const std::string data = bytes.str();
    AtomicFileWriter out(path);
    out.write(data.data(), data.size());
    out.commit();
}

namespace {

torch::serialize::InputArchive open_archive(const std::string& path) {
    torch::serialize::InputArchive archive;
    try {
        archive.load_from(path);
    } catch (const c10::Error& e) {
        // libtorch's message carries a backtrace after its first line.
        const std::string what = e.what_without_backtrace();
        throw FormatError(path + ": not a readable edgelm checkpoint (" +
                          what.substr(0, what.find('\n')) + ")");
    }
    return archive;
}

std::string read_bytes(torch::serialize::InputArchive& a, const std::string& key,
                       const std::string& path) {
    torch::Tensor t;
    if (!a.try_read(key, t))
        throw FormatError(path + ": checkpoint has no '" + key +
                          "' entry; it was not written by edgelm train");
    t = t.contiguous();
    return std::string(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel()));
}

}  // namespace

CheckpointMeta read_checkpoint_meta(const std::string& path) {
    torch::serialize::InputArchive archive = open_archive(path);
    CheckpointMeta m;
    try {
        const nlohmann::json j = nlohmann::json::parse(read_bytes(archive, "meta_json", path));
        if (j.at("format") != kFormat)
            throw FormatError(path + ": checkpoint format '" + j.at("format").get<std::string>() +
                              "' is not " + kFormat);
        m.config = config_from_json(j.at("config"));
        m.step = j.at("step");
        m.tokens_seen = j.at("tokens_seen");
        m.elapsed_seconds = j.at("elapsed_seconds");
        m.seed = j.at("seed");
        for (const auto& s : j.at("samplers"))
            m.samplers.push_back({s.at(0).get<uint64_t>(), s.at(1).get<uint64_t>()});
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(path + ": checkpoint metadata is damaged (" + e.what() + ")");
    } catch (const ArgumentError& e) {
        throw FormatError(path + ": checkpoint shape is invalid (" + e.what() + ")");
    }
    m.tokenizer_model = read_bytes(archive, "tokenizer_model", path);
    return m;
}

void load_checkpoint(const std::string& path, LlamaModelImpl& model,
                     torch::optim::Optimizer* optimizer) {
    torch::serialize::InputArchive archive = open_archive(path);
    torch::serialize::InputArchive weights;
    if (!archive.try_read("model", weights))
        throw FormatError(path + ": checkpoint has no model weights");
    torch::NoGradGuard no_grad;
    for (auto& [name, tensor] : gguf_named_parameters(model)) {
        torch::Tensor t;
        if (!weights.try_read(name, t))
            throw FormatError(path + ": checkpoint has no tensor '" + name + "'");
        if (t.sizes() != tensor.sizes())
            throw FormatError(path + ": tensor '" + name + "' has the wrong shape");
        tensor.copy_(t);
    }
    if (optimizer != nullptr) {
        torch::serialize::InputArchive opt;
        if (!archive.try_read("optimizer", opt))
            throw FormatError(path + ": checkpoint has no optimizer state to resume from");
        optimizer->load(opt);
    }
}

}  // namespace edgelm::train
