// The distillation term of `edgelm distill`: KL(softmax(t / T) || softmax(s / T)) per token,
// averaged over tokens and multiplied by T^2, which keeps its gradients on the scale of
// the cross-entropy's (Hinton et al., 2015).
#pragma once

#include <torch/torch.h>

namespace edgelm::train {

// student, teacher: (tokens, vocab) logits.
torch::Tensor distillation_kl(const torch::Tensor& student, const torch::Tensor& teacher,
                              double temperature);

// The same from cached top-k logits (train/teacher_cache.h): top_idx, top_val (tokens, k)
// and top_lse (tokens) = log sum exp(teacher / T). The KL is over the k tokens and one
// bucket holding the rest of each distribution's mass.
torch::Tensor distillation_kl_top_k(const torch::Tensor& student, const torch::Tensor& top_idx,
                                    const torch::Tensor& top_val, const torch::Tensor& top_lse,
                                    double temperature);

}  // namespace edgelm::train
