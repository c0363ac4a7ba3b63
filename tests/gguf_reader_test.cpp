// The GGUF reader on untrusted input: a corpus of broken files that must each raise
// FormatError naming the field (and the byte offset, where the reader knows it), every
// truncation, corrupted header bytes, typed getters, and bad paths.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gguf_test_support.h"

namespace edgelm {
namespace {

using namespace gguf_test_support;  // NOLINT: test helpers

// ---- broken files -------------------------------------------------------------------

struct BrokenCase {
    std::string name;
    std::function<std::vector<uint8_t>()> make;
    // Substrings of the FormatError message, which also holds the path and, unless the
    // error is about the general.alignment value rather than a position, "byte offset".
    std::vector<std::string> expect;
};

BrokenCase patched(std::string name, std::function<void(HandFile&)> patch,
                   std::vector<std::string> expect) {
    auto make = [patch] {
        HandFile f = base_file();
        patch(f);
        return f.build();
    };
    return {std::move(name), make, std::move(expect)};
}

// The base file plus one key of the given type whose value bytes are `value`.
BrokenCase extra_key(std::string name, std::string key, GgufType type, const Bytes& value,
                     std::vector<std::string> expect) {
    return patched(
        std::move(name), [=](HandFile& f) { f.key(key, type).append(value); }, std::move(expect));
}

BrokenCase bad_alignment(std::string name, GgufType type, const Bytes& value, std::string what) {
    return extra_key(std::move(name), "general.alignment", type, value,
                     {"general.alignment", what});
}

// The base file with its tensor replaced by one of these dims, type and offset.
BrokenCase one_tensor(std::string name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset,
                      std::vector<std::string> expect, std::string tensor = "w") {
    auto patch = [=](HandFile& f) {
        f.clear_tensors();
        f.tensor(tensor, dims, type, offset);
    };
    return patched(std::move(name), patch, std::move(expect));
}

std::vector<BrokenCase> broken_cases() {
    using T = GgufType;
    const uint64_t big = uint64_t{1} << 63;
    const uint32_t q8_0 = static_cast<uint32_t>(DType::Q8_0);
    return {
        patched("BadMagic", [](HandFile& f) { f.magic = 0x46554746; }, {"magic", "byte offset 0"}),
        patched("Version1", [](HandFile& f) { f.version = 1; },
                {"version", "byte offset 4", "version 1"}),
        patched("Version4", [](HandFile& f) { f.version = 4; },
                {"version", "byte offset 4", "version 4"}),
        patched("TensorCount2Pow63", [=](HandFile& f) { f.tensor_count = big; },
                {"tensor_count", "byte offset 8"}),
        patched("KvCount2Pow63", [=](HandFile& f) { f.kv_count = big; },
                {"metadata_kv_count", "byte offset 16"}),
        patched("TensorCountPastEnd", [](HandFile& f) { f.tensor_count = 1u << 20; },
                {"tensor_info[1]"}),
        patched("KvCountPastEnd", [](HandFile& f) { f.kv_count = 1000; }, {"metadata["}),
        patched("KeyLength2Pow64Minus1", [](HandFile& f) { f.kv = Bytes{}.u64(kU64Max); },
                {"metadata[0] key", "byte offset 24", "18446744073709551615"}),
        patched("EmptyKey", [](HandFile& f) { f.kv = Bytes{}.str("").type(T::U32).u32(1); },
                {"metadata[0] key", "byte offset 24", "empty key"}),
        extra_key("DuplicateKey", "general.name", T::STRING, Bytes{}.str("again"),
                  {"key 'general.name'", "duplicate key"}),
        extra_key("StringLength2Pow64Minus1", "s", T::STRING, Bytes{}.u64(kU64Max),
                  {"key 's' value", "18446744073709551615"}),
        extra_key("StringLengthPastEnd", "s", T::STRING, Bytes{}.u64(4000),
                  {"key 's' value", "truncated"}),
        extra_key("ArrayCountPastEnd", "a", T::ARRAY, Bytes{}.type(T::U32).u64(1000),
                  {"key 'a' value", "array count 1000"}),
        extra_key("StringArrayCount2Pow62", "a", T::ARRAY, Bytes{}.type(T::STRING).u64(1ull << 62),
                  {"key 'a' value", "array count"}),
        extra_key("ValueType13", "k", T{13}, Bytes{}.u32(0),
                  {"key 'k' type", "unknown value type 13"}),
        extra_key("ValueType99", "k", T{99}, Bytes{}.u32(0),
                  {"key 'k' type", "unknown value type 99"}),
        extra_key("ArrayElementType13", "a", T::ARRAY, Bytes{}.u32(13).u64(0),
                  {"key 'a' value", "element type 13"}),
        extra_key("NestedArray", "a", T::ARRAY, Bytes{}.type(T::ARRAY).u64(0),
                  {"key 'a' value", "nested"}),
        extra_key("BoolValue2", "b", T::BOOL, Bytes{}.u8(2), {"key 'b' value", "bool value 2"}),
        extra_key("BoolArrayElement2", "b", T::ARRAY, Bytes{}.type(T::BOOL).u64(2).u8(1).u8(2),
                  {"key 'b' value", "bool value 2"}),
        bad_alignment("Alignment0", T::U32, Bytes{}.u32(0), "0 is not a power of two"),
        bad_alignment("Alignment3", T::U32, Bytes{}.u32(3), "3 is not a power of two"),
        bad_alignment("AlignmentTooLarge", T::U32, Bytes{}.u32(1u << 17), "131072 is not"),
        bad_alignment("AlignmentAsString", T::STRING, Bytes{}.str("32"), "must be u32, found str"),
        bad_alignment("AlignmentAsU64", T::U64, Bytes{}.u64(32), "must be u32, found u64"),
        patched("MisalignedOffsetForAlignment64",
                [](HandFile& f) {
                    f.key("general.alignment", T::U32).u32(64);
                    f.clear_tensors();
                    f.tensor("w", {4}, kF32, 32);
                },
                {"tensor 'w' offset", "alignment 64"}),
        one_tensor("EmptyTensorName", {4}, kF32, 0, {"tensor_info[0] name", "empty tensor name"},
                   ""),
        patched("DuplicateTensorName",
                [](HandFile& f) {
                    f.tensor("w", {4}, kF32, 32);
                    f.data.zeros(32);
                },
                {"tensor 'w'", "duplicate tensor name"}),
        patched("OverlappingTensors",
                [](HandFile& f) {
                    f.clear_tensors();
                    f.tensor("a", {16}, kF32, 0);
                    f.tensor("b", {16}, kF32, 32);
                    f.data.zeros(96);
                },
                {"tensor 'b'", "overlaps tensor 'a'"}),
        patched("NoTensorData", [](HandFile& f) { f.data = {}; }, {"tensor 'w' data", "truncated"}),
        one_tensor("TensorType4", {4}, 4, 0, {"tensor 'w' type", "unknown tensor type 4"}),
        one_tensor("TensorType200", {4}, 200, 0, {"tensor 'w' type", "unknown tensor type 200"}),
        one_tensor("NDims0", {}, kF32, 0, {"tensor 'w' n_dims", "0 dimensions"}),
        one_tensor("NDims5", {1, 1, 1, 1, 4}, kF32, 0, {"tensor 'w' n_dims", "5 dimensions"}),
        one_tensor("Dim0", {4, 0}, kF32, 0, {"tensor 'w' dims[1]", "out of range"}),
        one_tensor("DimAboveInt64", {4, big}, kF32, 0, {"tensor 'w' dims[1]", "out of range"}),
        one_tensor("DimsProductOverflowsU64", {1ull << 32, 1ull << 32}, kF32, 0,
                   {"tensor 'w' dims", "element count overflows"}),
        one_tensor("DimsProductAboveInt64", {1ull << 62, 2}, kF32, 0,
                   {"tensor 'w' dims", "element count overflows"}),
        one_tensor("DataSizeOverflows", {1ull << 62}, kF32, 0,
                   {"tensor 'w'", "data size overflows"}),
        one_tensor("Q8_0RowNotBlockMultiple", {33, 2}, q8_0, 0,
                   {"tensor 'w' dims[0]", "block size 32"}),
        one_tensor("OffsetPastEnd", {4}, kF32, 4096, {"tensor 'w' data", "truncated"}),
        one_tensor("OffsetPlusSizeOverflows", {16}, kF32, kU64Max - 31, {"tensor 'w' data"}),
        one_tensor("MisalignedOffset", {4}, kF32, 16, {"tensor 'w' offset", "alignment 32"}),
    };
}

class GgufBrokenFile : public TempDirTest, public ::testing::WithParamInterface<BrokenCase> {};

TEST_P(GgufBrokenFile, IsRejectedWithFormatErrorNamingTheField) {
    const std::string file = path("broken.gguf");
    write_file(file, GetParam().make());
    std::string msg = message_of<FormatError>([&] { GgufFile f(file); });
    expect_contains(msg, GetParam().expect);
    expect_contains(msg, {file});
    if (GetParam().expect[0] != "general.alignment") expect_contains(msg, {"byte offset"});
}

INSTANTIATE_TEST_SUITE_P(Corpus, GgufBrokenFile, ::testing::ValuesIn(broken_cases()),
                         [](const auto& p) { return p.param.name; });

using GgufReaderTest = TempDirTest;

TEST_F(GgufReaderTest, HandBuiltBaseFileIsValid) {
    const std::string file = path("base.gguf");
    for (uint32_t version : {2u, 3u}) {
        HandFile h = base_file();
        h.version = version;
        write_file(file, h.build());
        GgufFile f(file);
        EXPECT_EQ(f.version(), version);
        EXPECT_EQ(f.get_string("general.name"), "tiny");
        EXPECT_EQ(f.tensor("w").bytes, 16u);
    }
}

TEST_F(GgufReaderTest, EveryTruncationIsRejected) {
    const std::string full_path = path("full.gguf");
    write_small_file(full_path);
    const std::vector<uint8_t> full = read_file(full_path);
    ASSERT_GT(full.size(), 100u);
    EXPECT_NO_THROW(GgufFile{full_path});
    const std::string cut = path("cut.gguf");
    for (size_t n = 0; n < full.size(); ++n) {
        SCOPED_TRACE("prefix of " + std::to_string(n) + " bytes");
        write_file(cut,
                   std::vector<uint8_t>(full.begin(), full.begin() + static_cast<ptrdiff_t>(n)));
        expect_contains(message_of<FormatError>([&] { GgufFile f(cut); }), {cut, "byte offset"});
    }
}

TEST_F(GgufReaderTest, EveryCorruptedHeaderByteIsRejectedOrParsed) {
    const std::string full_path = path("full.gguf");
    write_small_file(full_path);
    const std::vector<uint8_t> full = read_file(full_path);
    const size_t header_end = GgufFile(full_path).data_offset();
    const std::string bad = path("bad.gguf");
    for (size_t n = 0; n < header_end; ++n) {
        for (uint8_t x : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xFF}}) {
            std::vector<uint8_t> bytes = full;
            bytes[n] ^= x;
            write_file(bad, bytes);
            try {
                GgufFile f(bad);  // some flips (a value byte) leave a valid file
            } catch (const FormatError&) {
            }
        }
    }
}

