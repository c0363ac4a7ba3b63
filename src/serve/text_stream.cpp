#include "serve/text_stream.h"

#include <algorithm>

namespace edgelm::serve {

size_t complete_utf8_prefix(std::string_view s, size_t n) {
    for (size_t back = 1; back <= 4 && back <= n; ++back) {
        const auto c = static_cast<unsigned char>(s[n - back]);
        if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
        const size_t need = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? n - back : n;
    }
    return n;  // only continuation bytes: not a sequence this can finish
}

TextStream::TextStream(std::vector<std::string> stops) : stops_(std::move(stops)) {}

std::string TextStream::push(std::string_view piece) {
    if (stopped_) return {};
    pending_ += piece;
    size_t first = std::string::npos;
    for (const std::string& s : stops_) first = std::min(first, pending_.find(s));
    if (first != std::string::npos) {
        stopped_ = true;
        std::string out = pending_.substr(0, first);
        pending_.clear();
        return out;
    }
    // Hold back the longest end of the text that begins a stop string.
    size_t hold = 0;
    for (const std::string& stop : stops_)
        for (size_t k = std::min(stop.size() - 1, pending_.size()); k > hold; --k)
            if (pending_.compare(pending_.size() - k, k, stop, 0, k) == 0) {
                hold = k;
                break;
            }
    size_t send = pending_.size() - hold;
    send = complete_utf8_prefix(pending_, send);
    std::string out = pending_.substr(0, send);
    pending_.erase(0, send);
    return out;
}

std::string TextStream::flush() {
    if (stopped_) return {};
    std::string out;
    out.swap(pending_);
    return out;
}

}  // namespace edgelm::serve
