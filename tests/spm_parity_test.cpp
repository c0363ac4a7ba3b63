// Parity of the SentencePiece-BPE tokenizer with libsentencepiece on real text.
//
// Trains a BPE model (byte fallback, identity normalization, as llama vocabularies
// are) with data::train_spm_tokenizer (libsentencepiece) on the Brown corpus made by
// scripts/fetch_data.sh, less every tenth document (documents 9, 19, 29, ...: brown.txt
// separates documents by an empty line), reads our Vocabulary from the .model file
// (data::load_spm_vocabulary), and requires the same ids as SentencePieceProcessor::EncodeAsIds on
// every held-out line, and decode(encode(x)) == x.
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "data/spm_training.h"
#include "tokenizer/tokenizer.h"

namespace edgelm {
namespace {

namespace fs = std::filesystem;

// User-defined symbols given to the trainer: "Mr." is frequent in Brown, so matching
// user-defined pieces as whole, never-merged symbols is exercised on real text.
const std::vector<std::string> kUserDefined = {"<sep>", "Mr."};

struct Line {
    size_t number;  // 1-based line number in brown.txt
    std::string text;
};

struct Corpus {
    std::vector<std::string> train;
    std::vector<Line> held_out;
    std::vector<std::string> held_out_documents;  // each document's lines joined by '\n'
};

Corpus read_corpus(const fs::path& path) {
    Corpus corpus;
    std::ifstream in(path, std::ios::binary);
    std::string text;
    size_t number = 0, document = 0;
    bool in_document = false;
    std::string joined;
    auto end_document = [&] {
        if (!in_document) return;
        if (document % 10 == 9) corpus.held_out_documents.push_back(joined);
        joined.clear();
        ++document;
        in_document = false;
    };
    while (std::getline(in, text)) {
        ++number;
        if (text.empty()) {
            end_document();
            continue;
        }
        in_document = true;
        if (document % 10 == 9) {
            corpus.held_out.push_back({number, text});
            if (!joined.empty()) joined += '\n';
            joined += text;
        } else {
            corpus.train.push_back(text);
        }
    }
    end_document();
    return corpus;
}

std::string join_ids(const std::vector<int>& ids) {
    std::ostringstream s;
    s << "[";
    for (size_t i = 0; i < ids.size(); ++i) s << (i ? " " : "") << ids[i];
    s << "]";
    return s.str();
}

std::string join_pieces(const sentencepiece::SentencePieceProcessor& sp,
                        const std::vector<int>& ids) {
    std::string s;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i) s += " | ";
        s += ids[i] >= 0 && ids[i] < sp.GetPieceSize() ? sp.IdToPiece(ids[i]) : "?";
    }
    return s;
}

class SpmParityTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        const char* data = std::getenv("EDGELM_TEST_DATA");
        const fs::path brown = fs::path(data != nullptr ? data : "data") / "brown" / "brown.txt";
        if (!fs::exists(brown)) {
            skip_reason_ = new std::string(brown.string() +
                                           " is missing: run `make setup` (scripts/fetch_data.sh)");
            return;
        }
        corpus_ = new Corpus(read_corpus(brown));

        std::string tmpl = (fs::temp_directory_path() / "edgelm_spm_parity_XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr) {
            skip_reason_ = new std::string("cannot make a temporary directory");
            return;
        }
        dir_ = new fs::path(tmpl);
        const fs::path input = *dir_ / "train.txt";
        {
            std::ofstream out(input, std::ios::binary);
            for (const std::string& line : corpus_->train) out << line << '\n';
        }
        // The library's trainer (data::train_spm_tokenizer), so its settings are the ones
        // verified here; all ~52k training lines: ~4 s.
        const auto start = std::chrono::steady_clock::now();
        data::SpmTrainOptions options;
        options.inputs = {input.string()};
        options.vocab_size = 4000;
        options.special_tokens = kUserDefined;
        options.output = (*dir_ / "bpe.model").string();
        options.threads = 2;
        data::train_spm_tokenizer(options);
        train_seconds_ =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

        sp_ = new sentencepiece::SentencePieceProcessor();
        const auto loaded = sp_->Load((*dir_ / "bpe.model").string());
        ASSERT_TRUE(loaded.ok()) << loaded.ToString();

        // The vocabulary as edgelm reads it from the .model file, user-defined types included.
        Vocabulary v = data::load_spm_vocabulary((*dir_ / "bpe.model").string());
        for (const std::string& s : kUserDefined) {
            EXPECT_EQ(v.types[static_cast<size_t>(sp_->PieceToId(s))], TokenType::kUserDefined);
        }
        tok_ = make_spm_tokenizer(std::move(v)).release();
    }

    static void TearDownTestSuite() {
        delete tok_;
        delete sp_;
        delete corpus_;
        delete skip_reason_;
        if (dir_ != nullptr) {
            std::error_code ec;
            fs::remove_all(*dir_, ec);
            delete dir_;
        }
        tok_ = nullptr;
        sp_ = nullptr;
        corpus_ = nullptr;
        skip_reason_ = nullptr;
        dir_ = nullptr;
    }

    void SetUp() override {
        if (skip_reason_ != nullptr) GTEST_SKIP() << *skip_reason_;
        ASSERT_NE(tok_, nullptr) << "training or loading the sentencepiece model failed";
    }

    // Compares one text; returns false (with a message) on the first difference.
    static ::testing::AssertionResult same(const std::string& text, size_t line_number = 0) {
        const std::vector<int> expected = sp_->EncodeAsIds(text);
        const std::vector<TokenId> ids = tok_->encode(text, /*add_bos=*/false);
        const std::vector<int> got(ids.begin(), ids.end());
        const std::string where =
            line_number ? "line " + std::to_string(line_number) + " of brown.txt" : "text";
        if (got != expected) {
            return ::testing::AssertionFailure()
                   << where << " [" << text << "]\n  sentencepiece: " << join_ids(expected)
                   << "\n    (" << join_pieces(*sp_, expected)
                   << ")\n  edgelm:        " << join_ids(got) << "\n    (" << join_pieces(*sp_, got)
                   << ")";
        }
        const std::string decoded = tok_->decode(ids);
        if (decoded != text) {
            return ::testing::AssertionFailure()
                   << where << ": decode(encode(x)) != x\n  x:       [" << text << "]\n  decoded: ["
                   << decoded << "]";
        }
        const std::string sp_decoded = sp_->DecodeIds(expected);
        if (decoded != sp_decoded) {
            return ::testing::AssertionFailure() << where << ": decode differs from sentencepiece\n"
                                                 << "  sentencepiece: [" << sp_decoded << "]\n"
                                                 << "  edgelm:        [" << decoded << "]";
        }
        return ::testing::AssertionSuccess();
    }

    static inline std::string* skip_reason_ = nullptr;
    static inline Corpus* corpus_ = nullptr;
    static inline fs::path* dir_ = nullptr;
    static inline sentencepiece::SentencePieceProcessor* sp_ = nullptr;
    static inline Tokenizer* tok_ = nullptr;
    static inline double train_seconds_ = 0;
};

TEST_F(SpmParityTest, EveryHeldOutLineMatchesSentencePiece) {
    ASSERT_GT(corpus_->held_out.size(), 1000u);
    size_t tokens = 0, bytes = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const Line& line : corpus_->held_out) {
        ASSERT_TRUE(same(line.text, line.number));
        tokens += tok_->encode(line.text, false).size();
        bytes += line.text.size();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "[ parity   ] " << corpus_->held_out.size() << " held-out lines of "
              << corpus_->held_out_documents.size() << " documents, " << bytes << " bytes, "
              << tokens << " tokens: all equal (trained " << corpus_->train.size() << " lines in "
              << train_seconds_ << " s; compared in " << seconds << " s)\n";
}

TEST_F(SpmParityTest, WholeDocumentsWithNewlinesMatch) {
    // Long inputs with '\n' (not in the vocabulary: byte fallback) between sentences.
    for (size_t i = 0; i < corpus_->held_out_documents.size(); ++i) {
        ASSERT_TRUE(same(corpus_->held_out_documents[i])) << "held-out document " << i;
    }
}

