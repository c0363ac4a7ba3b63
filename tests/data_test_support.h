// Helpers for the data pipeline tests: files and directories made at test time, a small
// deterministic English-like corpus, and a tiny tokenizer trained on it with
// libsentencepiece (vocab 320: well under a second).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "data/spm_training.h"
#include "test_models.h"

namespace edgelm::testing {

inline void write_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary);
    out << content;
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A fresh empty directory under the test temp directory.
inline std::string temp_dir(const std::string& name) {
    const std::string dir = temp_path(name);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

// Sentence `i` of a corpus over a small lower-case alphabet (so a 320-token vocabulary
// has room for merges after its 259 reserved and byte tokens).
inline std::string sentence(uint32_t i) {
    static const std::vector<std::string> words = {
        "the",  "a",     "small", "model", "runs",  "on",   "every", "device", "and",
        "data", "is",    "split", "into",  "train", "val",  "with",  "tokens", "from",
        "text", "files", "we",    "read",  "each",  "line", "of",    "our",    "corpus",
        "jury", "said",  "it",    "found", "no",    "sign", "that",  "any",    "fox"};
    std::mt19937 rng(i * 7919u + 13u);
    const size_t n = 4 + rng() % 8;
    std::string s;
    for (size_t k = 0; k < n; ++k) {
        if (k) s += ' ';
        s += words[rng() % words.size()];
    }
    return s + ".";
}

// Document `i`: 1 to 4 sentences, one per line.
inline std::string document(uint32_t i) {
    std::string d;
    const uint32_t lines = 1 + i % 4;
    for (uint32_t k = 0; k < lines; ++k) {
        if (k) d += '\n';
        d += sentence(i * 5 + k);
    }
    return d;
}

// txt: documents separated by one empty line, with a trailing newline.
inline std::string txt_corpus(const std::vector<std::string>& docs) {
    std::string s;
    for (size_t i = 0; i < docs.size(); ++i) s += (i ? "\n\n" : "") + docs[i];
    return s + "\n";
}

// A 320-token tokenizer trained on sentences 0..799; trained once per test process and
// removed at exit.
inline const std::string& tiny_tokenizer() {
    static const std::string path = temp_path("tiny.model");
    [[maybe_unused]] static const bool trained = [] {
        const std::string corpus = temp_path("tiny-corpus.txt");
        std::string text;
        for (uint32_t i = 0; i < 800; ++i) text += sentence(i) + "\n";
        write_file(corpus, text);
        data::SpmTrainOptions o;
        o.inputs = {corpus};
        o.vocab_size = 320;
        o.output = path;
        o.threads = 1;
        data::train_spm_tokenizer(o);
        std::filesystem::remove(corpus);
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove(path, ec);
        });
        return true;
    }();
    return path;
}

}  // namespace edgelm::testing
