// TextStream: a stop string is never sent, not even in part, and a character split across
// tokens is sent whole.
#include <gtest/gtest.h>

#include "serve/text_stream.h"

namespace edgelm::serve {
namespace {

std::string run(TextStream& s, const std::vector<std::string>& pieces) {
    std::string out;
    for (const std::string& p : pieces) out += s.push(p);
    return out + s.flush();
}

TEST(ServeTextStreamTest, CutsAtTheFirstStopStringAcrossTokens) {
    TextStream s({"END", "\n\nUser:"});
    EXPECT_EQ(s.push("hello E"), "hello ");  // "E" may begin "END": held back
    EXPECT_EQ(s.push("N"), "");
    EXPECT_EQ(s.push("Dafter"), "");
    EXPECT_TRUE(s.stopped());
    EXPECT_EQ(s.push("more"), "");
    EXPECT_EQ(s.flush(), "");

    TextStream t({"\n\nUser:"});
    EXPECT_EQ(run(t, {"a\n", "\nUs", "er: b"}), "a");
    TextStream u({"xyz"});
    EXPECT_EQ(run(u, {"x", "y", "!"}), "xy!");  // a prefix that did not become the stop
    EXPECT_FALSE(u.stopped());
}

TEST(ServeTextStreamTest, HoldsBackUnfinishedUtf8) {
    TextStream s({});
    const std::string euro = "\xE2\x82\xAC";
    EXPECT_EQ(s.push("a\xE2"), "a");
    EXPECT_EQ(s.push("\x82"), "");
    EXPECT_EQ(s.push("\xAC b"), euro + " b");
    EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\x98", 3), 0u);
    EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\x98\x80", 4), 4u);
    EXPECT_EQ(complete_utf8_prefix("ab\xC3", 3), 2u);
    EXPECT_EQ(complete_utf8_prefix("\xE0"
                                   "a",
                                   2),
              2u);  // a broken lead byte is not waited on
}

}  // namespace
}  // namespace edgelm::serve
