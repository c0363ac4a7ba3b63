// What each stage of `edgelm compress` cost and bought: the table it prints, the JSON and
// the HTML page (a table and a size-versus-quality chart drawn by the page's own script
// from the embedded JSON, so the page needs nothing but a browser).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace edgelm::cli {

struct StageMeasurement {
    std::string stage;  // "input" or the stage as written
    std::string file;
    uint64_t size_bytes = 0;
    uint64_t params = 0;
    double ratio_to_f32 = 0;  // the input's size in f32 over this file's size
    double perplexity = 0, bits_per_byte = 0;
    double mean_kl = 0, top1_agreement = 1;  // against the input model
    double decode_tok_s = 0;
    uint64_t peak_rss_bytes = 0;  // of a bench process on this file
};

nlohmann::json report_json(const std::string& input, const std::string& eval_text,
                           const std::vector<StageMeasurement>& stages);
std::string report_table(const std::vector<StageMeasurement>& stages);
std::string report_html(const nlohmann::json& report);

}  // namespace edgelm::cli
