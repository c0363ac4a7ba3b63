// The machine's limits that bound decoding speed, measured here rather than taken from
// a data sheet: read bandwidth from DRAM (a 1 GiB buffer) and from a 16 MiB working set,
// and peak int8 and fp32 arithmetic with the instructions edgelm's kernels use on this CPU
// (AVX-512 VNNI vpdpbusd and 16-lane FMA where the CPU has them, else AVX2 maddubs and
// 8-lane FMA), each with N threads.
// Prints one JSON object; medians of repeated runs.
//
//   roofline_probe [-t THREADS] [-r REPS]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define EDGELM_AVX2 __attribute__((target("avx2,fma")))
#define EDGELM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))
#endif

namespace {

using Clock = std::chrono::steady_clock;

[[maybe_unused]] double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Runs fn(thread) on `threads` threads at once; returns the wall time in seconds.
template <typename F>
[[maybe_unused]] double timed_parallel(int threads, F fn) {
    std::vector<std::thread> pool;
    const auto t0 = Clock::now();
    for (int t = 1; t < threads; ++t) pool.emplace_back(fn, t);
    fn(0);
    for (auto& th : pool) th.join();
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

#if defined(__x86_64__)
EDGELM_AVX2 float read_sum(const float* p, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
    }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    return out[0] + out[7];
}

// 12 independent chains of maddubs + madd + add (32 int8 multiply-adds per maddubs),
// each on its own operands so that no two chains compute the same value.
EDGELM_AVX2 int int8_loop(int64_t iters) {
    const __m256i b = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
    __m256i a[12], acc[12];
    for (int k = 0; k < 12; ++k) {
        a[k] = _mm256_set1_epi8(static_cast<char>(k + 1));
        acc[k] = _mm256_setzero_si256();
    }
    for (int64_t i = 0; i < iters; ++i) {
        for (int k = 0; k < 12; ++k) {
            asm volatile("" : "+x"(a[k]));  // not loop-invariant as far as the compiler knows
            acc[k] =
                _mm256_add_epi32(acc[k], _mm256_madd_epi16(_mm256_maddubs_epi16(a[k], b), ones));
        }
    }
    __m256i s = acc[0];
    for (int k = 1; k < 12; ++k) s = _mm256_add_epi32(s, acc[k]);
    return _mm256_extract_epi32(s, 0);
}

// 10 independent FMA chains of 8 floats.
EDGELM_AVX2 float fp32_loop(int64_t iters) {
    __m256 acc[10];
    for (int k = 0; k < 10; ++k) acc[k] = _mm256_set1_ps(static_cast<float>(k));
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int64_t i = 0; i < iters; ++i)
        for (auto& x : acc) x = _mm256_fmadd_ps(x, m, c);
    float out[8];
    __m256 s = acc[0];
    for (int k = 1; k < 10; ++k) s = _mm256_add_ps(s, acc[k]);
    _mm256_storeu_ps(out, s);
    return out[0];
}

// The same with AVX-512: 12 chains of vpdpbusd (64 int8 multiply-adds each) and 10 chains
// of 16-lane FMA.
EDGELM_AVX512 int int8_loop_avx512(int64_t iters) {
    const __m512i b = _mm512_set1_epi8(-2);
    __m512i a[12], acc[12];
    for (int k = 0; k < 12; ++k) {
        a[k] = _mm512_set1_epi8(static_cast<char>(k + 1));
        acc[k] = _mm512_setzero_si512();
    }
    for (int64_t i = 0; i < iters; ++i) {
        for (int k = 0; k < 12; ++k) {
            asm volatile("" : "+v"(a[k]));
            acc[k] = _mm512_dpbusd_epi32(acc[k], a[k], b);
        }
    }
    __m512i s = acc[0];
    for (int k = 1; k < 12; ++k) s = _mm512_add_epi32(s, acc[k]);
    int32_t out[16];
    _mm512_storeu_si512(out, s);
    return out[0] + out[15];
}

EDGELM_AVX512 float fp32_loop_avx512(int64_t iters) {
    __m512 acc[10];
    for (int k = 0; k < 10; ++k) acc[k] = _mm512_set1_ps(static_cast<float>(k));
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int64_t i = 0; i < iters; ++i)
        for (auto& x : acc) x = _mm512_fmadd_ps(x, m, c);
    __m512 s = acc[0];
    for (int k = 1; k < 10; ++k) s = _mm512_add_ps(s, acc[k]);
    float out[16];
    _mm512_storeu_ps(out, s);
    return out[0] + out[15];
}
#endif

}  // namespace

int main(int argc, char** argv) {
    int threads = 2, reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "-t"))
            threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "-r"))
            reps = std::atoi(argv[i + 1]);
    }
    if (threads < 1 || reps < 1) {
        std::fprintf(stderr, "roofline_probe: error: -t and -r must be >= 1\n");
        return 2;
    }
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        std::fprintf(stderr, "roofline_probe: error: this probe needs AVX2 + FMA\n");
        return 1;
    }
    auto bandwidth = [&](size_t bytes, int passes) {
        const size_t n = bytes / sizeof(float);
        float* buf = static_cast<float*>(std::aligned_alloc(64, bytes));
        for (size_t i = 0; i < n; ++i) buf[i] = static_cast<float>(i & 7);
        std::vector<double> gbs;
        volatile float sink = 0;
        for (int r = 0; r < reps + 1; ++r) {
            const double s = timed_parallel(threads, [&](int t) {
                const size_t begin = n * static_cast<size_t>(t) / static_cast<size_t>(threads);
                const size_t end = n * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
                float acc = 0;
                for (int p = 0; p < passes; ++p) {
                    // Hide the pointer from the optimizer so each pass really reads.
                    const float* start = buf + begin;
                    asm volatile("" : "+r"(start));
                    acc += read_sum(start, end - begin);
                }
                sink = sink + acc;
            });
            if (r > 0) gbs.push_back(static_cast<double>(bytes) * passes / s / 1e9);
        }
        std::free(buf);
        return median(gbs);
    };
    const double dram = bandwidth(size_t{1} << 30, 1);
    const double cache16 = bandwidth(size_t{16} << 20, 64);

    const int64_t iters = 20'000'000;
    std::vector<double> int8, fp32;
    volatile float sinkf = 0;
    volatile int sinki = 0;
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512vnni") && !std::getenv("EDGELM_PROBE_AVX2");
    for (int r = 0; r < reps; ++r) {
        const double si = timed_parallel(threads, [&](int) {
            sinki = sinki + (avx512 ? int8_loop_avx512(iters) : int8_loop(iters));
        });
        int8.push_back(2.0 * (avx512 ? 64 : 32) * 12 * static_cast<double>(iters) * threads / si /
                       1e9);
        const double sf = timed_parallel(threads, [&](int) {
            sinkf = sinkf + (avx512 ? fp32_loop_avx512(iters) : fp32_loop(iters));
        });
        fp32.push_back(2.0 * (avx512 ? 16 : 8) * 10 * static_cast<double>(iters) * threads / sf /
                       1e9);
    }
    std::printf(
        "{\n  \"threads\": %d,\n  \"dram_read_gb_s\": %.2f,\n  \"cache16m_read_gb_s\": %.2f,\n"
        "  \"peak_int8_gops\": %.1f,\n  \"peak_fp32_gflops\": %.1f,\n  \"isa\": \"%s\"\n}\n",
        threads, dram, cache16, median(int8), median(fp32), avx512 ? "avx512" : "avx2");
    return 0;
#else
    std::fprintf(stderr, "roofline_probe: error: only x86-64 (AVX2) is probed so far\n");
    return 1;
#endif
}
