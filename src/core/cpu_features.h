// What the CPU running this process can do, detected once.
#pragma once

namespace edgelm {

struct CpuFeatures {
    bool avx2_fma_f16c = false;  // x86-64: AVX2 + FMA + F16C (Haswell, Zen and later)
    bool avx512_vnni = false;    // x86-64: AVX-512 F/BW/VL + VNNI (Ice Lake, Zen 4 and later)
    bool neon = false;           // aarch64: Advanced SIMD (every aarch64 CPU)
    bool neon_dotprod = false;   // aarch64: SDOT/UDOT (Armv8.2-A dotprod)
};

// EDGELM_KERNELS=scalar in the environment reports no SIMD features, so the scalar
// reference kernels run; EDGELM_KERNELS=avx2 reports no AVX-512 (for comparisons and
// benchmarks).
const CpuFeatures& cpu_features();

}  // namespace edgelm
