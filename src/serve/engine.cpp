#include "serve/engine.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace edgelm::serve {

namespace {

SessionParams slot_params(int ctx) {
    SessionParams p;
    p.n_ctx = ctx;
    p.n_threads = 1;  // slots only hold caches: every step runs on the engine's threads
    return p;
}

SessionParams engine_params(int threads) {
    SessionParams p;
    p.n_ctx = 1;  // its own cache is never used
    p.n_threads = threads;
    return p;
}

bool same_adapters(const std::vector<LoraBinding>& a, const std::vector<LoraBinding>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const LoraBinding& x, const LoraBinding& y) {
                          return x.adapter == y.adapter && x.scale == y.scale;
                      });
}

}  // namespace

Engine::Engine(std::shared_ptr<const Model> model, EngineOptions options)
    : model_(std::move(model)),
      options_(options),
      n_ctx_(options.ctx > 0 ? options.ctx : model_->config().ctx),
      engine_(model_, engine_params(options.threads)) {
    if (options.slots < 1 || options.slots > Session::max_batch())
        throw ArgumentError("--slots must be between 1 and " +
                            std::to_string(Session::max_batch()));
    if (options.queue < 0) throw ArgumentError("--queue must be >= 0");
    if (options.prefill_chunk < 1) throw ArgumentError("the prefill chunk must be >= 1");
    slots_.resize(static_cast<size_t>(options.slots));
    for (Slot& s : slots_) s.session = std::make_unique<Session>(model_, slot_params(n_ctx_));
    parts_.reserve(slots_.size());
    part_slots_.reserve(slots_.size());
    thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    for (Slot& s : slots_)
        if (s.job) s.job->finish(FinishReason::Cancelled);
    for (auto& job : queue_) job->finish(FinishReason::Cancelled);
}

bool Engine::submit(std::shared_ptr<Job> job) {
    if (job->prompt.empty()) {
        job->finish(FinishReason::Error, "the prompt is empty");
        return true;
    }
    if (static_cast<int>(job->prompt.size()) > n_ctx_) {
        job->finish(FinishReason::Error, "the prompt has " + std::to_string(job->prompt.size()) +
                                             " tokens, more than the context of " +
                                             std::to_string(n_ctx_));
        return true;
    }
    {
        std::lock_guard lock(mutex_);
        if (stopping_ ||
            running_ + static_cast<int>(queue_.size()) >= options_.slots + options_.queue)
            return false;
        job->queued_at = Clock::now();
        queue_.push_back(std::move(job));
    }
    wake_.notify_all();
    return true;
}

void Engine::cancel(Job& job) {
    job.cancel();
    wake_.notify_all();
}

int Engine::busy_slots() const {
    std::lock_guard lock(mutex_);
    return running_;
}

int Engine::queued() const {
    std::lock_guard lock(mutex_);
    return static_cast<int>(queue_.size());
}

uint64_t Engine::prefix_hit_tokens() const {
    std::lock_guard lock(mutex_);
    return prefix_hits_;
}

uint64_t Engine::prefix_restores() const {
    std::lock_guard lock(mutex_);
    return prefix_restores_;
}

size_t Engine::saved_prefix_bytes() const {
    return saved_bytes_;
}

void Engine::loop() {
    std::vector<std::shared_ptr<Job>> starting;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || running_ > 0 || !queue_.empty(); });
            if (stopping_) return;
            const auto now = Clock::now();
            for (auto it = queue_.begin(); it != queue_.end();) {
                if ((*it)->cancelled() || now > (*it)->deadline) {
                    (*it)->finish((*it)->cancelled() ? FinishReason::Cancelled
                                                     : FinishReason::Timeout);
                    it = queue_.erase(it);
                } else {
                    ++it;
                }
            }
            while (!queue_.empty() && running_ < options_.slots) {
                starting.push_back(std::move(queue_.front()));
                queue_.pop_front();
                ++running_;
            }
            if (running_ == 0) continue;
        }
        for (auto& job : starting) {
            try {
                assign(job);
            } catch (const std::exception& e) {  // nothing a request brings may stop the engine
                job->finish(FinishReason::Error, e.what());
                for (Slot& s : slots_)
                    if (s.job == job) s.job.reset();
                std::lock_guard lock(mutex_);
                --running_;
            }
        }
        starting.clear();
        step();
    }
}

namespace {

// How many of the prompt's tokens a cache holding `cached` can give (one is always left
// to run, for its logits).
size_t common_prefix(const std::vector<TokenId>& cached, const std::vector<TokenId>& prompt) {
    const size_t n = std::min(cached.size(), prompt.size() - 1);
    size_t i = 0;
    while (i < n && cached[i] == prompt[i]) ++i;
    return i;
}

}  // namespace

