#include "compression_report.h"

#include <cstdio>

namespace edgelm::cli {

nlohmann::json report_json(const std::string& input, const std::string& eval_text,
                           const std::vector<StageMeasurement>& stages) {
    nlohmann::json j = {
        {"input", input}, {"eval_text", eval_text}, {"stages", nlohmann::json::array()}};
    for (const StageMeasurement& s : stages)
        j["stages"].push_back({{"stage", s.stage},
                               {"file", s.file},
                               {"size_bytes", s.size_bytes},
                               {"params", s.params},
                               {"ratio_to_f32", s.ratio_to_f32},
                               {"perplexity", s.perplexity},
                               {"bits_per_byte", s.bits_per_byte},
                               {"mean_kl", s.mean_kl},
                               {"top1_agreement", s.top1_agreement},
                               {"decode_tok_s", s.decode_tok_s},
                               {"peak_rss_bytes", s.peak_rss_bytes}});
    return j;
}

std::string report_table(const std::vector<StageMeasurement>& stages) {
    std::string out;
    char line[512];
    std::snprintf(line, sizeof line, "%-24s %10s %7s %11s %8s %9s %7s %9s %9s\n", "stage",
                  "size_MiB", "x_f32", "perplexity", "bits/B", "KL", "top1_%", "decode/s",
                  "rss_MiB");
    out += line;
    for (const StageMeasurement& s : stages) {
        std::snprintf(line, sizeof line,
                      "%-24s %10.2f %7.2f %11.3f %8.4f %9.5f %7.2f %9.0f %9.1f\n", s.stage.c_str(),
                      static_cast<double>(s.size_bytes) / (1 << 20), s.ratio_to_f32, s.perplexity,
                      s.bits_per_byte, s.mean_kl, s.top1_agreement * 100, s.decode_tok_s,
                      static_cast<double>(s.peak_rss_bytes) / (1 << 20));
        out += line;
    }
    return out;
}

std::string report_html(const nlohmann::json& report) {
    // "</" cannot appear inside the script element; JSON escapes it harmlessly.
    std::string data = report.dump();
    for (size_t p = 0; (p = data.find("</", p)) != std::string::npos; p += 3)
        data.replace(p, 2, "<\\/");
    // clang-format off
    return R"html(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>edgelm compress report</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
svg text { font: 12px system-ui, sans-serif; }
</style></head><body>
<h1>edgelm compress</h1>
<p id="source"></p>
<table id="stages"><thead><tr><th>stage</th><th>size (MiB)</th><th>× smaller than f32</th>
<th>perplexity</th><th>bits/byte</th><th>KL vs input</th><th>top-1 agreement</th>
<th>decode tok/s</th><th>peak RSS (MiB)</th></tr></thead><tbody></tbody></table>
<h2>Size against quality</h2>
<svg id="chart" width="720" height="420" role="img" aria-label="size against perplexity"></svg>
<script id="report" type="application/json">)html" + data + R"html(</script>
<script>
const report = JSON.parse(document.getElementById("report").textContent);
const stages = report.stages;
const mib = b => b / 1048576;
document.getElementById("source").textContent =
  "Input " + report.input + ", evaluated on " + report.eval_text + ".";
const tbody = document.querySelector("#stages tbody");
for (const s of stages) {
  const row = [s.stage, mib(s.size_bytes).toFixed(2), s.ratio_to_f32.toFixed(2),
               s.perplexity.toFixed(3), s.bits_per_byte.toFixed(4), s.mean_kl.toFixed(5),
               (100 * s.top1_agreement).toFixed(2) + " %", s.decode_tok_s.toFixed(0),
               mib(s.peak_rss_bytes).toFixed(1)];
  const tr = document.createElement("tr");
  for (const v of row) { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); }
  tbody.appendChild(tr);
}
const svg = document.getElementById("chart");
const NS = "http://www.w3.org/2000/svg";
const W = 720, H = 420, L = 70, R = 30, T = 20, B = 50;
const el = (name, attrs, text) => {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  svg.appendChild(e);
  return e;
};
const xs = stages.map(s => mib(s.size_bytes)), ys = stages.map(s => s.perplexity);
const pad = (lo, hi) => { const d = (hi - lo) || Math.abs(hi) || 1; return [lo - 0.08 * d, hi + 0.08 * d]; };
const x0 = 0, x1 = 1.08 * Math.max(...xs) || 1;  // sizes from zero
const [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
const X = v => L + (v - x0) / (x1 - x0) * (W - L - R), Y = v => H - B - (v - y0) / (y1 - y0) * (H - T - B);
el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#444"});
el("line", {x1: L, y1: T, x2: L, y2: H - B, stroke: "#444"});
for (let i = 0; i <= 4; ++i) {
  const xv = x0 + i * (x1 - x0) / 4, yv = y0 + i * (y1 - y0) / 4;
  el("text", {x: X(xv), y: H - B + 18, "text-anchor": "middle"}, xv.toFixed(1));
  el("text", {x: L - 8, y: Y(yv) + 4, "text-anchor": "end"}, yv.toFixed(1));
}
el("text", {x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle"}, "size on disk (MiB)");
el("text", {x: 16, y: (T + H - B) / 2, transform: "rotate(-90 16 " + (T + H - B) / 2 + ")",
            "text-anchor": "middle"}, "held-out perplexity");
el("polyline", {points: stages.map((s, i) => X(xs[i]) + "," + Y(ys[i])).join(" "),
                fill: "none", stroke: "#89a", "stroke-dasharray": "4 3"});
stages.forEach((s, i) => {
  el("circle", {cx: X(xs[i]), cy: Y(ys[i]), r: 5, fill: i ? "#c33" : "#36c", class: "stage"});
  el("text", {x: X(xs[i]) + 8, y: Y(ys[i]) - 8}, s.stage);
});
svg.setAttribute("data-rendered", String(stages.length));
</script></body></html>
)html";
    // clang-format on
}

}  // namespace edgelm::cli
