#include "train/distillation_loss.h"

namespace edgelm::train {

torch::Tensor distillation_kl(const torch::Tensor& student, const torch::Tensor& teacher,
                              double temperature) {
    const torch::Tensor log_p_s = torch::log_softmax(student / temperature, -1);
    const torch::Tensor log_p_t = torch::log_softmax(teacher / temperature, -1);
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean() * (temperature * temperature);
}

torch::Tensor distillation_kl_top_k(const torch::Tensor& student, const torch::Tensor& top_idx,
                                    const torch::Tensor& top_val, const torch::Tensor& top_lse,
                                    double temperature) {
    const torch::Tensor log_p_s = torch::log_softmax(student / temperature, -1);
    const torch::Tensor log_p_t = top_val / temperature - top_lse.unsqueeze(1);
    const torch::Tensor p_t = log_p_t.exp();
    const torch::Tensor log_q = log_p_s.gather(1, top_idx);
    const torch::Tensor rest_t = (1 - p_t.sum(-1)).clamp_min(1e-12);
    const torch::Tensor rest_s = (1 - log_q.exp().sum(-1)).clamp_min(1e-12);
    return ((p_t * (log_p_t - log_q)).sum(-1) + rest_t * (rest_t.log() - rest_s.log())).mean() *
           (temperature * temperature);
}

}  // namespace edgelm::train
