#include "core/huffman_code.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <stdexcept>

namespace edgelm {

namespace {

// Huffman's algorithm on the symbols with a non-zero count; returns each one's depth.
std::vector<uint8_t> unlimited_lengths(const std::vector<uint64_t>& counts) {
    const size_t k = counts.size();
    std::vector<uint8_t> lengths(k, 0);
    // Nodes 0..k-1 are the leaves; internal nodes follow. parent[i] links them.
    std::vector<int> parent(2 * k, -1);
    using Item = std::pair<uint64_t, int>;
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> queue;
    for (size_t s = 0; s < k; ++s)
        if (counts[s] > 0) queue.push({counts[s], static_cast<int>(s)});
    if (queue.empty()) return lengths;
    if (queue.size() == 1) {
        lengths[static_cast<size_t>(queue.top().second)] = 1;
        return lengths;
    }
    int next = static_cast<int>(k);
    while (queue.size() > 1) {
        const Item a = queue.top();
        queue.pop();
        const Item b = queue.top();
        queue.pop();
        parent[static_cast<size_t>(a.second)] = next;
        parent[static_cast<size_t>(b.second)] = next;
        queue.push({a.first + b.first, next++});
    }
    for (size_t s = 0; s < k; ++s) {
        if (counts[s] == 0) continue;
        int depth = 0;
        for (int node = static_cast<int>(s); parent[static_cast<size_t>(node)] >= 0;
             node = parent[static_cast<size_t>(node)])
            ++depth;
        lengths[s] = static_cast<uint8_t>(std::min(depth, 255));
    }
    return lengths;
}

// The canonical codes of `lengths`: codes[s] holds the lengths[s] low bits.
std::vector<uint32_t> canonical_codes(const std::vector<uint8_t>& lengths) {
    std::vector<uint32_t> count(kMaxHuffmanBits + 2, 0), first(kMaxHuffmanBits + 2, 0);
    for (uint8_t l : lengths) ++count[l];
    count[0] = 0;
    uint32_t code = 0;
    for (int l = 1; l <= kMaxHuffmanBits; ++l) {
        code = (code + count[static_cast<size_t>(l - 1)]) << 1;
        first[static_cast<size_t>(l)] = code;
    }
    std::vector<uint32_t> codes(lengths.size(), 0);
    for (size_t s = 0; s < lengths.size(); ++s)
        if (lengths[s]) codes[s] = first[lengths[s]]++;
    return codes;
}

}  // namespace

std::vector<uint8_t> huffman_code_lengths(const std::vector<uint64_t>& counts) {
    if (counts.size() > 256) throw std::invalid_argument("huffman: more than 256 symbols");
    std::vector<uint64_t> c = counts;
    for (;;) {
        std::vector<uint8_t> lengths = unlimited_lengths(c);
        if (*std::max_element(lengths.begin(), lengths.end()) <= kMaxHuffmanBits) return lengths;
        // Too deep: halve the counts (keeping every occurring symbol) and try again. Each
        // round brings the counts closer to equal, and equal counts need 8 bits at most.
        for (uint64_t& v : c)
            if (v) v = v / 2 + 1;
    }
}

uint64_t huffman_encoded_bits(const std::vector<uint8_t>& lengths,
                              const std::vector<uint64_t>& counts) {
    uint64_t bits = 0;
    for (size_t s = 0; s < counts.size() && s < lengths.size(); ++s) bits += counts[s] * lengths[s];
    return bits;
}

std::vector<uint8_t> huffman_encode(const std::vector<uint8_t>& lengths, const uint8_t* symbols,
                                    uint64_t n) {
    const std::vector<uint32_t> codes = canonical_codes(lengths);
    std::vector<uint8_t> out;
    out.reserve(n / 2 + 8);
    uint64_t acc = 0;  // pending bits, the oldest highest
    int n_acc = 0;
    for (uint64_t i = 0; i < n; ++i) {
        const uint8_t s = symbols[i];
        if (s >= lengths.size() || lengths[s] == 0)
            throw std::invalid_argument("huffman: symbol " + std::to_string(s) + " has no code");
        acc = (acc << lengths[s]) | codes[s];
        n_acc += lengths[s];
        while (n_acc >= 8) {
            n_acc -= 8;
            out.push_back(static_cast<uint8_t>(acc >> n_acc));
        }
    }
    if (n_acc > 0) out.push_back(static_cast<uint8_t>(acc << (8 - n_acc)));
    return out;
}

bool huffman_decode(const std::vector<uint8_t>& lengths, const uint8_t* bytes, uint64_t n_bytes,
                    uint8_t* out, uint64_t n) {
    if (lengths.size() > 256) return false;
    // Kraft's inequality: the lengths must not over-subscribe the code space.
    uint64_t space = 0;
    int max_len = 0;
    for (uint8_t l : lengths) {
        if (l > kMaxHuffmanBits) return false;
        if (l) space += uint64_t{1} << (kMaxHuffmanBits - l);
        max_len = std::max<int>(max_len, l);
    }
    if (max_len == 0 || space > (uint64_t{1} << kMaxHuffmanBits)) return false;
    // table[bits] for the next max_len bits of the stream: symbol + 1 (0: no code) and length.
    const std::vector<uint32_t> codes = canonical_codes(lengths);
    std::vector<uint16_t> table(size_t{1} << max_len, 0);
    for (size_t s = 0; s < lengths.size(); ++s) {
        const int l = lengths[s];
        if (!l) continue;
        const uint32_t lo = codes[s] << (max_len - l), hi = (codes[s] + 1) << (max_len - l);
        for (uint32_t b = lo; b < hi; ++b) table[b] = static_cast<uint16_t>(((s + 1) << 4) | l);
    }
    uint64_t acc = 0;
    int n_acc = 0;
    uint64_t pos = 0;
    for (uint64_t i = 0; i < n; ++i) {
        while (n_acc < max_len) {  // bytes past the end read as zeros, checked below
            acc = (acc << 8) | (pos < n_bytes ? bytes[pos] : 0);
            ++pos;
            n_acc += 8;
        }
        const uint16_t e =
            table[static_cast<size_t>((acc >> (n_acc - max_len)) & ((1u << max_len) - 1))];
        if (e == 0) return false;
        out[i] = static_cast<uint8_t>((e >> 4) - 1);
        n_acc -= e & 15;
    }
    // Bits consumed must fit in the stream, and only its last byte's padding may remain.
    const uint64_t used_bits = pos * 8 - static_cast<uint64_t>(n_acc);
    return used_bits <= n_bytes * 8 && (used_bits + 7) / 8 == n_bytes;
}

}  // namespace edgelm
