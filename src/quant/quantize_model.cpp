#include "quant/quantize_model.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "runtime/model_writer.h"

namespace edgelm {

namespace {

// Bits per weight, to refuse "upgrading" a file that has already lost precision.
double bits_per_weight(DType t) {
    auto info = storage_info(static_cast<uint32_t>(t));
    return info ? 8.0 * static_cast<double>(info->block_bytes) /
                      static_cast<double>(info->block_size)
                : 0;
}

}  // namespace

QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path, DType type) {
    const TypeTraits& target = type_traits(type);
    if (!target.from_float)
        throw ArgumentError(std::string("quantize: edgelm cannot write ") + target.name + " yet");
    if (std::filesystem::exists(out_path) && std::filesystem::exists(in_path) &&
        std::filesystem::equivalent(in_path, out_path))
        throw ArgumentError("output " + out_path + " is the input file; write to a new file");
    GgufFile in(in_path);
    QuantizeReport report;
    report.size_in = in.file_size();

    GgufWriter w;
    for (const auto& [key, value] : in.metadata()) {
        if (key == keys::kAlignment) continue;
        w.set(key, value);
    }
    w.set(keys::kFileType, GgufValue::u32(llama_file_type(type)));
    if (type == DType::Q8_0 || type == DType::Q4_0)
        w.set(keys::kQuantizationVersion, GgufValue::u32(2));
    else
        w.remove(keys::kQuantizationVersion);

    report.tensors.reserve(in.tensors().size());  // the producers below keep pointers
    for (const GgufTensor& t : in.tensors()) {
        const DType to = storage_type_for(t.dims, type);
        const TypeTraits* from = find_type_traits(t.type);
        if (!from)
            throw ArgumentError(
                in_path + ": tensor '" + t.name + "' is stored as " + dtype_name(t.type) +
                ", which edgelm cannot decode; quantize from the f32 or f16 original");
        if (t.dims.size() >= 2 && bits_per_weight(t.type) < bits_per_weight(to) && t.type != to)
            throw ArgumentError(
                in_path + ": tensor '" + t.name + "' is already " + dtype_name(t.type) +
                "; converting it to " + target.name +
                " cannot restore the precision it lost; quantize from the f32 or f16 original");
        report.tensors.push_back({t.name, t.type, to, t.bytes, 0, 0.0});
        TensorQuantReport* rep = &report.tensors.back();
        const GgufTensor* src = &t;
        w.add_tensor(t.name, to, t.dims, [src, from, to, rep] {
            std::vector<float> values(static_cast<size_t>(src->n_elements));
            from->to_float(src->data, values.data(), src->n_elements);
            std::vector<uint8_t> bytes = encode_tensor(values.data(), src->n_elements, to);
            std::vector<float> back(values.size());
            type_traits(to).to_float(bytes.data(), back.data(), src->n_elements);
            double se = 0;
            for (size_t k = 0; k < values.size(); ++k)
                se += double(values[k] - back[k]) * (values[k] - back[k]);
            rep->rmse = std::sqrt(se / static_cast<double>(values.size()));
            rep->bytes_out = bytes.size();
            return bytes;
        });
    }
    w.write(out_path);
    report.size_out = std::filesystem::file_size(out_path);
    return report;
}

}  // namespace edgelm
