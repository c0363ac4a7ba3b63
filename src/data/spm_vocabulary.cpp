#include "data/spm_vocabulary.h"

#include <cstring>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "core/mapped_file.h"

namespace edgelm::data {

namespace {

// Field numbers from sentencepiece_model.proto (sentencepiece 0.1.97).
namespace pb {
constexpr uint32_t kModelPieces = 1, kModelTrainerSpec = 2, kModelNormalizerSpec = 3;
constexpr uint32_t kPiecePiece = 1, kPieceScore = 2, kPieceType = 3;
constexpr uint32_t kTrainerModelType = 3, kTrainerTreatWhitespaceAsSuffix = 24,
                   kTrainerUnkPiece = 45, kTrainerBosPiece = 46, kTrainerEosPiece = 47,
                   kTrainerPadPiece = 48;
constexpr uint32_t kNormName = 1, kNormAddDummyPrefix = 3, kNormRemoveExtraWhitespaces = 4,
                   kNormEscapeWhitespaces = 5;
constexpr uint64_t kModelTypeBpe = 2;
}  // namespace pb

enum class WireType : uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

// A bounds-checked reader of protobuf messages; errors name the file and byte offset.
class ProtoReader {
  public:
    ProtoReader(const std::string& path, const uint8_t* begin, const uint8_t* end,
                const uint8_t* file_begin)
        : path_(path), p_(begin), end_(end), file_begin_(file_begin) {}

    bool done() const { return p_ == end_; }

    // Reads a field's key; the value must then be read with one of the read_* below.
    void next_key(uint32_t& field, WireType& type) {
        const uint64_t key = read_varint();
        field = static_cast<uint32_t>(key >> 3);
        type = static_cast<WireType>(key & 7);
        if (field == 0) fail("field number 0");
    }

    uint64_t read_varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ == end_) fail("truncated varint");
            const uint8_t b = *p_++;
            v |= uint64_t{b & 0x7Fu} << shift;
            if (b < 0x80) return v;
        }
        fail("varint longer than 10 bytes");
    }

    float read_fixed32_float() {
        need(4);
        uint32_t bits = 0;
        for (int i = 0; i < 4; ++i) bits |= uint32_t{p_[i]} << (8 * i);
        p_ += 4;
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
    }

    ProtoReader read_message() {
        const uint64_t n = read_varint();
        need(n);
        ProtoReader sub(path_, p_, p_ + n, file_begin_);
        p_ += n;
        return sub;
    }

    std::string read_string() {
        const uint64_t n = read_varint();
        need(n);
        std::string s(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        return s;
    }

    void skip(WireType type) {
        switch (type) {
            case WireType::kVarint:
                read_varint();
                return;
            case WireType::kFixed64:
                need(8);
                p_ += 8;
                return;
            case WireType::kBytes: {
                const uint64_t n = read_varint();
                need(n);
                p_ += n;
                return;
            }
            case WireType::kFixed32:
                need(4);
                p_ += 4;
                return;
        }
        fail("unsupported wire type " + std::to_string(static_cast<uint32_t>(type)));
    }

    void expect(WireType got, WireType want, const char* field) {
        if (got != want) fail(std::string("field ") + field + " has the wrong wire type");
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw FormatError(path_ + ": not a SentencePiece model (" + what + " at byte offset " +
                          std::to_string(p_ - file_begin_) + ")");
    }

  private:
    void need(uint64_t n) const {
        if (n > static_cast<uint64_t>(end_ - p_)) fail("truncated field");
    }

    const std::string& path_;
    const uint8_t* p_;
    const uint8_t* end_;
    const uint8_t* file_begin_;
};

struct Piece {
    std::string text;
    float score = 0;
    uint64_t type = 1;  // NORMAL
};

struct TrainerSettings {
    uint64_t model_type = 1;  // UNIGRAM, the proto default
    bool treat_whitespace_as_suffix = false;
    std::string unk = "<unk>", bos = "<s>", eos = "</s>", pad = "<pad>";
};

struct NormalizerSettings {
    std::string name;
    bool add_dummy_prefix = true, remove_extra_whitespaces = true, escape_whitespaces = true;
};

Piece read_piece(ProtoReader r) {
    Piece p;
    uint32_t field;
    WireType type;
    while (!r.done()) {
        r.next_key(field, type);
        if (field == pb::kPiecePiece) {
            r.expect(type, WireType::kBytes, "piece");
            p.text = r.read_string();
        } else if (field == pb::kPieceScore) {
            r.expect(type, WireType::kFixed32, "score");
            p.score = r.read_fixed32_float();
        } else if (field == pb::kPieceType) {
            r.expect(type, WireType::kVarint, "type");
            p.type = r.read_varint();
        } else {
            r.skip(type);
        }
    }
    return p;
}

TrainerSettings read_trainer(ProtoReader r) {
    TrainerSettings t;
    uint32_t field;
    WireType type;
    while (!r.done()) {
        r.next_key(field, type);
        std::string* piece = field == pb::kTrainerUnkPiece   ? &t.unk
                             : field == pb::kTrainerBosPiece ? &t.bos
                             : field == pb::kTrainerEosPiece ? &t.eos
                             : field == pb::kTrainerPadPiece ? &t.pad
                                                             : nullptr;
        if (piece != nullptr) {
            r.expect(type, WireType::kBytes, "trainer_spec special piece");
            *piece = r.read_string();
        } else if (field == pb::kTrainerModelType) {
            r.expect(type, WireType::kVarint, "trainer_spec.model_type");
            t.model_type = r.read_varint();
        } else if (field == pb::kTrainerTreatWhitespaceAsSuffix) {
            r.expect(type, WireType::kVarint, "trainer_spec.treat_whitespace_as_suffix");
            t.treat_whitespace_as_suffix = r.read_varint() != 0;
        } else {
            r.skip(type);
        }
    }
    return t;
}

