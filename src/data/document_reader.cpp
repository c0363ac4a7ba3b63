#include "data/document_reader.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace edgelm::data {

namespace {

bool is_blank(std::string_view line) {
    return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

std::string_view strip_cr(std::string_view line) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    return line;
}

const char* json_type_name(const nlohmann::json& j) {
    return j.type_name();
}

}  // namespace

DocumentFormat DocumentFormat::parse(const std::string& spec) {
    DocumentFormat f;
    const size_t colon = spec.find(':');
    const std::string kind = spec.substr(0, colon);
    const std::string field = colon == std::string::npos ? "" : spec.substr(colon + 1);
    if (kind == "txt" && colon == std::string::npos) return f;
    if ((kind == "jsonl" || kind == "csv") && !field.empty()) {
        f.kind = kind == "jsonl" ? Kind::kJsonl : Kind::kCsv;
        f.field = field;
        return f;
    }
    if ((kind == "jsonl" || kind == "csv") && field.empty())
        throw ArgumentError("unknown --format '" + spec + "': " + kind + " needs the " +
                            (kind == "jsonl" ? "field" : "column") + " that holds the text, e.g. " +
                            kind + ":text");
    throw ArgumentError("unknown --format '" + spec + "' (txt, jsonl:FIELD or csv:COLUMN)");
}

std::string DocumentFormat::name() const {
    switch (kind) {
        case Kind::kJsonl:
            return "jsonl:" + field;
        case Kind::kCsv:
            return "csv:" + field;
        default:
            return "txt";
    }
}

DocumentReader::DocumentReader(const std::string& path, const DocumentFormat& format,
                               size_t max_document_bytes)
    : format_(format), max_document_bytes_(max_document_bytes), lines_(path) {}

void DocumentReader::fail(uint64_t line, const std::string& what) const {
    throw FormatError(lines_.path() + ":" + std::to_string(line) + ": " + what);
}

bool DocumentReader::next(Document& doc) {
    doc.text.clear();
    doc.line = 0;
    switch (format_.kind) {
        case DocumentFormat::Kind::kJsonl:
            return next_jsonl(doc);
        case DocumentFormat::Kind::kCsv:
            return next_csv(doc);
        default:
            return next_text(doc);
    }
}

bool DocumentReader::next_text(Document& doc) {
    std::string_view line;
    while (lines_.next(line)) {
        if (is_blank(line)) {
            if (doc.line != 0) return true;
            continue;
        }
        line = strip_cr(line);
        if (doc.line == 0) {
            doc.line = lines_.line_number();
        } else {
            doc.text += '\n';
        }
        doc.text += line;
        if (doc.text.size() >= max_document_bytes_) {
            ++documents_cut_;  // the rest of the block is the next document
            return true;
        }
    }
    return doc.line != 0;
}

bool DocumentReader::next_jsonl(Document& doc) {
    std::string_view line;
    while (lines_.next(line)) {
        if (is_blank(line)) continue;
        const uint64_t n = lines_.line_number();
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::parse_error& e) {
            // e.what() is "[json.exception.parse_error.101] parse error at line 1, column
            // 7: ...": keep it from "parse error" on, without "line 1" (the JSON is one
            // line; the error names the file's line).
            std::string what = e.what();
            const size_t at = what.find("parse error");
            if (at != std::string::npos) what.erase(0, at);
            const size_t line_one = what.find("at line 1, column");
            if (line_one != std::string::npos) what.erase(line_one + 3, 8);  // "at column 14"
            fail(n, "malformed JSON (" + what + "); each line must be one JSON object");
        }
        if (!j.is_object())
            fail(n, std::string("expected a JSON object, got ") + json_type_name(j) +
                        "; each line must be one JSON object");
        const auto it = j.find(format_.field);
        if (it == j.end()) {
            std::string keys;
            for (const auto& [k, v] : j.items()) keys += (keys.empty() ? "" : ", ") + k;
            fail(n, "no field '" + format_.field +
                        "' (the object has: " + (keys.empty() ? "no fields" : keys) +
                        "); choose it with --format jsonl:FIELD");
        }
        if (!it->is_string())
            fail(n, "field '" + format_.field + "' is a " + json_type_name(*it) + ", not a string");
        doc.text = it->get<std::string>();
        doc.line = n;
        return true;
    }
    return false;
}

bool DocumentReader::read_csv_record(std::vector<std::string>& fields, uint64_t& first_line) {
    std::string_view line;
    do {
        if (!lines_.next(line)) return false;
    } while (line.empty() || line == "\r");
    first_line = lines_.line_number();
    fields.clear();
    std::string field;
    bool quoted = false;       // inside a quoted field
    bool was_quoted = false;   // the current field started with a quote
    bool after_quote = false;  // just past a field's closing quote
    for (;;) {
        for (size_t i = 0; i < line.size(); ++i) {
            const char c = line[i];
            if (quoted) {
                if (c != '"') {
                    field += c;
                } else if (i + 1 < line.size() && line[i + 1] == '"') {
                    field += '"';
                    ++i;
                } else {
                    quoted = false;
                    after_quote = true;
                }
            } else if (c == ',') {
                fields.push_back(std::move(field));
                field.clear();
                was_quoted = after_quote = false;
            } else if (after_quote) {
                if (c == '\r' && i + 1 == line.size()) continue;
                fail(lines_.line_number(),
                     std::string("unexpected '") + c +
                         "' after the closing quote of a field; a quote inside a quoted field "
                         "is written \"\"");
            } else if (c == '"' && field.empty() && !was_quoted) {
                quoted = was_quoted = true;
            } else {
                field += c;
            }
        }
        if (!quoted) break;
        // A line break inside a quoted field belongs to the field.
        field += '\n';
        if (!lines_.next(line))
            fail(first_line, "a quoted field starting on this line is never closed");
    }
    if (!was_quoted && field.ends_with('\r')) field.pop_back();
    fields.push_back(std::move(field));
    return true;
}

bool DocumentReader::next_csv(Document& doc) {
    std::vector<std::string> fields;
    uint64_t line = 0;
    if (!csv_header_read_) {
        if (!read_csv_record(fields, line)) return false;
        csv_header_read_ = true;
        csv_width_ = fields.size();
        size_t i = 0;
        while (i < fields.size() && fields[i] != format_.field) ++i;
        if (i == fields.size()) {
            std::string names;
            for (const std::string& f : fields) names += (names.empty() ? "'" : ", '") + f + "'";
            fail(line, "no column '" + format_.field + "' in the header (it has " + names +
                           "); choose it with --format csv:COLUMN");
        }
        csv_column_ = i;
    }
    if (!read_csv_record(fields, line)) return false;
    if (fields.size() != csv_width_)
        fail(line, "the row has " + std::to_string(fields.size()) + " fields but the header has " +
                       std::to_string(csv_width_) +
                       " (a field holding commas, quotes or line breaks must be quoted)");
    doc.text = std::move(fields[csv_column_]);
    doc.line = line;
    return true;
}

}  // namespace edgelm::data
