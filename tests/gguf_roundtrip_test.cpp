// GGUF writer and reader round trips of every value type and several tensor types and
// alignments, and the writer's refusals and atomicity.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gguf_test_support.h"

namespace edgelm {
namespace {

using namespace gguf_test_support;  // NOLINT: test helpers

// ---- round trip ---------------------------------------------------------------------

struct TensorSpec {
    std::string name;
    DType type;
    std::vector<int64_t> dims;
    uint64_t bytes;  // computed by hand from ggml's block sizes
};

class GgufRoundTrip : public TempDirTest, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(GgufRoundTrip, EveryValueTypeAndTensorTypeSurvives) {
    const uint32_t alignment = GetParam();
    std::vector<std::pair<std::string, GgufValue>> kv;
    if (alignment != kGgufDefaultAlignment)
        kv.emplace_back("general.alignment", GgufValue::u32(alignment));
    kv.emplace_back("u8", scalar(GgufType::U8, 255));
    kv.emplace_back("i8", scalar(GgufType::I8, -128));
    kv.emplace_back("u16", scalar(GgufType::U16, 65535));
    kv.emplace_back("i16", scalar(GgufType::I16, -32768));
    kv.emplace_back("u32", GgufValue::u32(0xFFFFFFFFu));
    kv.emplace_back("i32", GgufValue::i32(std::numeric_limits<int32_t>::min()));
    kv.emplace_back("f32", GgufValue::f32(-0.1f));
    kv.emplace_back("f32.inf", GgufValue::f32(std::numeric_limits<float>::infinity()));
    kv.emplace_back("bool.true", GgufValue::boolean(true));
    kv.emplace_back("bool.false", GgufValue::boolean(false));
    kv.emplace_back("string", GgufValue::string("hello"));
    kv.emplace_back("string.empty", GgufValue::string(""));
    kv.emplace_back("string.utf8",
                    GgufValue::string("h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\xA6\x99"));
    kv.emplace_back("u64", GgufValue::u64(kU64Max));
    kv.emplace_back("i64", scalar(GgufType::I64, std::numeric_limits<int64_t>::min()));
    kv.emplace_back("f64", scalar(GgufType::F64, 0, 3.141592653589793));
    kv.emplace_back("arr.u8", array(GgufType::U8, {0, 7, 255}));
    kv.emplace_back("arr.i8", array(GgufType::I8, {-128, 0, 127}));
    kv.emplace_back("arr.u16", array(GgufType::U16, {1, 65535}));
    kv.emplace_back("arr.i16", array(GgufType::I16, {-32768, 32767}));
    kv.emplace_back("arr.u32", array(GgufType::U32, {0, 0xFFFFFFFF}));
    kv.emplace_back("arr.i32", GgufValue::i32_array({-1, 0, 2147483647}));
    kv.emplace_back("arr.u64", array(GgufType::U64, {0, -1}));  // -1: 2^64-1 bit-cast
    kv.emplace_back("arr.i64", array(GgufType::I64, {std::numeric_limits<int64_t>::min(), 5}));
    kv.emplace_back("arr.bool", array(GgufType::BOOL, {1, 0, 1}));
    kv.emplace_back("arr.f32", GgufValue::f32_array({0.5f, -1e-7f, 3e38f}));
    kv.emplace_back("arr.f64", array(GgufType::F64, {}, {1e300, -2.5, 0.0}));
    kv.emplace_back("arr.str",
                    GgufValue::string_array({"a", "", "\xE2\x96\x81tok", "\xF0\x9F\xA6\x99"}));
    kv.emplace_back("arr.i32.empty", GgufValue::i32_array({}));
    kv.emplace_back("arr.f32.empty", GgufValue::f32_array({}));
    kv.emplace_back("arr.str.empty", GgufValue::string_array({}));
    kv.emplace_back("\xC3\xA9.key", GgufValue::string("non-ASCII key"));

