#include "data/email_message.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <utility>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace edgelm::data {

namespace {

std::string lower(std::string_view s) {
    std::string r(s);
    for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Windows-1252's 0x80-0x9F (the rest of the byte range is ISO-8859-1).
constexpr std::array<uint16_t, 32> kCp1252High = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};

void append_cp1252(std::string& out, unsigned char b) {
    unicode::append_utf8(out, b >= 0x80 && b < 0xA0 ? kCp1252High[b - 0x80] : b);
}

struct MimePart {
    std::vector<std::pair<std::string, std::string>> headers;  // lower-case name, value
    std::string_view body;

    std::string header(std::string_view name) const {
        for (const auto& [n, v] : headers)
            if (n == name) return v;
        return {};
    }
};

// Header block, empty line, body. Returns false if the text has no header line at all.
bool parse_part(std::string_view raw, MimePart& part) {
    size_t pos = 0;
    if (raw.substr(0, 5) == "From ") {  // an mbox envelope line
        pos = raw.find('\n');
        pos = pos == std::string_view::npos ? raw.size() : pos + 1;
    }
    while (pos < raw.size()) {
        size_t end = raw.find('\n', pos);
        if (end == std::string_view::npos) end = raw.size();
        std::string_view line = raw.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) {
            part.body = raw.substr(std::min(raw.size(), end + 1));
            return true;
        }
        if ((line[0] == ' ' || line[0] == '\t') && !part.headers.empty()) {
            std::string& v = part.headers.back().second;
            v += ' ';
            v += trim(line);
        } else {
            const size_t colon = line.find(':');
            // Field names in practice: letters, digits, '-', '_' and '.' (RFC 5322 allows
            // more, but then a JSON object or prose would read as a header).
            const bool is_header =
                colon != std::string_view::npos && colon > 0 &&
                std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon),
                            [](char ch) {
                                return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' ||
                                       ch == '_' || ch == '.';
                            });
            if (!is_header) {  // no (more) headers: the body starts here
                part.body = raw.substr(pos);
                return !part.headers.empty();
            }
            part.headers.emplace_back(lower(line.substr(0, colon)),
                                      std::string(trim(line.substr(colon + 1))));
        }
        pos = end + 1;
    }
    part.body = {};
    return !part.headers.empty();
}

// "text/plain; charset=\"utf-8\"; name=x" -> type "text/plain", params by lower-case name.
struct ContentType {
    std::string type = "text/plain";
    std::vector<std::pair<std::string, std::string>> params;
    std::string param(std::string_view name) const {
        for (const auto& [n, v] : params)
            if (n == name) return v;
        return {};
    }
};

std::vector<std::pair<std::string, std::string>> parse_params(std::string_view s) {
    std::vector<std::pair<std::string, std::string>> params;
    size_t pos = 0;
    while (pos < s.size()) {
        const size_t eq = s.find('=', pos);
        if (eq == std::string_view::npos) break;
        std::string name = lower(trim(s.substr(pos, eq - pos)));
        size_t v = eq + 1;
        while (v < s.size() && std::isspace(static_cast<unsigned char>(s[v]))) ++v;
        std::string value;
        if (v < s.size() && s[v] == '"') {
            ++v;
            while (v < s.size() && s[v] != '"') {
                if (s[v] == '\\' && v + 1 < s.size()) ++v;
                value += s[v++];
            }
            pos = s.find(';', v);
        } else {
            const size_t semi = s.find(';', v);
            value =
                std::string(trim(s.substr(v, semi == std::string_view::npos ? s.npos : semi - v)));
            pos = semi;
        }
        params.emplace_back(std::move(name), std::move(value));
        if (pos == std::string_view::npos) break;
        ++pos;
    }
    return params;
}

ContentType parse_content_type(std::string_view header) {
    ContentType ct;
    if (trim(header).empty()) return ct;
    const size_t semi = header.find(';');
    const std::string type = lower(trim(header.substr(0, semi)));
    if (type.find('/') != std::string::npos) ct.type = type;
    if (semi != std::string_view::npos) ct.params = parse_params(header.substr(semi + 1));
    return ct;
}

std::string decode_body(const MimePart& part) {
    const std::string cte = lower(trim(part.header("content-transfer-encoding")));
    if (cte == "quoted-printable") return decode_quoted_printable(part.body);
    if (cte == "base64") return decode_base64(part.body);
    return std::string(part.body);
}

