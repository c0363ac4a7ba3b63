// edgelm quantize's library side: files re-encoded in ggml layouts load and run, the
// stored bytes equal a direct encode of the source values, precision is never "restored",
// and the input is left untouched.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "gguf/gguf_keys.h"
#include "gguf/gguf_reader.h"
#include "quant/quantize_model.h"
#include "runtime/session.h"
#include "test_models.h"

namespace edgelm {
namespace {

using testing::file_bytes;
using testing::make_test_model;
using testing::temp_path;
using testing::tiny_config;

TEST(QuantizeTest, Q8_0AndQ4_0FilesHoldTheReferenceEncodingAndRun) {
    auto m = make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 32, false), DType::F32, "qsrc.gguf");
    const std::string before = file_bytes(m.path);
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::F16, DType::BF16}) {
        const std::string out = temp_path(std::string("q-") + dtype_name(type) + ".gguf");
        const QuantizeReport r = quantize_model(m.path, out, QuantizeOptions(type));
        EXPECT_LT(r.size_out, r.size_in);
        GgufFile f(out);
        EXPECT_EQ(f.get_uint(keys::kFileType), llama_file_type(type));
        for (const GgufTensor& t : f.tensors()) {
            const DType expect = t.dims.size() == 1 ? DType::F32 : type;
            ASSERT_EQ(t.type, expect) << t.name;
            const auto& src = m.weights.at(t.name);
            const auto bytes = encode_tensor(src.data(), static_cast<int64_t>(src.size()), expect);
            ASSERT_EQ(0, std::memcmp(bytes.data(), t.data, bytes.size())) << t.name;
        }
        for (const auto& tr : r.tensors) {
            if (tr.to != DType::F32) {
                EXPECT_GT(tr.rmse, 0.0) << tr.name;
            }
        }
        Session s(Model::load(out), {0, 1, {}, {}});
        const std::vector<TokenId> prompt = {1, 5, 9};
        EXPECT_EQ(s.eval(prompt).size(), 300u);
        std::filesystem::remove(out);
    }
    EXPECT_EQ(file_bytes(m.path), before);
    std::filesystem::remove(m.path);
}

// K-quants where a row is whole 256-element super-blocks; elsewhere (ffn_down's 96-wide
// rows here) Q8_0 for q6_K (llama.cpp's fallback) and Q4_0 for q4_K (llama.cpp picks
// Q5_0, which edgelm does not run). The files run.
TEST(QuantizeTest, KQuantFilesFallBackOnNarrowRowsAndRun) {
    auto m =
        make_test_model(tiny_config(256, 1, 4, 4, 96, 300, 32, true), DType::F32, "qksrc.gguf");
    for (auto [type, fallback] :
         {std::pair{DType::Q6_K, DType::Q8_0}, {DType::Q4_K, DType::Q4_0}}) {
        const std::string out = temp_path(std::string("q-") + dtype_name(type) + ".gguf");
        quantize_model(m.path, out, QuantizeOptions(type));
        GgufFile f(out);
        EXPECT_EQ(f.get_uint(keys::kFileType), llama_file_type(type));
        int k_quant = 0;
        for (const GgufTensor& t : f.tensors()) {
            const DType expect = t.dims.size() == 1     ? DType::F32
                                 : t.dims[0] % 256 == 0 ? type
                                                        : fallback;
            ASSERT_EQ(t.type, expect) << t.name;
            k_quant += t.type == type;
            const auto& src = m.weights.at(t.name);
            const auto bytes = encode_tensor(src.data(), static_cast<int64_t>(src.size()), expect);
            ASSERT_EQ(0, std::memcmp(bytes.data(), t.data, bytes.size())) << t.name;
        }
        EXPECT_GT(k_quant, 0) << dtype_name(type);
        Session s(Model::load(out), {0, 1, {}, {}});
        const std::vector<TokenId> prompt = {1, 5, 9};
        EXPECT_EQ(s.eval(prompt).size(), 300u);
        std::filesystem::remove(out);
    }
    std::filesystem::remove(m.path);
}

TEST(QuantizeTest, KeepRulesChooseTheTypeOfMatchingTensors) {
    auto m = make_test_model(tiny_config(64, 2, 4, 2, 96, 300, 32, true), DType::F32, "qkeep.gguf");
    const std::string out = temp_path("q-keep.gguf");
    const std::vector<TensorTypeRule> keep = {parse_tensor_type_rule("token_embd.weight=q8_0"),
                                              parse_tensor_type_rule("blk.1.ffn_*=f16")};
    QuantizeOptions options(DType::Q4_0);
    options.keep = keep;
    quantize_model(m.path, out, options);
    GgufFile f(out);
    for (const GgufTensor& t : f.tensors()) {
        DType expect = DType::Q4_0;
        if (t.dims.size() == 1)
            expect = DType::F32;
        else if (t.name == "token_embd.weight")
            expect = DType::Q8_0;
        else if (t.name.rfind("blk.1.ffn_", 0) == 0)
            expect = DType::F16;
        EXPECT_EQ(t.type, expect) << t.name;
    }
    std::filesystem::remove(out);
    // A rule that matches nothing is a mistake (a typo), not a no-op; bad rules name themselves.
    options.keep = {parse_tensor_type_rule("tok_embd=q8_0")};
    EXPECT_THROW(quantize_model(m.path, out, options), ArgumentError);
    EXPECT_FALSE(std::filesystem::exists(out));
    for (const char* bad : {"token_embd.weight", "=q8_0", "output=", "output=q5_9"})
        EXPECT_THROW(parse_tensor_type_rule(bad), ArgumentError) << bad;
    std::filesystem::remove(m.path);
}

TEST(QuantizeTest, RefusesToRaisePrecisionAndLeavesFilesAlone) {
    auto m =
        make_test_model(tiny_config(64, 1, 4, 4, 96, 300, 32, true), DType::Q4_0, "q4src.gguf");
    const std::string out = temp_path("q4-to-q8.gguf");
    EXPECT_THROW(quantize_model(m.path, out, QuantizeOptions(DType::Q8_0)), ArgumentError);
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_THROW(quantize_model(m.path, m.path, QuantizeOptions(DType::Q4_0)),
                 ArgumentError);  // in place
    EXPECT_THROW(quantize_model(m.path, out, QuantizeOptions(DType::Q6_K)),
                 ArgumentError);                     // more bits than the input has
    Session s(Model::load(m.path), {0, 1, {}, {}});  // the input still loads
    std::filesystem::remove(m.path);
}

}  // namespace
}  // namespace edgelm
