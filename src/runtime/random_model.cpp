#include "runtime/random_model.h"

#include <cmath>

#include "core/error.h"
#include "runtime/model_writer.h"
#include "tokenizer/synthetic_vocabulary.h"

namespace edgelm {

namespace {

// splitmix64 stream -> Box-Muller normals; one stream per tensor so that a tensor's
// values do not depend on the tensors before it.
class NormalStream {
  public:
    explicit NormalStream(uint64_t seed) : state_(seed) {}
    float next(float stddev) {
        const double u1 = (static_cast<double>(next_u64() >> 11) + 0.5) * 0x1.0p-53;
        const double u2 = static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
        return static_cast<float>(stddev * std::sqrt(-2.0 * std::log(u1)) *
                                  std::cos(2.0 * M_PI * u2));
    }

  private:
    uint64_t next_u64() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    uint64_t state_;
};

}  // namespace

ModelConfig preset_config(const std::string& name) {
    if (name == "260k") return ModelConfig::llama(64, 5, 8, 4, 172, 512, 512, true);
    if (name == "15m") return ModelConfig::llama(288, 6, 6, 6, 768, 32000, 256, true);
    if (name == "42m") return ModelConfig::llama(512, 8, 8, 8, 1376, 32000, 1024, true);
    if (name == "110m") return ModelConfig::llama(768, 12, 12, 12, 2048, 32000, 1024, true);
    throw ArgumentError("unknown preset '" + name + "' (choose 260k, 15m, 42m or 110m)");
}

void write_random_model(const std::string& path, const ModelConfig& config, DType type,
                        uint64_t seed) {
    config.validate();
    std::vector<ModelTensorSource> tensors = model_tensor_layout(config);
    for (size_t i = 0; i < tensors.size(); ++i) {
        ModelTensorSource& t = tensors[i];
        int64_t n = 1;
        for (int64_t d : t.dims) n *= d;
        if (t.dims.size() == 1) {
            t.fill = [n](float* out) { std::fill(out, out + n, 1.0f); };
        } else {
            const uint64_t stream_seed = seed * 0x100000001B3ull + i;
            t.fill = [n, stream_seed](float* out) {
                NormalStream rng(stream_seed);
                for (int64_t k = 0; k < n; ++k) out[k] = rng.next(0.02f);
            };
        }
    }
    write_model(path, config, make_synthetic_spm_vocabulary(config.vocab), tensors, type,
                "edgelm-random");
}

}  // namespace edgelm