// The parts of a multipart body between "--boundary" lines, up to "--boundary--".
std::vector<std::string_view> split_multipart(std::string_view body, const std::string& boundary) {
    std::vector<std::string_view> parts;
    const std::string delim = "--" + boundary;
    size_t pos = 0, start = std::string_view::npos;
    while (pos < body.size()) {
        size_t end = body.find('\n', pos);
        if (end == std::string_view::npos) end = body.size();
        std::string_view line = body.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.substr(0, delim.size()) == delim) {
            const std::string_view rest = trim(line.substr(delim.size()));
            if (rest.empty() || rest == "--") {
                if (start != std::string_view::npos) {
                    // The line break before the delimiter belongs to it.
                    size_t stop = pos;
                    if (stop > start && body[stop - 1] == '\n') --stop;
                    if (stop > start && body[stop - 1] == '\r') --stop;
                    parts.push_back(body.substr(start, stop - start));
                }
                if (rest == "--") return parts;
                start = std::min(body.size(), end + 1);
            }
        }
        pos = end + 1;
    }
    if (start != std::string_view::npos && start < body.size())
        parts.push_back(body.substr(start));  // no closing delimiter: keep what came
    return parts;
}

void walk(const MimePart& part, int depth, std::string& out);

void walk_raw(std::string_view raw, int depth, std::string& out) {
    MimePart p;
    if (!parse_part(raw, p)) {  // a part without headers is text/plain
        p.headers.clear();
        p.body = raw;
        if (!raw.empty() && (raw[0] == '\n' || raw.substr(0, 2) == "\r\n"))
            p.body = raw.substr(raw[0] == '\n' ? 1 : 2);
    }
    walk(p, depth, out);
}

void append_block(std::string& out, const std::string& text) {
    if (text.empty()) return;
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += text;
}

void walk(const MimePart& part, int depth, std::string& out) {
    const ContentType ct = parse_content_type(part.header("content-type"));
    const std::string charset = lower(ct.param("charset"));
    if (ct.type.rfind("multipart/", 0) == 0 && depth < 16) {
        const std::string boundary = ct.param("boundary");
        if (!boundary.empty()) {
            const std::vector<std::string_view> parts = split_multipart(part.body, boundary);
            if (ct.type == "multipart/alternative" && !parts.empty()) {
                // One rendering of the same content: plain text if any, else the first HTML.
                std::string_view chosen = parts.front();
                int best = 0;
                for (std::string_view raw : parts) {
                    MimePart p;
                    parse_part(raw, p);
                    const std::string t = parse_content_type(p.header("content-type")).type;
                    const int score = t == "text/plain" ? 2 : t == "text/html" ? 1 : 0;
                    if (score > best) best = score, chosen = raw;
                }
                walk_raw(chosen, depth + 1, out);
            } else {
                for (std::string_view raw : parts) walk_raw(raw, depth + 1, out);
            }
            return;
        }
    }
    if (ct.type == "message/rfc822" && depth < 16) {
        walk_raw(part.body, depth + 1, out);
        return;
    }
    std::string body = ct.type.rfind("text/", 0) == 0 ? decode_body(part) : std::string();
    // Much spam sends HTML without a content type (so as text/plain): sniff it.
    const std::string_view head = trim(std::string_view(body).substr(0, 256));
    const bool looks_html = starts_with_ci(head, "<html") ||
                            starts_with_ci(head, "<!doctype html") ||
                            starts_with_ci(head, "<head") || starts_with_ci(head, "<body");
    if (ct.type == "text/html" || (ct.type == "text/plain" && looks_html)) {
        append_block(out, html_to_text(to_utf8(body, charset)));
    } else if (ct.type.rfind("text/", 0) == 0) {
        append_block(out, to_utf8(body, charset));
    } else if (ct.type.rfind("multipart/", 0) == 0) {  // without a boundary: as text
        append_block(out, to_utf8(decode_body(part), charset));
    } else {
        std::string name = ct.param("name");
        if (name.empty())
            for (const auto& [n, v] : parse_params(part.header("content-disposition")))
                if (n == "filename") name = v;
        append_block(out, "[attachment: " + ct.type + (name.empty() ? "" : " ") +
                              to_utf8(decode_encoded_words(name), "utf-8") + "]");
    }
}

