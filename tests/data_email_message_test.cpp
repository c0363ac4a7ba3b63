// RFC 822 / MIME messages to text (data/email_message.h), and `edgelm data emails`.
#include "data/email_message.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_test_support.h"
#include "core/error.h"
#include "data_test_support.h"

namespace edgelm::data {
namespace {

std::string text_of(const std::string& raw, std::vector<std::string> headers = {"subject"}) {
    EmailTextOptions o;
    o.headers = std::move(headers);
    return email_to_text(raw, o, "test.eml");
}

TEST(EmailMessage, QuotedPrintableSoftBreaksAndHexBytes) {
    EXPECT_EQ(decode_quoted_printable("caf=C3=A9 and a soft=\r\n break=\nhere=3D1 = x"),
              "caf\xC3\xA9 and a soft breakhere=1 = x");
}

TEST(EmailMessage, Base64SkipsLineBreaksAndStopsAtPadding) {
    EXPECT_EQ(decode_base64("SGVs\r\nbG8g\nd29y bGQ="), "Hello world");
    EXPECT_EQ(decode_base64("YQ=="), "a");
}

TEST(EmailMessage, EncodedWordsInHeaders) {
    // Adjacent encoded words join without the space between them (RFC 2047 6.2).
    EXPECT_EQ(decode_encoded_words("=?utf-8?B?w6k=?= =?ISO-8859-1?Q?caf=E9_au_lait?= x"),
              "\xC3\xA9"
              "caf\xC3\xA9 au lait x");
    EXPECT_EQ(decode_encoded_words("plain =?bogus"), "plain =?bogus");
}

TEST(EmailMessage, CharsetsBecomeValidUtf8) {
    EXPECT_EQ(to_utf8("caf\xE9 \x80", "iso-8859-1"), "caf\xC3\xA9 \xE2\x82\xAC");
    EXPECT_EQ(to_utf8("caf\xC3\xA9", "utf-8"), "caf\xC3\xA9");
    EXPECT_EQ(to_utf8("bad \xC3 byte", "utf-8"), "bad \xC3\x83 byte");  // read as cp1252
}

TEST(EmailMessage, HtmlBecomesText) {
    const std::string html =
        "<html><head><style>p {color: red}</style><script>var x = '<p>';</script></head>"
        "<body><p>Hello&nbsp;<b>wor</b>ld &amp; &#233;&#x41;</p><!-- hidden -->"
        "<a href=\"http://example.com/x\">click</a><br>1 < 2</body></html>";
    EXPECT_EQ(html_to_text(html),
              "Hello world & \xC3\xA9"
              "A\nhttp://example.com/x click\n1 < 2");
}

TEST(EmailMessage, HeadersAreUnfoldedAndChosen) {
    const std::string raw =
        "From someone@example.com Thu Aug 22 12:36:23 2002\n"
        "From: Ann <ann@example.com>\n"
        "Subject: a long\n"
        "\tsubject line\n"
        "X-Other: no\n"
        "\n"
        "Body  text\n\n\n\nend\n";
    EXPECT_EQ(text_of(raw, {"from", "subject"}),
              "From: Ann <ann@example.com>\nSubject: a long subject line\n\nBody text\n\nend");
}

TEST(EmailMessage, MultipartAlternativePrefersPlainAndAttachmentsAreNamed) {
    const std::string raw =
        "Subject: hi\r\n"
        "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
        "\r\n"
        "preamble\r\n"
        "--outer\r\n"
        "Content-Type: multipart/alternative; boundary=inner\r\n"
        "\r\n"
        "--inner\r\n"
        "Content-Type: text/html\r\n"
        "\r\n"
        "<p>html version</p>\r\n"
        "--inner\r\n"
        "Content-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "plain caf=E9\r\n"
        "--inner--\r\n"
        "--outer\r\n"
        "Content-Type: image/gif; name=\"dot.gif\"\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        "R0lGODlhAQABAAAAACw=\r\n"
        "--outer\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        "c2Vjb25kIHBhcnQ=\r\n"
        "--outer--\r\n"
        "epilogue\r\n";
    EXPECT_EQ(text_of(raw),
              "Subject: hi\n\nplain caf\xC3\xA9\n[attachment: image/gif dot.gif]\nsecond part");
}

TEST(EmailMessage, HtmlSentAsPlainTextIsSniffed) {
    EXPECT_EQ(text_of("Subject: x\n\n<HTML><BODY>Buy <B>now</B></BODY></HTML>\n"),
              "Subject: x\n\nBuy now");
}

TEST(EmailMessage, TextIsCutAtACharacterBoundary) {
    EmailTextOptions o;
    o.headers = {};
    o.max_chars = 4;
    EXPECT_EQ(email_to_text("A: b\n\nab\xC3\xA9z", o, "x"), "\nab");
}

TEST(EmailMessage, SomethingElseIsRefused) {
    try {
        text_of("{\"id\": \"00001\"}\n");
        FAIL() << "expected FormatError";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("test.eml: not an RFC 822 message"),
                  std::string::npos);
    }
}

TEST(EmailMessage, DataEmailsWritesJsonlAndRefusesOtherFiles) {
    const std::string dir = testing::temp_dir("emails");
    testing::write_file(dir + "/1.txt", "Subject: one\n\nfirst body\n");
    testing::write_file(dir + "/2.txt", "Subject: two\nContent-Type: text/html\n\n<p>second</p>\n");
    testing::write_file(dir + "/2.json", "{\"id\": 2}\n");
    const std::string out = dir + "/out.jsonl";
    testing::CliResult r =
        testing::run_cli("data emails " + dir + " --pattern '*.txt' --label ham -o " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("2 messages"), std::string::npos) << r.err;
    const std::string jsonl = testing::read_file(out);
    std::vector<nlohmann::json> lines;
    std::istringstream in(jsonl);
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0]["text"], "Subject: one\n\nfirst body");
    EXPECT_EQ(lines[1]["text"], "Subject: two\n\nsecond");
    EXPECT_EQ(lines[1]["label"], "ham");

    r = testing::run_cli("data emails " + dir + " --label ham -o " + dir + "/bad.jsonl");
    testing::expect_one_error_line(r, "2.json: not an RFC 822 message");
    EXPECT_FALSE(std::filesystem::exists(dir + "/bad.jsonl"));
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace edgelm::data
