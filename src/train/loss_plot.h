// The loss curve of a run as a self-contained SVG (no plotting library on a device-side
// toolchain): training loss per logged step and validation loss per evaluation.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace edgelm::train {

struct LossCurves {
    std::vector<std::pair<double, double>> train;  // (step, loss)
    std::vector<std::pair<double, double>> val;
};

std::string loss_plot_svg(const LossCurves& curves, const std::string& title);

}  // namespace edgelm::train