// The value of attribute `name` in a tag's attribute text (' href="x" alt=y'), or "".
std::string attribute(std::string_view attrs, std::string_view name) {
    const std::string attrs_lower = lower(attrs);
    size_t pos = 0;
    while ((pos = attrs_lower.find(name, pos)) != std::string::npos) {
        size_t p = pos + name.size();
        const bool starts = pos == 0 || std::isspace(static_cast<unsigned char>(attrs[pos - 1]));
        while (p < attrs.size() && std::isspace(static_cast<unsigned char>(attrs[p]))) ++p;
        if (!starts || p >= attrs.size() || attrs[p] != '=') {
            pos += name.size();
            continue;
        }
        ++p;
        while (p < attrs.size() && std::isspace(static_cast<unsigned char>(attrs[p]))) ++p;
        if (p < attrs.size() && (attrs[p] == '"' || attrs[p] == '\'')) {
            const size_t end = attrs.find(attrs[p], p + 1);
            return std::string(
                attrs.substr(p + 1, end == std::string_view::npos ? attrs.npos : end - p - 1));
        }
        size_t end = p;
        while (end < attrs.size() && !std::isspace(static_cast<unsigned char>(attrs[end])) &&
               attrs[end] != '>')
            ++end;
        return std::string(attrs.substr(p, end - p));
    }
    return {};
}

// Spaces and tabs collapsed, lines trimmed, at most one empty line in a row.
std::string normalize_whitespace(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    int newlines = 0;
    bool space = false;
    for (char c : s) {
        if (c == '\r') continue;
        if (c == '\n') {
            ++newlines;
            space = false;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\f' || c == '\v') {
            space = true;
            continue;
        }
        if (newlines > 0) {
            if (!out.empty()) out.append(std::min(newlines, 2), '\n');
            newlines = 0;
        } else if (space && !out.empty()) {
            out += ' ';
        }
        space = false;
        out += c;
    }
    return out;
}

std::string header_label(const std::string& name) {
    std::string label = name;
    bool up = true;
    for (char& c : label) {
        if (up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        up = c == '-';
    }
    return label;
}

}  // namespace

std::string decode_quoted_printable(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '=') {
            out += in[i];
            continue;
        }
        if (i + 1 < in.size() && in[i + 1] == '\n') {  // soft line break
            ++i;
        } else if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
            i += 2;
        } else if (i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
            i += 2;
        } else {
            out += '=';
        }
    }
    return out;
}

std::string decode_base64(std::string_view in) {
    std::string out;
    out.reserve(in.size() / 4 * 3);
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else if (c == '=')
            break;
        else
            continue;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return out;
}

std::string to_utf8(std::string_view bytes, std::string_view charset) {
    const std::string cs = lower(charset);
    const bool utf8 = cs == "utf-8" || cs == "utf8";
    std::string out;
    out.reserve(bytes.size());
    for (size_t i = 0; i < bytes.size();) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        if (b == 0) {  // NUL never reaches the text
            ++i;
            continue;
        }
        if (b < 0x80) {
            out += static_cast<char>(b);
            ++i;
            continue;
        }
        // Unlabelled 8-bit text is often UTF-8 anyway; only what is invalid as UTF-8
        // is read as Windows-1252 there.
        size_t n = 0;
        if (utf8 || cs.empty() || cs == "us-ascii") {
            const unicode::Utf8Unit u = unicode::decode_utf8(bytes, i);
            if (u.cp != unicode::kInvalid) n = u.len;
        }
        if (n > 0) {
            out.append(bytes.substr(i, n));
            i += n;
        } else {
            append_cp1252(out, b);
            ++i;
        }
    }
    return out;
}

std::string decode_encoded_words(std::string_view value) {
    std::string out;
    size_t pos = 0;
    bool last_was_word = false;
    while (pos < value.size()) {
        const size_t start = value.find("=?", pos);
        if (start == std::string_view::npos) {
            out.append(value.substr(pos));
            break;
        }
        const size_t q1 = value.find('?', start + 2);
        const size_t q2 = q1 == std::string_view::npos ? q1 : value.find('?', q1 + 1);
        const size_t end = q2 == std::string_view::npos ? q2 : value.find("?=", q2 + 1);
        if (end == std::string_view::npos || q2 != q1 + 2) {
            out.append(value.substr(pos, start + 2 - pos));
            pos = start + 2;
            last_was_word = false;
            continue;
        }
        const std::string_view between = value.substr(pos, start - pos);
        if (!(last_was_word && trim(between).empty())) out.append(between);
        std::string charset(value.substr(start + 2, q1 - start - 2));
        if (const size_t star = charset.find('*'); star != std::string::npos)
            charset.resize(star);  // RFC 2231 language suffix
        const char enc = static_cast<char>(std::toupper(static_cast<unsigned char>(value[q1 + 1])));
        const std::string_view text = value.substr(q2 + 1, end - q2 - 1);
        std::string bytes;
        if (enc == 'B') {
            bytes = decode_base64(text);
        } else {
            std::string q(text);
            std::replace(q.begin(), q.end(), '_', ' ');
            bytes = decode_quoted_printable(q);
        }
        out += to_utf8(bytes, charset);
        pos = end + 2;
        last_was_word = true;
    }
    return out;
}

