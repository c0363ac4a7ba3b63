// SHA-256 (FIPS 180-4). meta.json records the tokenizer file's digest, so a trainer can
// check that the shards were made with the tokenizer it embeds in the model; data prepare
// uses the first 128 bits of a document's digest to find exact duplicates and to place
// documents in the validation split.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace edgelm::data {

using Sha256Digest = std::array<uint8_t, 32>;

class Sha256 {
  public:
    Sha256();
    void update(const void* data, size_t n);
    Sha256Digest finish();  // the object must not be updated afterwards

  private:
    void compress(const uint8_t* block);

    std::array<uint32_t, 8> h_;
    std::array<uint8_t, 64> block_{};
    size_t block_len_ = 0;
    uint64_t total_ = 0;
};

Sha256Digest sha256(std::string_view data);
// Lower-case hex of the digest of a whole file, read in chunks. Throws IoError.
std::string sha256_file_hex(const std::string& path);
std::string to_hex(const Sha256Digest& digest);

}  // namespace edgelm::data
