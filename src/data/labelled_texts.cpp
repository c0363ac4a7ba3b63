#include "data/labelled_texts.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace edgelm::data {

std::vector<LabelledText> read_labelled_texts(const std::string& path, bool need_label) {
    std::ifstream in(path);
    if (!in) throw IoError(path + ": cannot read the JSONL file");
    std::vector<LabelledText> out;
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        const std::string where = path + ":" + std::to_string(n);
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object())
            throw FormatError(where + ": not a JSON object; each line needs a \"text\"" +
                              (need_label ? std::string(" and a \"label\"") : ""));
        const auto text = j.find("text"), label = j.find("label");
        if (text == j.end() || !text->is_string())
            throw FormatError(where + ": needs a string field \"text\"");
        const bool has_label = label != j.end() && label->is_string();
        if (need_label && !has_label) throw FormatError(where + ": needs a string field \"label\"");
        out.push_back(
            {text->get<std::string>(), has_label ? label->get<std::string>() : "", where});
    }
    if (out.empty()) throw FormatError(path + ": no examples");
    return out;
}

}  // namespace edgelm::data
