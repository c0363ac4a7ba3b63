// Labelled texts for classification: JSONL, one object per line with string fields "text"
// and "label" (what `edgelm data emails` writes; `finetune --task classify` trains on it,
// `eval --task classify` scores against it). Blank lines are skipped.
#pragma once

#include <string>
#include <vector>

namespace edgelm::data {

struct LabelledText {
    std::string text, label;
    std::string where;  // FILE:LINE, for error messages
};

// Throws IoError if the file cannot be read, FormatError naming FILE:LINE for a line that
// is not such an object (with `need_label` false, "label" may be missing), and for a file
// without examples.
std::vector<LabelledText> read_labelled_texts(const std::string& path, bool need_label = true);

}  // namespace edgelm::data