    const std::vector<TensorSpec> specs = {
        {"f32.1d", DType::F32, {7}, 28},
        {"f16.2d.\xD0\xB2\xD0\xB5\xD1\x81", DType::F16, {3, 5}, 30},
        {"q8_0.3d", DType::Q8_0, {64, 2, 3}, 12 * 34},
        {"q4_0.4d", DType::Q4_0, {32, 2, 2, 2}, 8 * 18},
        {"q4_K.2d", DType::Q4_K, {256, 3}, 3 * 144},
    };
    std::vector<std::vector<uint8_t>> data;
    for (size_t k = 0; k < specs.size(); ++k)
        data.push_back(pattern(specs[k].bytes, static_cast<uint8_t>(k)));

    GgufWriter w;
    for (const auto& [key, value] : kv) w.set(key, value);
    for (size_t k = 0; k < specs.size(); ++k) {
        const TensorSpec& s = specs[k];
        if (k % 2 == 0) {
            w.add_tensor(s.name, s.type, s.dims, data[k].data(), data[k].size());
        } else {
            std::vector<uint8_t> copy = data[k];
            w.add_tensor(s.name, s.type, s.dims, [copy] { return copy; });
        }
    }
    const std::string file = path("model.gguf");
    w.write(file);

    GgufFile f(file);
    EXPECT_EQ(f.version(), kGgufVersion);
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.get_uint("general.alignment"), alignment == kGgufDefaultAlignment
                                                   ? std::nullopt
                                                   : std::optional<uint64_t>(alignment));
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    EXPECT_EQ(f.file_size() % alignment, 0u);  // the last tensor is padded too
    ASSERT_EQ(f.metadata().size(), kv.size());
    for (size_t k = 0; k < kv.size(); ++k) {
        SCOPED_TRACE(kv[k].first);
        EXPECT_EQ(f.metadata()[k].first, kv[k].first);
        expect_same_value(f.metadata()[k].second, kv[k].second);
        EXPECT_EQ(f.find(kv[k].first), &f.metadata()[k].second);
    }

