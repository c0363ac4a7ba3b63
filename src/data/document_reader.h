// Documents from one input file, streamed, in one of three formats:
//
//   txt           blocks of non-empty lines separated by one or more empty lines (a line
//                 of only spaces, tabs or '\r' counts as empty); the lines of a block are
//                 joined by "\n"; a '\r' ending a line is dropped. A block longer than
//                 max_document_bytes is cut at a line boundary into several documents, so
//                 a file without empty lines does not become one huge document.
//   jsonl:FIELD   one JSON object per line; the document is its string field FIELD (empty
//                 lines are skipped).
//   csv:COLUMN    RFC 4180: a header row, then one record per row; the document is the
//                 field under the header name COLUMN. Quoted fields may hold commas, line
//                 breaks (kept as they are in the file) and "" for a quote; every row must
//                 have as many fields as the header; empty lines are skipped.
//
// Malformed input is a FormatError naming the file and line and saying what to fix.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/line_reader.h"

namespace edgelm::data {

struct DocumentFormat {
    enum class Kind { kText, kJsonl, kCsv };
    Kind kind = Kind::kText;
    std::string field;  // jsonl field or csv column

    // "txt", "jsonl:FIELD" or "csv:COLUMN"; throws ArgumentError otherwise.
    static DocumentFormat parse(const std::string& spec);
    std::string name() const;  // the spec it was parsed from
};

struct Document {
    std::string text;
    uint64_t line = 0;  // 1-based line where the document starts in its file
};

class DocumentReader {
  public:
    static constexpr size_t kDefaultMaxDocumentBytes = size_t{1} << 20;

    DocumentReader(const std::string& path, const DocumentFormat& format,
                   size_t max_document_bytes = kDefaultMaxDocumentBytes);

    // The next document (jsonl and csv documents may be empty); false at the end.
    bool next(Document& doc);

    uint64_t bytes_read() const { return lines_.bytes_read(); }
    // txt blocks cut because they exceeded max_document_bytes (each cut adds a document).
    uint64_t documents_cut() const { return documents_cut_; }

  private:
    bool next_text(Document& doc);
    bool next_jsonl(Document& doc);
    bool next_csv(Document& doc);
    // One CSV record (which may span lines); false at the end of the file.
    bool read_csv_record(std::vector<std::string>& fields, uint64_t& first_line);
    [[noreturn]] void fail(uint64_t line, const std::string& what) const;

    DocumentFormat format_;
    size_t max_document_bytes_;
    LineReader lines_;
    uint64_t documents_cut_ = 0;
    size_t csv_column_ = 0, csv_width_ = 0;
    bool csv_header_read_ = false;
};

}  // namespace edgelm::data
