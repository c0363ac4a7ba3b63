// `edgelm bench`: prefill and decode throughput, time to first token and per-token
// decode latency of a model, measured over repeated runs in this process.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/lora_adapter.h"

namespace edgelm {

class Model;

struct BenchParams {
    int n_prompt = 128;
    int n_gen = 128;
    int reps = 5;
    int n_threads = 1;
    uint64_t seed = 1;              // for the random prompt tokens
    std::vector<LoraBinding> lora;  // adapters applied while measuring
};

// A rate over the timed runs: the median is the figure to quote on a noisy machine.
struct RunStats {
    double median = 0, mean = 0, sd = 0;
};

struct BenchResult {
    RunStats prefill_tok_s, decode_tok_s;
    double ttft_ms = 0;  // median over reps: prompt evaluated and first token sampled
    double latency_p50_ms = 0, latency_p95_ms = 0, latency_p99_ms = 0;  // per decoded token
    uint64_t peak_rss_bytes = 0;
    uint64_t size_bytes = 0;
    int threads = 0, n_prompt = 0, n_gen = 0, reps = 0;
};

// Peak resident set size of this process (VmHWM), 0 if unknown.
uint64_t peak_rss_bytes();

// One untimed warm-up run, then `reps` timed runs on a fresh context each.
BenchResult run_bench(std::shared_ptr<const Model> model, const BenchParams& params);

}  // namespace edgelm