NormalizerSettings read_normalizer(ProtoReader r) {
    NormalizerSettings n;
    uint32_t field;
    WireType type;
    while (!r.done()) {
        r.next_key(field, type);
        if (field == pb::kNormName) {
            r.expect(type, WireType::kBytes, "normalizer_spec.name");
            n.name = r.read_string();
        } else if (field == pb::kNormAddDummyPrefix || field == pb::kNormRemoveExtraWhitespaces ||
                   field == pb::kNormEscapeWhitespaces) {
            r.expect(type, WireType::kVarint, "normalizer_spec flag");
            const bool v = r.read_varint() != 0;
            (field == pb::kNormAddDummyPrefix           ? n.add_dummy_prefix
             : field == pb::kNormRemoveExtraWhitespaces ? n.remove_extra_whitespaces
                                                        : n.escape_whitespaces) = v;
        } else {
            r.skip(type);
        }
    }
    return n;
}

TokenType token_type(uint64_t proto_type, const std::string& path, size_t id) {
    switch (proto_type) {
        case 1:
            return TokenType::kNormal;
        case 2:
            return TokenType::kUnknown;
        case 3:
            return TokenType::kControl;
        case 4:
            return TokenType::kUserDefined;
        case 5:
            return TokenType::kUnused;
        case 6:
            return TokenType::kByte;
        default:
            throw FormatError(path + ": piece " + std::to_string(id) + " has unknown type " +
                              std::to_string(proto_type));
    }
}

// Like SentencePieceProcessor::bos_id() etc.: the id of the named piece if it has the
// expected type, else -1.
TokenId special_id(const Vocabulary& v, const std::string& piece, TokenType want) {
    for (size_t i = 0; i < v.tokens.size(); ++i)
        if (v.tokens[i] == piece) return v.types[i] == want ? static_cast<TokenId>(i) : -1;
    return -1;
}

}  // namespace

Vocabulary load_spm_vocabulary(const std::string& model_path) {
    const MappedFile file(model_path);
    return spm_vocabulary_from_bytes(
        std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), model_path);
}

Vocabulary spm_vocabulary_from_bytes(std::string_view bytes, const std::string& model_path) {
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    ProtoReader r(model_path, data, data + bytes.size(), data);
    std::vector<Piece> pieces;
    std::optional<TrainerSettings> trainer;
    std::optional<NormalizerSettings> normalizer;
    uint32_t field;
    WireType type;
    while (!r.done()) {
        r.next_key(field, type);
        if (field == pb::kModelPieces) {
            r.expect(type, WireType::kBytes, "pieces");
            pieces.push_back(read_piece(r.read_message()));
        } else if (field == pb::kModelTrainerSpec) {
            r.expect(type, WireType::kBytes, "trainer_spec");
            trainer = read_trainer(r.read_message());
        } else if (field == pb::kModelNormalizerSpec) {
            r.expect(type, WireType::kBytes, "normalizer_spec");
            normalizer = read_normalizer(r.read_message());
        } else {
            r.skip(type);
        }
    }
    if (pieces.empty() || !trainer || !normalizer)
        throw FormatError(model_path +
                          ": not a SentencePiece model (no pieces, trainer_spec or "
                          "normalizer_spec)");

    // edgelm's tokenizer is sentencepiece's BPE with the identity normalizer; anything
    // else would silently give other ids than the model was trained with.
    const std::string retrain = "; train a tokenizer with `edgelm tokenizer train`";
    if (trainer->model_type != pb::kModelTypeBpe)
        throw FormatError(model_path + ": a SentencePiece " +
                          (trainer->model_type == 1 ? std::string("unigram") : "non-BPE") +
                          " model; edgelm implements BPE only" + retrain);
    if (normalizer->name != "identity")
        throw FormatError(model_path + ": normalization '" + normalizer->name +
                          "'; edgelm implements the 'identity' normalization only" + retrain);
    if (normalizer->remove_extra_whitespaces || !normalizer->escape_whitespaces ||
        trainer->treat_whitespace_as_suffix)
        throw FormatError(model_path +
                          ": whitespace handling differs from edgelm's (needs "
                          "remove_extra_whitespaces=false, escape_whitespaces=true, "
                          "treat_whitespace_as_suffix=false)" +
                          retrain);

    Vocabulary v;
    v.model = "llama";
    v.tokens.reserve(pieces.size());
    for (size_t i = 0; i < pieces.size(); ++i) {
        v.tokens.push_back(std::move(pieces[i].text));
        v.scores.push_back(pieces[i].score);
        v.types.push_back(token_type(pieces[i].type, model_path, i));
    }
    v.unk = special_id(v, trainer->unk, TokenType::kUnknown);
    v.bos = special_id(v, trainer->bos, TokenType::kControl);
    v.eos = special_id(v, trainer->eos, TokenType::kControl);
    v.pad = special_id(v, trainer->pad, TokenType::kControl);
    v.add_bos = true;
    v.add_space_prefix = normalizer->add_dummy_prefix;
    return v;
}

}  // namespace edgelm::data
