// Cached teacher logits for distillation (`--teacher-cache FILE`): the teacher's top-k
// logits of every token of every micro-batch, and the log of its softmax denominator at the
// distillation temperature, so that a second run over the same batches (another student,
// other hyper-parameters, a resumed run) skips the teacher's forward pass. With the
// denominator the top-k probabilities are exact and the rest of the vocabulary is one
// bucket holding the remaining mass: the distillation term is the KL over those k + 1
// outcomes. (Renormalising over the top k instead tells the student that every other token
// is impossible; on the demo model that tripled its held-out perplexity.)
//
// The file is a header (what it was made for: the teacher file, k, the batch shape, the
// vocabulary) and fixed-size records, one per (step, micro-batch), each holding the batch's
// input tokens: a record is used only when its tokens are the batch being trained on, so a
// run with another seed or data order recomputes (and overwrites) what does not match
// instead of training on the wrong targets. A record is marked valid only after its data is
// written, so an interrupted run leaves nothing half-used.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace edgelm::train {

class TeacherLogitCache {
  public:
    // Opens or creates `path`. Throws ArgumentError if the file exists but was made for
    // another teacher, k, batch shape or vocabulary.
    TeacherLogitCache(const std::string& path, uint64_t teacher_fingerprint, int64_t k,
                      int64_t rows, int64_t tokens, int64_t vocab, double temperature);
    ~TeacherLogitCache();
    TeacherLogitCache(const TeacherLogitCache&) = delete;
    TeacherLogitCache& operator=(const TeacherLogitCache&) = delete;

    // Record `record` for input `batch` (rows, tokens) int64: fills idx (rows * tokens, k)
    // int64, val (same, f32 logits) and lse (rows * tokens, f32: log sum exp(logits / T))
    // and returns true if the record holds exactly this batch.
    bool read(int64_t record, const torch::Tensor& batch, torch::Tensor& idx, torch::Tensor& val,
              torch::Tensor& lse);
    // Stores them (values as f16; `val` is rounded to what is stored, so that a run that
    // writes trains on what a later run reads).
    void write(int64_t record, const torch::Tensor& batch, const torch::Tensor& idx,
               torch::Tensor& val, const torch::Tensor& lse);

    int64_t k() const { return k_; }
    int64_t hits = 0, misses = 0;

  private:
    std::string path_;
    int fd_ = -1;
    int64_t k_, rows_, tokens_;
    uint64_t record_bytes_ = 0;
};

// A fingerprint of a GGUF file (FNV-1a of its header and size), as the runtime's Model has.
uint64_t gguf_fingerprint(const std::string& path);

}  // namespace edgelm::train
