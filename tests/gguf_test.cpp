// GGUF reader and writer: round trips of every value and several tensor types, the
// writer's refusals and atomicity, and a corpus of broken files that must each raise
// FormatError naming the field (and the byte offset, where the reader knows it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_value.h"
#include "gguf/gguf_writer.h"

namespace edgelm {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

// ---- helpers ------------------------------------------------------------------------

// A fresh directory per test, removed afterwards.
class TempDirTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = std::string(info->test_suite_name()) + "_" + info->name();
        for (char& ch : name)
            if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
        dir_ = fs::temp_directory_path() /
               ("edgelm_gguf_test_" + std::to_string(::getpid()) + "_" + name);
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::string path(const std::string& file) const { return (dir_ / file).string(); }

    fs::path dir_;
};

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << path;
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs f, which must throw E; returns the message (empty, with a failure, otherwise).
// Any other exception escapes and fails the test.
template <typename E, typename F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    ADD_FAILURE() << "no exception was thrown";
    return {};
}

void expect_contains(const std::string& msg, const std::vector<std::string>& parts) {
    for (const auto& p : parts)
        EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

// Little-endian byte assembly for hand-made files.
struct Bytes {
    std::vector<uint8_t> b;

    template <typename T>
    Bytes& put(T v) {
        uint8_t raw[sizeof(T)];
        std::memcpy(raw, &v, sizeof(T));
        b.insert(b.end(), raw, raw + sizeof(T));
        return *this;
    }
    Bytes& u8(uint8_t v) { return put(v); }
    Bytes& u32(uint32_t v) { return put(v); }
    Bytes& u64(uint64_t v) { return put(v); }
    Bytes& str(std::string_view s) {
        u64(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& type(GgufType t) { return u32(static_cast<uint32_t>(t)); }
    Bytes& append(const Bytes& o) {
        b.insert(b.end(), o.b.begin(), o.b.end());
        return *this;
    }
    Bytes& zeros(size_t n) {
        b.resize(b.size() + n, 0);
        return *this;
    }
    Bytes& pad_to(uint64_t align) { return zeros((align - b.size() % align) % align); }
};

// A GGUF file assembled field by field; counts follow what was added unless overridden.
struct HandFile {
    uint32_t magic = kGgufMagic;
    uint32_t version = kGgufVersion;
    std::optional<uint64_t> tensor_count, kv_count;
    uint64_t alignment = kGgufDefaultAlignment;  // for padding only
    Bytes kv, infos, data;
    uint64_t n_kv = 0, n_tensors = 0;

    // Appends key and type; the caller appends the value.
    Bytes& key(std::string_view k, GgufType t) {
        ++n_kv;
        return kv.str(k).type(t);
    }
    void tensor(std::string_view name, const std::vector<uint64_t>& dims, uint32_t type,
                uint64_t offset) {
        ++n_tensors;
        infos.str(name).u32(static_cast<uint32_t>(dims.size()));
        for (uint64_t d : dims) infos.u64(d);
        infos.u32(type).u64(offset);
    }
    void clear_tensors() {
        infos = {};
        n_tensors = 0;
    }
    std::vector<uint8_t> build() const {
        Bytes out;
        out.u32(magic).u32(version).u64(tensor_count.value_or(n_tensors));
        out.u64(kv_count.value_or(n_kv)).append(kv).append(infos).pad_to(alignment);
        return out.append(data).pad_to(alignment).b;
    }
};

constexpr uint32_t kF32 = static_cast<uint32_t>(DType::F32);

// One string key and one 4-element f32 tensor: valid, and the base of most broken files.
HandFile base_file() {
    HandFile f;
    f.key("general.name", GgufType::STRING).str("tiny");
    f.tensor("w", {4}, kF32, 0);
    f.data.zeros(16);
    return f;
}

// Values of the types GgufValue has no factory for.
GgufValue scalar(GgufType t, int64_t i, double f = 0) {
    GgufValue v;
    v.type = t;
    v.i = i;
    v.f = f;
    return v;
}
GgufValue array(GgufType elem, std::vector<int64_t> ints, std::vector<double> floats = {}) {
    GgufValue v = scalar(GgufType::ARRAY, 0);
    v.array_type = elem;
    v.ints = std::move(ints);
    v.floats = std::move(floats);
    return v;
}

// Fields a value does not use stay at their defaults on both sides, so compare all.
void expect_same_value(const GgufValue& got, const GgufValue& want) {
    EXPECT_EQ(got.type, want.type);
    EXPECT_EQ(got.array_type, want.array_type);
    EXPECT_EQ(got.i, want.i);
    EXPECT_EQ(got.f, want.f);  // F32 values are floats widened to double: exact
    EXPECT_EQ(got.s, want.s);
    EXPECT_EQ(got.ints, want.ints);
    EXPECT_EQ(got.floats, want.floats);
    EXPECT_EQ(got.strings, want.strings);
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t k = 0; k < n; ++k) v[k] = static_cast<uint8_t>(seed + k * 37 + (k >> 8));
    return v;
}

// A small valid file written by GgufWriter: metadata, arrays, and two tensors whose
// last one ends before the alignment (so the file ends in padding).
void write_small_file(const std::string& path) {
    GgufWriter w;
    w.set("general.architecture", GgufValue::string("llama"));
    w.set("a", GgufValue::i32_array({1, -2, 3}));
    w.set("s", GgufValue::string_array({"x", ""}));
    w.set("b", GgufValue::boolean(true));
    static const std::vector<uint8_t> a = pattern(12, 1), b = pattern(34, 2);
    w.add_tensor("a", DType::F32, {3}, a.data(), a.size());
    w.add_tensor("b", DType::Q8_0, {32}, b.data(), b.size());
    w.write(path);
}

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
