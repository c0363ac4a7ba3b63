// What the CPU running this process can do, detected once.
#pragma once

#include <string>

namespace edgelm {

struct CpuFeatures {
    bool avx2_fma_f16c = false;  // x86-64: AVX2 + FMA + F16C (Haswell, Zen and later)
    bool neon = false;           // aarch64: Advanced SIMD (every aarch64 CPU)
    bool neon_dotprod = false;   // aarch64: SDOT/UDOT (Armv8.2-A dotprod)
};

const CpuFeatures& cpu_features();

// The instruction set the type traits' kernels use: "avx2", "neon-dotprod", "neon" or
// "scalar". EDGELM_KERNELS=scalar in the environment forces the scalar reference kernels
// (for comparisons and benchmarks).
std::string kernel_isa_name();

}  // namespace edgelm
