// Small pieces the training loops share (train/training_loop.cpp, classifier_training.cpp).
#pragma once

#include <string>

namespace edgelm::train {

// Whether this CPU has native bf16 instructions (where `--precision auto` picks bf16).
bool cpu_has_bf16();
// "3m07s", "1h02m": progress lines.
std::string format_duration(double seconds);

}  // namespace edgelm::train
