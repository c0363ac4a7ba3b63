#include "bench/bench_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/session.h"

namespace edgelm {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double percentile(std::vector<double> v, double p);

RunStats run_stats(const std::vector<double>& v) {
    RunStats r;
    r.median = percentile(v, 50);
    for (double x : v) r.mean += x;
    r.mean /= static_cast<double>(v.size());
    for (double x : v) r.sd += (x - r.mean) * (x - r.mean);
    r.sd = v.size() > 1 ? std::sqrt(r.sd / static_cast<double>(v.size() - 1)) : 0;
    return r;
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    const double idx = p / 100.0 * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(idx));
    const size_t hi = std::min(v.size() - 1, lo + 1);
    return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

}  // namespace

uint64_t peak_rss_bytes() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    }
    return 0;
}

BenchResult run_bench(std::shared_ptr<const Model> model, const BenchParams& p) {
    if (p.n_prompt < 1 || p.n_gen < 1 || p.reps < 1)
        throw ArgumentError("bench: -p, -n and -r must each be at least 1");
    SessionParams sp;
    sp.n_threads = p.n_threads;
    sp.n_ctx = p.n_prompt + p.n_gen;
    sp.sampler.temperature = 0;
    sp.lora = p.lora;
    if (sp.n_ctx > model->config().ctx)
        throw ArgumentError("bench: -p " + std::to_string(p.n_prompt) + " + -n " +
                            std::to_string(p.n_gen) + " exceeds the model's context of " +
                            std::to_string(model->config().ctx));
    Session session(model, sp);

    // A fixed pseudo-random prompt, away from the special tokens at the start.
    std::vector<TokenId> prompt(static_cast<size_t>(p.n_prompt));
    uint64_t s = p.seed;
    const int vocab = model->config().vocab;
    for (auto& t : prompt) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        t = static_cast<TokenId>((s >> 33) % static_cast<uint64_t>(vocab));
    }

    std::vector<double> prefill, decode, ttft, latencies;
    latencies.reserve(static_cast<size_t>(p.reps) *
                      static_cast<size_t>(p.n_gen));  // no growth while timing
    for (int rep = -1; rep < p.reps; ++rep) {         // rep -1 warms caches and pages
        session.reset();
        auto t0 = Clock::now();
        session.eval(prompt);
        const double prefill_ms = ms_since(t0);
        TokenId next = session.sample();
        const double first_ms = ms_since(t0);
        auto d0 = Clock::now();
        for (int i = 0; i < p.n_gen; ++i) {
            auto ti = Clock::now();
            session.eval(std::span<const TokenId>(&next, 1));
            next = session.sample();
            if (rep >= 0) latencies.push_back(ms_since(ti));
        }
        const double decode_ms = ms_since(d0);
        if (rep < 0) continue;
        prefill.push_back(p.n_prompt / (prefill_ms / 1000.0));
        decode.push_back(p.n_gen / (decode_ms / 1000.0));
        ttft.push_back(first_ms);
    }
    BenchResult r;
    r.prefill_tok_s = run_stats(prefill);
    r.decode_tok_s = run_stats(decode);
    r.ttft_ms = percentile(ttft, 50);
    r.latency_p50_ms = percentile(latencies, 50);
    r.latency_p95_ms = percentile(latencies, 95);
    r.latency_p99_ms = percentile(latencies, 99);
    r.peak_rss_bytes = peak_rss_bytes();
    r.size_bytes = model->file().file_size();
    r.threads = p.n_threads;
    r.n_prompt = p.n_prompt;
    r.n_gen = p.n_gen;
    r.reps = p.reps;
    return r;
}

}  // namespace edgelm
