// Helpers shared by the GGUF tests: a temp directory per test, hand-assembled files
// (field by field, for the broken-file corpus), value comparisons and a small valid file.
#pragma once

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

namespace edgelm::gguf_test_support {

namespace fs = std::filesystem;

inline constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

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

inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << path;
}

inline std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs f, which must throw E; returns the message (empty, with a failure, otherwise).
// Any other exception escapes and fails the test.
template <typename E, typename F>
inline std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    ADD_FAILURE() << "no exception was thrown";
    return {};
}

inline void expect_contains(const std::string& msg, const std::vector<std::string>& parts) {
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
inline HandFile base_file() {
    HandFile f;
    f.key("general.name", GgufType::STRING).str("tiny");
    f.tensor("w", {4}, kF32, 0);
    f.data.zeros(16);
    return f;
}

// Values of the types GgufValue has no factory for.
inline GgufValue scalar(GgufType t, int64_t i, double f = 0) {
    GgufValue v;
    v.type = t;
    v.i = i;
    v.f = f;
    return v;
}
inline GgufValue array(GgufType elem, std::vector<int64_t> ints, std::vector<double> floats = {}) {
    GgufValue v = scalar(GgufType::ARRAY, 0);
    v.array_type = elem;
    v.ints = std::move(ints);
    v.floats = std::move(floats);
    return v;
}

// Fields a value does not use stay at their defaults on both sides, so compare all.
inline void expect_same_value(const GgufValue& got, const GgufValue& want) {
    EXPECT_EQ(got.type, want.type);
    EXPECT_EQ(got.array_type, want.array_type);
    EXPECT_EQ(got.i, want.i);
    EXPECT_EQ(got.f, want.f);  // F32 values are floats widened to double: exact
    EXPECT_EQ(got.s, want.s);
    EXPECT_EQ(got.ints, want.ints);
    EXPECT_EQ(got.floats, want.floats);
    EXPECT_EQ(got.strings, want.strings);
}

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t k = 0; k < n; ++k) v[k] = static_cast<uint8_t>(seed + k * 37 + (k >> 8));
    return v;
}

// A small valid file written by GgufWriter: metadata, arrays, and two tensors whose
// last one ends before the alignment (so the file ends in padding).
inline void write_small_file(const std::string& path) {
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

}  // namespace edgelm::gguf_test_support
