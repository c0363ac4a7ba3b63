// RFC 822 / MIME messages -> plain text for a classifier (`edgelm data emails`).
//
// A message is header lines (folded continuation lines joined), an empty line, and a body.
// The text keeps the chosen headers (RFC 2047 encoded words decoded) and the readable body:
// multipart messages are walked recursively (multipart/alternative: the text/plain part if
// there is one, else the HTML), quoted-printable and base64 bodies are decoded, HTML becomes
// text (tags dropped, block tags as line breaks, script and style removed, entities
// decoded), other parts become one "[attachment: TYPE NAME]" line, and every charset that
// is not UTF-8 is read as ISO-8859-1/Windows-1252, so the result is always valid UTF-8.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace edgelm::data {

struct EmailTextOptions {
    // Header fields written first, as "Name: value" lines, in this order (lower case).
    std::vector<std::string> headers = {"from", "subject"};
    size_t max_chars = 100000;  // the text is cut (at a UTF-8 boundary) after this many bytes
};

// Throws FormatError (naming `where`) if `raw` does not start with a header block.
std::string email_to_text(std::string_view raw, const EmailTextOptions& options,
                          const std::string& where);

// Building blocks, exposed for the tests.
std::string decode_quoted_printable(std::string_view in);
std::string decode_base64(std::string_view in);  // skips whitespace and invalid characters
std::string decode_encoded_words(std::string_view header_value);  // RFC 2047
std::string html_to_text(std::string_view html);
// Bytes in `charset` as UTF-8: UTF-8 (invalid sequences read as Windows-1252) and
// US-ASCII pass through; anything else is read as Windows-1252.
std::string to_utf8(std::string_view bytes, std::string_view charset);

}  // namespace edgelm::data