std::string html_to_text(std::string_view html) {
    static constexpr std::string_view kBlockTags[] = {
        "br", "p",  "div", "tr",    "li",         "ul",  "ol", "table",  "h1", "h2", "h3",
        "h4", "h5", "h6",  "title", "blockquote", "pre", "hr", "center", "dt", "dd"};
    static constexpr std::pair<std::string_view, uint32_t> kEntities[] = {
        {"amp", '&'},      {"lt", '<'},        {"gt", '>'},       {"quot", '"'},
        {"apos", '\''},    {"nbsp", ' '},      {"copy", 0xA9},    {"reg", 0xAE},
        {"trade", 0x2122}, {"euro", 0x20AC},   {"pound", 0xA3},   {"mdash", 0x2014},
        {"ndash", 0x2013}, {"hellip", 0x2026}, {"rsquo", 0x2019}, {"lsquo", 0x2018},
        {"rdquo", 0x201D}, {"ldquo", 0x201C},  {"bull", 0x2022},  {"middot", 0xB7}};
    std::string out;
    out.reserve(html.size());
    size_t i = 0;
    while (i < html.size()) {
        const char c = html[i];
        if (c == '<') {
            if (html.substr(i, 4) == "<!--") {
                const size_t end = html.find("-->", i + 4);
                i = end == std::string_view::npos ? html.size() : end + 3;
                continue;
            }
            size_t j = i + 1;
            const bool closing = j < html.size() && html[j] == '/';
            if (closing) ++j;
            size_t k = j;
            while (k < html.size() && std::isalnum(static_cast<unsigned char>(html[k]))) ++k;
            const std::string name = lower(html.substr(j, k - j));
            if (name.empty() && !closing && (j >= html.size() || html[j] != '!')) {  // text
                out += c;
                ++i;
                continue;
            }
            const size_t close = html.find('>', k);
            i = close == std::string_view::npos ? html.size() : close + 1;
            if ((name == "script" || name == "style") && !closing) {
                // Skip to the matching end tag.
                const std::string end_tag = "</" + name;
                size_t p = i;
                while (p < html.size() && !starts_with_ci(html.substr(p), end_tag)) ++p;
                const size_t gt = html.find('>', p);
                i = gt == std::string_view::npos ? html.size() : gt + 1;
                continue;
            }
            // Where a link or an image points is part of the message: keep the URL.
            if (!closing && (name == "a" || name == "img")) {
                const std::string url =
                    attribute(html.substr(k, i - k), name == "a" ? "href" : "src");
                if (!url.empty()) out += " " + url + " ";
            }
            if (std::find(std::begin(kBlockTags), std::end(kBlockTags), name) !=
                std::end(kBlockTags))
                out += '\n';
            else if (name == "td" || name == "th" || name == "img")
                out += ' ';
            continue;
        }
        if (c == '&') {
            const size_t semi = html.find(';', i + 1);
            if (semi != std::string_view::npos && semi - i <= 10) {
                const std::string_view ent = html.substr(i + 1, semi - i - 1);
                uint32_t cp = 0;
                if (!ent.empty() && ent[0] == '#') {
                    const bool hex = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X');
                    for (char d : ent.substr(hex ? 2 : 1)) {
                        const int v =
                            hex ? hex_value(d)
                                : (std::isdigit(static_cast<unsigned char>(d)) ? d - '0' : -1);
                        if (v < 0 || cp > 0x10FFFF) {
                            cp = 0;
                            break;
                        }
                        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
                    }
                } else {
                    const std::string name = lower(ent);
                    for (const auto& [n, v] : kEntities)
                        if (n == name) cp = v;
                }
                if (cp != 0) {
                    unicode::append_utf8(out, cp);
                    i = semi + 1;
                    continue;
                }
            }
        }
        out += c;
        ++i;
    }
    return normalize_whitespace(out);
}

std::string email_to_text(std::string_view raw, const EmailTextOptions& options,
                          const std::string& where) {
    MimePart message;
    if (!parse_part(raw, message))
        throw FormatError(where +
                          ": not an RFC 822 message (it does not start with header lines); "
                          "give only message files (e.g. --pattern '*.txt')");
    std::string text;
    for (const std::string& name : options.headers) {
        const std::string value = message.header(name);
        if (value.empty()) continue;
        text += header_label(name) + ": " +
                normalize_whitespace(to_utf8(decode_encoded_words(value), "utf-8")) + "\n";
    }
    std::string body;
    walk(message, 0, body);
    text += '\n';
    text += normalize_whitespace(body);
    if (text.size() > options.max_chars) {
        size_t cut = options.max_chars;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
        text.resize(cut);
    }
    return text;
}

}  // namespace edgelm::data