void Engine::save_prefix(const Slot& s) {
    const auto& tokens = s.session->tokens();
    if (options_.prefix_cache_bytes == 0 ||
        static_cast<int>(tokens.size()) < options_.min_saved_prefix)
        return;
    // A saved prefix of this one is replaced by it; if this is a prefix of one, nothing to add.
    for (auto it = saved_.begin(); it != saved_.end();) {
        const auto& t = it->snapshot.tokens;
        const bool same_lora = same_adapters(it->lora, s.session->lora());
        if (same_lora && t.size() >= tokens.size() &&
            std::equal(tokens.begin(), tokens.end(), t.begin()))
            return;
        if (same_lora && t.size() < tokens.size() &&
            std::equal(t.begin(), t.end(), tokens.begin())) {
            saved_bytes_ -= it->snapshot.bytes();
            it = saved_.erase(it);
        } else {
            ++it;
        }
    }
    const ModelConfig& c = model_->config();
    const size_t bytes =
        tokens.size() * (sizeof(TokenId) + 2 * static_cast<size_t>(c.n_layers) *
                                               static_cast<size_t>(c.kv_dim()) * sizeof(float));
    if (bytes > options_.prefix_cache_bytes) return;  // before copying anything
    SavedPrefix p{s.session->snapshot(static_cast<int>(tokens.size())), s.session->lora()};
    while (saved_bytes_ + p.snapshot.bytes() > options_.prefix_cache_bytes) {
        saved_bytes_ -= saved_.back().snapshot.bytes();
        saved_.pop_back();
    }
    saved_bytes_ += p.snapshot.bytes();
    saved_.push_front(std::move(p));
}

void Engine::assign(std::shared_ptr<Job> job) {
    const bool generate = job->kind == Job::Kind::Generate;
    Slot* best = nullptr;
    size_t best_reuse = 0;
    for (Slot& s : slots_) {
        if (s.job) continue;
        const size_t reuse = generate && same_adapters(s.session->lora(), job->lora)
                                 ? common_prefix(s.session->tokens(), job->prompt)
                                 : 0;
        if (!best || reuse > best_reuse || (reuse == best_reuse && s.last_used < best->last_used)) {
            best = &s;
            best_reuse = reuse;
        }
    }
    Slot& s = *best;  // running_ <= slots guarantees one is free
    // A saved snapshot that gives more than any slot does.
    auto best_saved = [&](size_t& reuse_out) {
        auto found = saved_.end();
        reuse_out = 0;
        if (generate)
            for (auto it = saved_.begin(); it != saved_.end(); ++it) {
                if (!same_adapters(it->lora, job->lora)) continue;
                const size_t reuse = common_prefix(it->snapshot.tokens, job->prompt);
                if (reuse > reuse_out) {
                    found = it;
                    reuse_out = reuse;
                }
            }
        return found;
    };
    size_t restore_reuse = 0;
    best_saved(restore_reuse);
    const bool use_saved = restore_reuse > best_reuse &&
                           restore_reuse >= static_cast<size_t>(options_.min_saved_prefix);
    // What the slot held beyond what this job keeps is worth keeping for later (saving may
    // drop snapshots it extends, so the one to restore is looked up again after).
    const size_t keep = use_saved ? 0 : best_reuse;
    if (s.session->position() - static_cast<int>(keep) >= options_.min_saved_prefix) save_prefix(s);
    const auto restore = use_saved ? best_saved(restore_reuse) : saved_.end();
    if (!same_adapters(s.session->lora(), job->lora)) {
        s.session->set_lora(job->lora);  // the cached keys and values were made without them
        s.session->reset();
    }
    if (restore != saved_.end()) {
        s.session->restore(restore->snapshot);
        saved_.splice(saved_.begin(), saved_, restore);
        best_reuse = restore_reuse;
    }
    s.session->truncate(static_cast<int>(best_reuse));
    s.session->sampler() = Sampler(job->sampler);
    s.fed = best_reuse;
    s.generated = 0;
    s.pooled_sum.assign(
        job->kind == Job::Kind::Pool ? static_cast<size_t>(model_->config().dim) : 0, 0.0f);
    job->cached_tokens = static_cast<int>(best_reuse);
    job->restored_prefix = restore != saved_.end();
    job->started_at = Clock::now();
    {
        std::lock_guard lock(mutex_);
        prefix_hits_ += best_reuse;
        if (restore != saved_.end()) ++prefix_restores_;
    }
    s.job = std::move(job);
}

