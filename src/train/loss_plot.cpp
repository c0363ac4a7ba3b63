#include "train/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace edgelm::train {

namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '<')
            out += "&lt;";
        else if (c == '>')
            out += "&gt;";
        else if (c == '&')
            out += "&amp;";
        else
            out += c;
    }
    return out;
}

}  // namespace

std::string loss_plot_svg(const LossCurves& curves, const std::string& title) {
    const double W = 720, H = 420, left = 64, right = 150, top = 36, bottom = 48;
    double x0 = std::numeric_limits<double>::max(), x1 = -x0, y0 = x0, y1 = -x0;
    for (const auto* series : {&curves.train, &curves.val})
        for (const auto& [x, y] : *series) {
            if (!std::isfinite(y)) continue;
            x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
        }
    if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 == x0) x1 = x0 + 1;
    if (y1 == y0) y1 = y0 + 1;
    const double pad = 0.05 * (y1 - y0);
    y0 -= pad, y1 += pad;
    const auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (W - left - right); };
    const auto py = [&](double y) { return top + (y1 - y) / (y1 - y0) * (H - top - bottom); };

    std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", W) +
                    "\" height=\"" + fmt("%.0f", H) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n"
                    "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    s += "<text x=\"" + fmt("%.0f", left) + "\" y=\"22\" font-size=\"14\">" + escape(title) +
         "</text>\n";
    // Axes with five ticks each.
    s += "<g stroke=\"#888\" fill=\"none\"><rect x=\"" + fmt("%.1f", left) + "\" y=\"" +
         fmt("%.1f", top) + "\" width=\"" + fmt("%.1f", W - left - right) + "\" height=\"" +
         fmt("%.1f", H - top - bottom) + "\"/></g>\n";
    for (int i = 0; i <= 4; ++i) {
        const double yv = y0 + (y1 - y0) * i / 4, xv = x0 + (x1 - x0) * i / 4;
        s += "<text x=\"" + fmt("%.1f", left - 6) + "\" y=\"" + fmt("%.1f", py(yv) + 4) +
             "\" text-anchor=\"end\">" + fmt("%.2f", yv) + "</text>\n";
        s += "<text x=\"" + fmt("%.1f", px(xv)) + "\" y=\"" + fmt("%.1f", H - bottom + 16) +
             "\" text-anchor=\"middle\">" + fmt("%.0f", xv) + "</text>\n";
    }
    s += "<text x=\"" + fmt("%.1f", (left + W - right) / 2) + "\" y=\"" + fmt("%.1f", H - 10) +
         "\" text-anchor=\"middle\">step</text>\n";
    s += "<text x=\"16\" y=\"" + fmt("%.1f", (top + H - bottom) / 2) +
         "\" transform=\"rotate(-90 16 " + fmt("%.1f", (top + H - bottom) / 2) +
         ")\" text-anchor=\"middle\">loss (nats/token)</text>\n";
    const auto polyline = [&](const std::vector<std::pair<double, double>>& pts, const char* color,
                              const char* label, double legend_y) {
        if (pts.empty()) return;
        s += "<polyline fill=\"none\" stroke=\"" + std::string(color) +
             "\" stroke-width=\"1.5\" points=\"";
        for (const auto& [x, y] : pts)
            if (std::isfinite(y)) s += fmt("%.1f", px(x)) + "," + fmt("%.1f", py(y)) + " ";
        s += "\"/>\n";
        for (const auto& [x, y] : pts)
            if (pts.size() < 64 && std::isfinite(y))
                s += "<circle cx=\"" + fmt("%.1f", px(x)) + "\" cy=\"" + fmt("%.1f", py(y)) +
                     "\" r=\"2.5\" fill=\"" + color + "\"/>\n";
        s += "<line x1=\"" + fmt("%.0f", W - right + 12) + "\" x2=\"" +
             fmt("%.0f", W - right + 32) + "\" y1=\"" + fmt("%.0f", legend_y) + "\" y2=\"" +
             fmt("%.0f", legend_y) + "\" stroke=\"" + color + "\" stroke-width=\"2\"/><text x=\"" +
             fmt("%.0f", W - right + 38) + "\" y=\"" + fmt("%.0f", legend_y + 4) + "\">" + label +
             "</text>\n";
    };
    polyline(curves.train, "#1f77b4", "train", top + 10);
    polyline(curves.val, "#d62728", "validation", top + 30);
    s += "</svg>\n";
    return s;
}

}  // namespace edgelm::train