TEST_F(GgufReaderTest, TypedGettersRejectMismatchedValues) {
    GgufWriter w;
    w.set("str", GgufValue::string("x"));
    w.set("neg", GgufValue::i32(-5));
    w.set("big", GgufValue::u64(kU64Max));
    w.set("u", GgufValue::u32(7));
    w.set("flag", GgufValue::boolean(true));
    w.set("half", GgufValue::f32(0.5f));
    w.set("ints", GgufValue::i32_array({1, 2}));
    w.write(path("g.gguf"));
    GgufFile f(path("g.gguf"));

    auto fails = [](auto get) { return message_of<FormatError>(get); };
    expect_contains(fails([&] { f.get_uint("str"); }), {"'str'", "expected an integer"});
    expect_contains(fails([&] { f.get_uint("neg"); }), {"'neg'", "negative value -5"});
    expect_contains(fails([&] { f.get_int("big"); }), {"'big'", "does not fit"});
    expect_contains(fails([&] { f.get_bool("u"); }), {"'u'", "expected bool"});
    expect_contains(fails([&] { f.get_string("u"); }), {"'u'", "expected str"});
    expect_contains(fails([&] { f.get_float("str"); }), {"'str'", "expected a number"});
    expect_contains(fails([&] { f.get_array("u", GgufType::I32); }), {"'u'", "expected an array"});
    expect_contains(fails([&] { f.get_array("ints", GgufType::STRING); }), {"'ints'", "of str"});
    expect_contains(fails([&] { f.tensor("nope"); }), {"'nope'"});

    EXPECT_EQ(f.get_uint("big"), kU64Max);
    EXPECT_EQ(f.get_int("neg"), -5);
    EXPECT_EQ(f.get_uint("u"), 7u);
    EXPECT_EQ(f.get_float("u"), 7.0);
    EXPECT_EQ(f.get_float("half"), 0.5);
    EXPECT_EQ(f.get_bool("flag"), true);
    EXPECT_EQ(f.get_string("str"), "x");
    EXPECT_NE(f.get_array("ints", GgufType::U8), nullptr);  // any integer element kind
    EXPECT_EQ(f.get_uint("missing"), std::nullopt);
    EXPECT_EQ(f.get_array("missing", GgufType::I32), nullptr);
    EXPECT_EQ(f.find_tensor("nope"), nullptr);
}

// ---- bad paths ----------------------------------------------------------------------

TEST_F(GgufReaderTest, MissingFileIsIoErrorNamingThePath) {
    const std::string missing = path("does-not-exist.gguf");
    expect_contains(message_of<IoError>([&] { GgufFile f(missing); }), {missing});
}

TEST_F(GgufReaderTest, DirectoryIsIoErrorNamingThePath) {
    const std::string dir = dir_.string();
    expect_contains(message_of<IoError>([&] { GgufFile f(dir); }), {dir});
}

}  // namespace
}  // namespace edgelm
