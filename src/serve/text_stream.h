// Generated tokens to the text a client may be sent so far. Two things are held back: the
// end of an incomplete UTF-8 sequence (a byte-fallback token can carry part of a
// character), and the end of the text that begins a stop string, so a stop string is never
// sent, not even in part, and nothing after it is.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace edgelm::serve {

class TextStream {
  public:
    explicit TextStream(std::vector<std::string> stops);
    // Adds a token's bytes; returns what can be sent now. After a stop string appears,
    // returns the text before it and stopped() is true; later calls return nothing.
    std::string push(std::string_view piece);
    // At the end: what was held back (bytes of an unfinished character included; the JSON
    // writer replaces them with U+FFFD).
    std::string flush();
    bool stopped() const { return stopped_; }

  private:
    std::vector<std::string> stops_;
    std::string pending_;
    bool stopped_ = false;
};

// The length of the longest prefix of s[0, n) that does not end inside a UTF-8 sequence.
size_t complete_utf8_prefix(std::string_view s, size_t n);

}  // namespace edgelm::serve
