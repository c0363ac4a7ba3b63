#include "serve/response_cache.h"

namespace edgelm::serve {

ResponseCache::ResponseCache(size_t max_bytes, double ttl_s)
    : max_bytes_(max_bytes),
      ttl_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(ttl_s))) {}

std::optional<CachedAnswer> ResponseCache::get(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    if (std::chrono::steady_clock::now() > it->second->expires) {
        bytes_ -= it->second->bytes;
        lru_.erase(it->second);
        index_.erase(it);
        return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->answer;
}

void ResponseCache::put(const std::string& key, CachedAnswer answer) {
    // What the entry keeps: the key (twice: list and index), the text and the tokens.
    size_t bytes = 2 * key.size() + answer.text.size() + sizeof(Entry) + 64;
    for (const SampledToken& t : answer.tokens)
        bytes += sizeof(SampledToken) + t.top.size() * sizeof(t.top[0]);
    std::lock_guard lock(mutex_);
    if (bytes > max_bytes_) return;
    if (auto it = index_.find(key); it != index_.end()) {
        bytes_ -= it->second->bytes;
        lru_.erase(it->second);
        index_.erase(it);
    }
    evict_to(max_bytes_ - bytes);
    lru_.push_front({key, std::move(answer), bytes, std::chrono::steady_clock::now() + ttl_});
    index_[key] = lru_.begin();
    bytes_ += bytes;
}

void ResponseCache::evict_to(size_t max_bytes) {
    while (bytes_ > max_bytes && !lru_.empty()) {
        bytes_ -= lru_.back().bytes;
        index_.erase(lru_.back().key);
        lru_.pop_back();
    }
}

size_t ResponseCache::bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
}

size_t ResponseCache::entries() const {
    std::lock_guard lock(mutex_);
    return lru_.size();
}

}  // namespace edgelm::serve
