// Exact-match answers for deterministic requests (greedy, or sampled with a fixed seed):
// the same model, adapters, sampling fields and prompt tokens give the same answer, so
// a repeat is answered without touching a slot. LRU, bounded in bytes, with a TTL. The
// key is the whole request description (compared in full on a hit, so a hash collision
// cannot return another request's answer).
#pragma once

#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "serve/job.h"

namespace edgelm::serve {

struct CachedAnswer {
    std::string text;
    std::vector<SampledToken> tokens;  // with log-probabilities if the request had them
    FinishReason reason = FinishReason::Stop;
    int prompt_tokens = 0, completion_tokens = 0;
};

class ResponseCache {
  public:
    ResponseCache(size_t max_bytes, double ttl_s);
    std::optional<CachedAnswer> get(const std::string& key);
    void put(const std::string& key, CachedAnswer answer);
    size_t bytes() const;
    size_t entries() const;

  private:
    struct Entry {
        std::string key;
        CachedAnswer answer;
        size_t bytes;
        std::chrono::steady_clock::time_point expires;
    };
    void evict_to(size_t max_bytes);  // under mutex_

    size_t max_bytes_;
    std::chrono::steady_clock::duration ttl_;
    mutable std::mutex mutex_;
    std::list<Entry> lru_;  // most recent first
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
    size_t bytes_ = 0;
};

}  // namespace edgelm::serve