    ASSERT_EQ(f.tensors().size(), specs.size());
    for (size_t k = 0; k < specs.size(); ++k) {
        const TensorSpec& s = specs[k];
        const GgufTensor& t = f.tensors()[k];
        SCOPED_TRACE(s.name);
        EXPECT_EQ(t.name, s.name);
        EXPECT_EQ(&f.tensor(s.name), &t);
        EXPECT_EQ(t.dims, s.dims);
        EXPECT_EQ(t.type, s.type);
        EXPECT_EQ(t.bytes, s.bytes);
        int64_t n = 1;
        for (int64_t d : s.dims) n *= d;
        EXPECT_EQ(t.n_elements, n);
        EXPECT_EQ(t.cols() * t.rows(), n);
        EXPECT_EQ((f.data_offset() + t.offset) % alignment, 0u);
        EXPECT_EQ(t.data, f.raw_bytes() + f.data_offset() + t.offset);
        ASSERT_LE(f.data_offset() + t.offset + t.bytes, f.file_size());
        EXPECT_EQ(std::memcmp(t.data, data[k].data(), data[k].size()), 0);
    }
}

// 32 is the default: the writer stores no general.alignment key for it.
INSTANTIATE_TEST_SUITE_P(Alignments, GgufRoundTrip, ::testing::Values(32u, 64u),
                         [](const auto& p) { return "Align" + std::to_string(p.param); });

// ---- writer -------------------------------------------------------------------------

using GgufWriterTest = TempDirTest;

TEST_F(GgufWriterTest, RefusesDuplicateNameAndWrongByteCount) {
    GgufWriter w;
    const std::vector<uint8_t> d(64);
    w.add_tensor("t", DType::F32, {4}, d.data(), 16);
    expect_contains(
        message_of<ArgumentError>([&] { w.add_tensor("t", DType::F32, {4}, d.data(), 16); }),
        {"'t'", "twice"});
    expect_contains(message_of<ArgumentError>([&] {
                        w.add_tensor("u", DType::F32, {4, 2}, d.data(), 31);
                    }),
                    {"'u'", "31 bytes given", "needs 32"});
    EXPECT_THROW(w.add_tensor("q", DType::Q8_0, {32}, d.data(), 32), ArgumentError);  // needs 34
}

TEST_F(GgufWriterTest, RefusesBadShapesAndValues) {
    GgufWriter w;
    auto none = [] { return std::vector<uint8_t>{}; };
    EXPECT_THROW(w.add_tensor("a", DType::F32, {}, none), ArgumentError);
    EXPECT_THROW(w.add_tensor("b", DType::F32, {1, 1, 1, 1, 1}, none), ArgumentError);
    EXPECT_THROW(w.add_tensor("c", DType::F32, {4, 0}, none), ArgumentError);
    EXPECT_THROW(w.add_tensor("d", DType::F32, {-4}, none), ArgumentError);
    EXPECT_THROW(w.add_tensor("e", DType::Q8_0, {33}, none), ArgumentError);
    EXPECT_THROW(w.add_tensor("f", DType::F32, {int64_t{1} << 62}, none), ArgumentError);
    EXPECT_THROW(w.add_tensor("g", DType::F32, {int64_t{1} << 62, 3}, none), ArgumentError);
    EXPECT_THROW(w.set_alignment(0), ArgumentError);
    EXPECT_THROW(w.set_alignment(3), ArgumentError);
    EXPECT_THROW(w.set("general.alignment", GgufValue::string("64")), ArgumentError);
    EXPECT_THROW(w.set("general.alignment", GgufValue::u32(48)), ArgumentError);
    EXPECT_THROW(w.set("nested", array(GgufType::ARRAY, {})), ArgumentError);
}

TEST_F(GgufWriterTest, AlignmentKeyAlwaysMatchesLayout) {
    const std::vector<uint8_t> d = pattern(20, 9);
    auto write_and_check = [&](GgufWriter& w, uint64_t want) {
        w.add_tensor("a", DType::F32, {5}, d.data(), d.size());
        w.add_tensor("b", DType::F32, {5}, d.data(), d.size());
        w.write(path("a.gguf"));
        GgufFile f(path("a.gguf"));
        EXPECT_EQ(f.alignment(), want);
        EXPECT_EQ(std::memcmp(f.tensor("b").data, d.data(), d.size()), 0);
    };
    GgufWriter via_set;  // metadata copied from another file carries the key
    via_set.set("general.alignment", GgufValue::u32(128));
    write_and_check(via_set, 128);
    GgufWriter back_to_default;
    back_to_default.set_alignment(64);
    back_to_default.set_alignment(32);
    write_and_check(back_to_default, 32);
    GgufWriter removed;
    removed.set_alignment(256);
    removed.remove("general.alignment");
    write_and_check(removed, 32);
}

TEST_F(GgufWriterTest, FailedWriteLeavesDestinationUntouchedAndNoTempFile) {
    const std::string dest = path("model.gguf");
    const std::vector<uint8_t> old = {'o', 'l', 'd'};
    write_file(dest, old);
    const std::vector<uint8_t> d(16);
    {
        GgufWriter w;
        w.set("general.name", GgufValue::string("x"));
        w.add_tensor("ok", DType::F32, {4}, d.data(), d.size());
        w.add_tensor("bad", DType::F32, {4},
                     []() -> std::vector<uint8_t> { throw std::runtime_error("producer failed"); });
        EXPECT_THROW(w.write(dest), std::runtime_error);
    }
    {
        GgufWriter w;
        w.add_tensor("short", DType::F32, {4}, [] { return std::vector<uint8_t>(15); });
        expect_contains(message_of<Error>([&] { w.write(dest); }), {"'short'", "15 bytes"});
        EXPECT_THROW(w.write(path("fresh.gguf")), Error);
    }
    EXPECT_EQ(read_file(dest), old);
    std::vector<std::string> left;  // no temporary file, no fresh.gguf
    for (const auto& e : fs::directory_iterator(dir_)) left.push_back(e.path().filename().string());
    EXPECT_EQ(left, std::vector<std::string>{"model.gguf"});
}

}  // namespace
}  // namespace edgelm
