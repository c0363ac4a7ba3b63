// `edgelm compress --stages`: the stage list parses into what each stage does, and every
// malformed or impossible list is refused with a message that names the stage.
#include <gtest/gtest.h>

#include "core/error.h"
#include "quant/compression_stages.h"

namespace edgelm {
namespace {

TEST(CompressionStages, ParsesEachKind) {
    const auto s =
        parse_compression_stages("prune:ffn:0.5,prune:layers:0.25,recover:300,quantize:q4_0");
    ASSERT_EQ(s.size(), 4u);
    EXPECT_EQ(s[0].kind, StageKind::Prune);
    EXPECT_EQ(s[0].unit, PruneUnit::Ffn);
    EXPECT_DOUBLE_EQ(s[0].amount, 0.5);
    EXPECT_EQ(s[1].unit, PruneUnit::Layers);
    EXPECT_EQ(s[2].kind, StageKind::Recover);
    EXPECT_EQ(s[2].steps, 300);
    EXPECT_EQ(s[3].kind, StageKind::Quantize);
    EXPECT_EQ(s[3].type, DType::Q4_0);
    EXPECT_EQ(s[3].spec, "quantize:q4_0");
    // f16 keeps float weights, so pruning may follow it.
    EXPECT_EQ(parse_compression_stages("quantize:f16,prune:heads:0.5").size(), 2u);
    EXPECT_EQ(parse_compression_stages("prune:ffn:0.5,quantize:q6_k")[1].type, DType::Q6_K);
    const auto c = parse_compression_stages("prune:ffn:0.5,cluster:5:2.75");
    EXPECT_EQ(c[1].kind, StageKind::Cluster);
    EXPECT_EQ(c[1].bits, 5);
    EXPECT_DOUBLE_EQ(c[1].rate, 2.75);
    EXPECT_DOUBLE_EQ(parse_compression_stages("cluster:4")[0].rate, 0.0);
    const auto u = parse_compression_stages("prune:0.5,recover:10,cluster:4");
    EXPECT_TRUE(u[0].unstructured);
    EXPECT_DOUBLE_EQ(u[0].amount, 0.5);
}

TEST(CompressionStages, RefusesWhatCannotRun) {
    for (const char* bad : {"",
                            "cluster",
                            "cluster:0",
                            "cluster:9",
                            "cluster:3.5",
                            "cluster:4:4",
                            "cluster:4:0",
                            "cluster:4,quantize:q8_0",
                            "quantize:q4_0,cluster:4",

                            "prune:ffn",
                            "prune:neurons:0.5",
                            "prune:ffn:1.5",
                            "prune:ffn:x",
                            "recover:0",
                            "recover:2.5",
                            "recover",
                            "quantize:q5_9",
                            "quantize:q5_k",
                            "quantize:q4_0,prune:ffn:0.5",
                            "quantize:q8_0,recover:10",
                            "prune:ffn:0.5,,quantize:q8_0"}) {
        try {
            parse_compression_stages(bad);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const ArgumentError& e) {
            EXPECT_NE(std::string(e.what()).find("stages"), std::string::npos) << e.what();
        }
    }
}

}  // namespace
}  // namespace edgelm
