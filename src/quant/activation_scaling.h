// Activation-aware channel scaling (AWQ) for calibrated quantization. A matrix that reads a
// normed input (attn_q/k/v after attn_norm; ffn_gate/up after ffn_norm) can have its
// input channel c multiplied by s_c if the norm's weight is divided by s_c: the model
// computes the same function, but the channels that carry large activations get a
// finer quantization grid, and those are where the output error comes from.
//
// s_c = rms(x_c)^alpha, normalised so that sqrt(max s * min s) = 1, with alpha per norm
// chosen from 0, 0.1, ..., 1 by the smallest output error (sum_r e_r H e_r^T) of the
// group's matrices rounded to their target types; alpha = 0 is plain rounding, so the
// choice never does worse than rounding on the calibration text. The attention and FFN
// output projections (attn_output, ffn_down) read no norm and are left unscaled.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "quant/calibration.h"

namespace edgelm {

class GgufFile;
class ThreadPool;

struct ChannelScales {
    // Matrix name -> s: its column c is multiplied by s[c].
    std::map<std::string, std::vector<float>> columns;
    // Norm weight name -> s: its element c is divided by s[c].
    std::map<std::string, std::vector<float>> divisors;
    // Matrix name -> H of its scaled input, S^-1 H S^-1 (shared within a group).
    std::map<std::string, std::shared_ptr<const std::vector<double>>> inputs;
    // Norm weight name -> the alpha chosen for it.
    std::map<std::string, double> alpha;
};

// `type_of` gives each matrix's target type; groups whose matrices all stay float are
// left alone.
ChannelScales choose_channel_scales(const GgufFile& in, const CalibrationStats& stats,
                                    const std::function<DType(const std::string&)>& type_of,
                                    ThreadPool& pool);

}  // namespace edgelm