void Engine::step() {
    const auto now = Clock::now();
    for (Slot& s : slots_) {
        if (!s.job) continue;
        if (s.job->cancelled())
            release(s, FinishReason::Cancelled);
        else if (now > s.job->deadline)
            release(s, FinishReason::Timeout);
    }
    parts_.clear();
    part_slots_.clear();
    int budget = Session::max_batch();
    for (Slot& s : slots_)  // decoding slots: one token each
        if (s.job && s.fed == s.job->prompt.size()) {
            parts_.push_back({s.session.get(), std::span<const TokenId>(&s.next, 1)});
            part_slots_.push_back(&s);
            --budget;
        }
    // Then prompts, in chunks: at most prefill_chunk tokens per step while others decode.
    int prefill = parts_.empty() ? budget : std::min(budget, options_.prefill_chunk);
    for (Slot& s : slots_) {
        if (!s.job || s.fed == s.job->prompt.size() || prefill == 0) continue;
        const size_t n = std::min(s.job->prompt.size() - s.fed, static_cast<size_t>(prefill));
        const bool last = s.fed + n == s.job->prompt.size();
        const bool pool = s.job->kind == Job::Kind::Pool;
        parts_.push_back({s.session.get(), std::span(s.job->prompt).subspan(s.fed, n),
                          last && !pool, pool ? s.pooled_sum.data() : nullptr});
        part_slots_.push_back(&s);
        prefill -= static_cast<int>(n);
    }
    if (parts_.empty()) return;
    try {
        engine_.eval_batch(parts_);
    } catch (const std::exception& e) {
        for (Slot* s : part_slots_) release(*s, FinishReason::Error, e.what());
        return;
    }
    for (size_t i = 0; i < parts_.size(); ++i) {
        Slot& s = *part_slots_[i];
        if (s.fed < s.job->prompt.size()) s.fed += parts_[i].tokens.size();
        after_step(s);
    }
}

void Engine::after_step(Slot& s) {
    Job& job = *s.job;
    s.last_used = Clock::now();
    if (s.fed < job.prompt.size()) return;  // more of the prompt to run
    if (job.kind == Job::Kind::Pool) {
        const float inv = 1.0f / static_cast<float>(job.prompt.size());
        job.pooled.resize(s.pooled_sum.size());
        for (size_t i = 0; i < s.pooled_sum.size(); ++i) job.pooled[i] = s.pooled_sum[i] * inv;
        release(s, FinishReason::Stop);
        return;
    }
    if (job.max_tokens == 0) {
        release(s, FinishReason::Length);
        return;
    }
    const TokenId id = s.session->sample();
    const TokenId eos = model_->tokenizer().vocab().eos;
    if ((id == eos && !job.ignore_eos) ||
        std::find(job.stop_ids.begin(), job.stop_ids.end(), id) != job.stop_ids.end()) {
        release(s, FinishReason::Stop);
        return;
    }
    job.push(sampled(s, id));
    ++s.generated;
    if (s.generated == job.max_tokens || s.session->position() >= n_ctx_)
        release(s, FinishReason::Length);
    else
        s.next = id;
}

SampledToken Engine::sampled(Slot& s, TokenId id) const {
    SampledToken t;
    t.id = id;
    if (s.job->top_logprobs < 0) return t;
    const std::span<const float> logits = s.session->last_logits();
    const float top = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float l : logits) sum += std::exp(static_cast<double>(l - top));
    const float log_z = top + static_cast<float>(std::log(sum));
    t.logprob = logits[static_cast<size_t>(id)] - log_z;
    const size_t k = std::min(static_cast<size_t>(s.job->top_logprobs), logits.size());
    if (k == 0) return t;
    // The k largest logits, kept in descending order in a small list.
    for (size_t i = 0; i < logits.size(); ++i) {
        const float l = logits[i];
        if (t.top.size() == k && l <= t.top.back().second) continue;
        auto at =
            std::find_if(t.top.begin(), t.top.end(), [&](const auto& e) { return l > e.second; });
        t.top.insert(at, {static_cast<TokenId>(i), l});
        if (t.top.size() > k) t.top.pop_back();
    }
    for (auto& e : t.top) e.second -= log_z;
    return t;
}

void Engine::release(Slot& s, FinishReason r, std::string error) {
    // The slot is free before the job says it ended: whoever sees the end sees the slot free.
    const std::shared_ptr<Job> job = std::move(s.job);
    s.last_used = Clock::now();
    {
        std::lock_guard lock(mutex_);
        --running_;
    }
    job->finish(r, std::move(error));
}

}  // namespace edgelm::serve
