// Documents from txt, jsonl and csv files (data/document_reader.h) and the line reader
// under them: separators, line endings, quoting, and one clear error per kind of bad input.
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/document_reader.h"
#include "data/line_reader.h"
#include "data_test_support.h"

namespace edgelm::data {
namespace {

using edgelm::testing::temp_path;
using edgelm::testing::write_file;

struct Read {
    std::vector<std::string> texts;
    std::vector<uint64_t> lines;
};

Read read_all(const std::string& content, const std::string& format,
              size_t max_document_bytes = DocumentReader::kDefaultMaxDocumentBytes) {
    const std::string path = temp_path("docs.in");
    write_file(path, content);
    DocumentReader reader(path, DocumentFormat::parse(format), max_document_bytes);
    Read r;
    Document d;
    while (reader.next(d)) {
        r.texts.push_back(d.text);
        r.lines.push_back(d.line);
    }
    EXPECT_EQ(reader.bytes_read(), content.size());
    std::filesystem::remove(path);
    return r;
}

// The FormatError message for reading `content` as `format` ("" if none was thrown).
std::string error_of(const std::string& content, const std::string& format) {
    const std::string path = temp_path("bad.in");
    write_file(path, content);
    try {
        DocumentReader reader(path, DocumentFormat::parse(format));
        Document d;
        while (reader.next(d)) {
        }
    } catch (const FormatError& e) {
        std::filesystem::remove(path);
        // Errors name the file; return the rest.
        const std::string what = e.what();
        EXPECT_EQ(what.rfind(path + ":", 0), 0u) << what;
        return what.substr(path.size());
    }
    std::filesystem::remove(path);
    return "";
}

TEST(DocumentFormat, ParsesTheThreeFormats) {
    EXPECT_EQ(DocumentFormat::parse("txt").kind, DocumentFormat::Kind::kText);
    const DocumentFormat j = DocumentFormat::parse("jsonl:body");
    EXPECT_EQ(j.kind, DocumentFormat::Kind::kJsonl);
    EXPECT_EQ(j.field, "body");
    EXPECT_EQ(j.name(), "jsonl:body");
    const DocumentFormat c = DocumentFormat::parse("csv:my col");
    EXPECT_EQ(c.kind, DocumentFormat::Kind::kCsv);
    EXPECT_EQ(c.field, "my col");
    for (const char* bad : {"", "text", "json:x", "txt:x", "jsonl", "jsonl:", "csv", "CSV:a"})
        EXPECT_THROW(DocumentFormat::parse(bad), ArgumentError) << bad;
}

TEST(TextDocuments, BlocksSeparatedByEmptyLines) {
    const Read r = read_all("one\ntwo\n\nthree\n\n\n\nfour\nfive\nsix\n", "txt");
    EXPECT_EQ(r.texts, (std::vector<std::string>{"one\ntwo", "three", "four\nfive\nsix"}));
    EXPECT_EQ(r.lines, (std::vector<uint64_t>{1, 4, 8}));
}

TEST(TextDocuments, LeadingTrailingBlankLinesCrlfBomAndNoFinalNewline) {
    const Read r = read_all("\xEF\xBB\xBF\n \t\nfirst line\r\nsecond  \r\n\r\n  \nlast", "txt");
    EXPECT_EQ(r.texts, (std::vector<std::string>{"first line\nsecond  ", "last"}));
    EXPECT_EQ(r.lines, (std::vector<uint64_t>{3, 7}));
    EXPECT_TRUE(read_all("", "txt").texts.empty());
    EXPECT_TRUE(read_all("\n\n  \n", "txt").texts.empty());
}

TEST(TextDocuments, LongBlocksAreCutAtLineBoundaries) {
    const std::string path = temp_path("long.txt");
    write_file(path, "aaaa\nbbbb\ncccc\ndddd\neeee\n\nf\n");
    DocumentReader reader(path, DocumentFormat::parse("txt"), 9);
    std::vector<std::string> texts;
    Document d;
    while (reader.next(d)) texts.push_back(d.text);
    EXPECT_EQ(texts, (std::vector<std::string>{"aaaa\nbbbb", "cccc\ndddd", "eeee", "f"}));
    EXPECT_EQ(reader.documents_cut(), 2u);
    std::filesystem::remove(path);
}

TEST(JsonlDocuments, TheFieldOfEachObject) {
    const Read r = read_all(
        "{\"id\": 1, \"text\": \"hello\\nworld\"}\n\n{\"text\": \"caf\\u00e9 \\\"q\\\"\", "
        "\"x\": [1]}\r\n   \n{\"text\": \"\"}\n",
        "jsonl:text");
    EXPECT_EQ(r.texts, (std::vector<std::string>{"hello\nworld", "caf\xC3\xA9 \"q\"", ""}));
    EXPECT_EQ(r.lines, (std::vector<uint64_t>{1, 3, 5}));
}

TEST(JsonlDocuments, BadLinesAreClearErrors) {
    std::string e = error_of("{\"text\": \"ok\"}\n{\"text\": \"unterminated}\n", "jsonl:text");
    EXPECT_EQ(e.rfind(":2: malformed JSON", 0), 0u) << e;
    EXPECT_NE(e.find("one JSON object"), std::string::npos) << e;
    e = error_of("{\"body\": \"x\", \"id\": 3}\n", "jsonl:text");
    EXPECT_EQ(e.rfind(":1: no field 'text'", 0), 0u) << e;
    EXPECT_NE(e.find("body, id"), std::string::npos) << e;
    EXPECT_NE(e.find("--format jsonl:FIELD"), std::string::npos) << e;
    e = error_of("{\"text\": 5}\n", "jsonl:text");
    EXPECT_EQ(e, ":1: field 'text' is a number, not a string");
    e = error_of("\n[\"text\"]\n", "jsonl:text");
    EXPECT_EQ(e.rfind(":2: expected a JSON object, got array", 0), 0u) << e;
}

TEST(CsvDocuments, QuotedFieldsEmbeddedNewlinesAndEscapes) {
    const std::string csv =
        "id,text,lang\n"
        "1,plain text,en\n"
        "2,\"with, comma\",en\n"
        "3,\"two\nlines\",en\n"
        "4,\"say \"\"hi\"\"\",en\r\n"
        "\n"
        "5,,en\n"
        "6,\"crlf\r\ninside\",\"x\"\r\n"
        "7,\"\",en";
    const Read r = read_all(csv, "csv:text");
    EXPECT_EQ(r.texts, (std::vector<std::string>{"plain text", "with, comma", "two\nlines",
                                                 "say \"hi\"", "", "crlf\r\ninside", ""}));
    EXPECT_EQ(r.lines, (std::vector<uint64_t>{2, 3, 4, 6, 8, 9, 11}));
    // The column is found by name, a quoted header too.
    EXPECT_EQ(read_all("\"a\",\"b\"\nx,y\n", "csv:b").texts, (std::vector<std::string>{"y"}));
    EXPECT_TRUE(read_all("a,text\n", "csv:text").texts.empty());
}

TEST(CsvDocuments, BadRowsAreClearErrors) {
    std::string e = error_of("id,body\n1,x\n", "csv:text");
    EXPECT_EQ(e,
              ":1: no column 'text' in the header (it has 'id', 'body'); choose it with "
              "--format csv:COLUMN");
    e = error_of("id,text\n1,x\n2,x,extra\n", "csv:text");
    EXPECT_EQ(e.rfind(":3: the row has 3 fields but the header has 2", 0), 0u) << e;
    e = error_of("id,text\n1,\"never\nclosed\n", "csv:text");
    EXPECT_EQ(e, ":2: a quoted field starting on this line is never closed");
    e = error_of("id,text\n1,\"quoted\"junk\n", "csv:text");
    EXPECT_EQ(e.rfind(":2: unexpected 'j' after the closing quote", 0), 0u) << e;
}

TEST(LineReader, StreamsAcrossChunksAndRefusesEndlessLines) {
    // Lines that straddle the 1 MiB chunk boundary several times.
    std::string content;
    std::vector<std::string> want;
    for (int i = 0; content.size() < (size_t{3} << 20); ++i) {
        want.push_back(std::string(static_cast<size_t>(1000 + (i * 7919) % 300000), 'a' + i % 26));
        content += want.back() + "\n";
    }
    const std::string path = temp_path("lines.txt");
    write_file(path, content);
    {
        LineReader lines(path);
        std::string_view line;
        size_t n = 0;
        while (lines.next(line)) {
            ASSERT_LT(n, want.size());
            ASSERT_EQ(line, want[n]) << "line " << n + 1;
            EXPECT_EQ(lines.line_number(), n + 1);
            ++n;
        }
        EXPECT_EQ(n, want.size());
        EXPECT_EQ(lines.bytes_read(), content.size());
    }
    LineReader small(path, 4096);
    std::string_view line;
    try {
        while (small.next(line)) {
        }
        ADD_FAILURE() << "no error for a line over the limit";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find(path + ":2: a line longer than 4096 bytes"),
                  std::string::npos)
            << e.what();
    }
    std::filesystem::remove(path);
    EXPECT_THROW(LineReader("/nonexistent/file.txt"), IoError);
}

}  // namespace
}  // namespace edgelm::data