TEST_F(SpmParityTest, TrickyTextMatches) {
    const std::vector<std::string> texts = {
        "",
        " ",
        "   ",
        "a",
        " leading space",
        "trailing space ",
        "runs    of     spaces  here",
        "tabs\tand\t\ttabs",
        "new\nlines\n\nand\r\ncarriage returns\n",
        "digits 1234567890 and 3.14159, 1,000,000 and 2024-01-01",
        "Mr. Smith met Mr.Jones and Mrs. Mr.Mr. <sep>x<sep><sep> < sep>",
        "Caf\xC3\xA9 na\xC3\xAFve r\xC3\xA9sum\xC3\xA9 \xC3\x9C"
        "ber Stra\xC3\x9F"
        "e",
        "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9"
        "\xE3\x83\x88 \xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xCE\xB1\xCE\xB2\xCE\xB3",
        "emoji \xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD \xF0\x9F\x87\xBA\xF0\x9F\x87\xB8!",
        "\xE2\x82\xAC"
        "5 \xC2\xA3"
        "3 \xC2\xA5"
        "7 \xE2\x80\x94 \xE2\x80\x9Cquoted\xE2\x80\x9D",
        "<s> </s> <unk> <0x41> are plain text here",
        "punctuation!?;:'\"()[]{}<>/\\|@#$%^&*_+=~`",
        "\x01\x02\x7F control bytes",
        "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!",
        "antidisestablishmentarianism supercalifragilisticexpialidocious",
    };
    for (const std::string& text : texts) EXPECT_TRUE(same(text));

    // A literal U+2581 reads as a space in both (so it does not round-trip).
    const std::string marker =
        "a\xE2\x96\x81"
        "b \xE2\x96\x81";
    std::vector<int> expected = sp_->EncodeAsIds(marker);
    std::vector<TokenId> ids = tok_->encode(marker, false);
    EXPECT_EQ(std::vector<int>(ids.begin(), ids.end()), expected);
    EXPECT_EQ(tok_->decode(ids), sp_->DecodeIds(expected));
}

TEST_F(SpmParityTest, BosAndVocabulary) {
    const std::vector<TokenId> ids = tok_->encode("Hello there.", /*add_bos=*/true);
    std::vector<int> expected = sp_->EncodeAsIds("Hello there.");
    expected.insert(expected.begin(), sp_->bos_id());
    EXPECT_EQ(std::vector<int>(ids.begin(), ids.end()), expected);
    EXPECT_EQ(tok_->decode(ids), "Hello there.");
    EXPECT_EQ(tok_->size(), sp_->GetPieceSize());
    const Vocabulary& v = tok_->vocab();
    EXPECT_EQ(v.bos, sp_->bos_id());
    EXPECT_EQ(v.eos, sp_->eos_id());
    EXPECT_EQ(v.unk, sp_->unk_id());
    EXPECT_EQ(v.pad, sp_->pad_id());
    for (int id = 0; id < sp_->GetPieceSize(); ++id) {
        const auto i = static_cast<size_t>(id);
        EXPECT_EQ(v.tokens[i], sp_->IdToPiece(id)) << "id " << id;
        EXPECT_EQ(v.scores[i], sp_->GetScore(id)) << "id " << id;
        EXPECT_EQ(v.types[i] == TokenType::kControl, sp_->IsControl(id)) << "id " << id;
        EXPECT_EQ(v.types[i] == TokenType::kUnknown, sp_->IsUnknown(id)) << "id " << id;
        EXPECT_EQ(v.types[i] == TokenType::kByte, sp_->IsByte(id)) << "id " << id;
        EXPECT_EQ(v.types[i] == TokenType::kUnused, sp_->IsUnused(id)) << "id " << id;
    }
    for (TokenId id = 0; id < tok_->size(); ++id) {
        if (sp_->IsByte(id) || sp_->IsControl(id) || sp_->IsUnknown(id)) continue;
        EXPECT_EQ(tok_->decode({id}), sp_->DecodeIds({id})) << "id " << id;
    }
}

}  // namespace
}  // namespace edgelm
