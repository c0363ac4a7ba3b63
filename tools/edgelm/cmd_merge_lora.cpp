// edgelm merge-lora BASE -o OUT --lora FILE[:SCALE]...: adapters baked into the weights.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "gguf/gguf_reader.h"
#include "runtime/model_config.h"

namespace edgelm::cli {

void add_merge_lora(CLI::App& app) {
    struct Options {
        std::string base, out;
        std::vector<std::string> lora;
    };
    auto o = std::make_shared<Options>();
    CLI::App* sub = app.add_subcommand(
        "merge-lora", "Bake LoRA adapters into a model's weights (a plain model, no adapter)");
    sub->add_option("base", o->base, "Base GGUF model")->required();
    sub->add_option("-o,--output", o->out, "Output GGUF model")->required();
    sub->add_option("--lora", o->lora, "FILE[:SCALE]: an adapter to merge; repeatable")->required();
    sub->callback([o] {
        const ModelConfig config = ModelConfig::from_gguf(GgufFile(o->base));
        merge_lora(o->base, o->out, load_lora_arguments(o->lora, config));
        std::printf("wrote %s: %s with %zu adapter(s) merged\n", o->out.c_str(), o->base.c_str(),
                    o->lora.size());
    });
}

}  // namespace edgelm::cli
