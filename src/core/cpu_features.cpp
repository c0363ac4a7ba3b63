#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

namespace edgelm {

namespace {

CpuFeatures detect() {
    CpuFeatures f;
    const char* force = std::getenv("EDGELM_KERNELS");
    if (force && std::strcmp(force, "scalar") == 0) return f;
#if defined(__x86_64__)
    __builtin_cpu_init();
    f.avx2_fma_f16c = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                      __builtin_cpu_supports("f16c");
    f.avx512_vnni = f.avx2_fma_f16c && __builtin_cpu_supports("avx512f") &&
                    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                    __builtin_cpu_supports("avx512vnni") &&
                    !(force && std::strcmp(force, "avx2") == 0);
#elif defined(__aarch64__)
    f.neon = true;
#if defined(__linux__)
    f.neon_dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
#endif
    return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
    static const CpuFeatures f = detect();
    return f;
}

}  // namespace edgelm
