// How long libtorch's OpenMP threads spin when idle. Header-only and torch-free: the `edgelm`
// front end sets it before it runs edgelm-train, so the trainer does not pay a second start-up.
//
// Why: Debian's libtorch runs elementwise kernels on libgomp threads and matrix products on
// OpenBLAS's own pthreads. By default an idle libgomp thread spins ~300,000 iterations
// before it sleeps; on a 2-core machine those spinning threads hold the cores that
// OpenBLAS's threads need for the next product, and the other way round. Measured here
// (build/train_step_bench, 2 threads): the demo shape trains at 1,709 tokens/s with the
// default and 4,448 with GOMP_SPINCOUNT=10000; the 15m shape at 338 and 689 (docs/training.md).
// libgomp reads its environment when it is loaded, so a running process cannot change it:
// the program has to be started with it.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace edgelm::train {

// True if the user already chose how OpenMP threads wait; their choice is kept.
inline bool openmp_wait_policy_chosen() {
    return std::getenv("GOMP_SPINCOUNT") != nullptr || std::getenv("OMP_WAIT_POLICY") != nullptr;
}

// Sets the short spin for programs this process starts. Returns whether it changed anything.
inline bool set_short_openmp_spin() {
    if (openmp_wait_policy_chosen()) return false;
    setenv("GOMP_SPINCOUNT", "10000", 0);
    return true;
}

// Restarts this program with the short spin unless it already runs with a chosen policy.
// Returns only if the environment was already set (or the restart failed, which costs
// speed, not correctness).
inline void restart_with_short_openmp_spin(char** argv) {
    if (!set_short_openmp_spin()) return;
    std::fflush(nullptr);
    execv("/proc/self/exe", argv);
    std::perror("edgelm: restart with GOMP_SPINCOUNT (continuing with libgomp's default spin)");
}

}  // namespace edgelm::train
