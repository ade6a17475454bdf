// JSON string escaping: every control character escaped, valid UTF-8 kept,
// invalid bytes replaced, and the result parses as JSON.
#include "common/json_string.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace tollgate {
namespace {

TEST(AppendJsonStringTest, EscapesQuotesBackslashesAndControls) {
  std::string out;
  appendJsonString(out, std::string("a\"b\\c\n\r\t\b\f\x01\x1f\x7f", 13));
  EXPECT_EQ(out, R"("a\"b\\c\n\r\t\b\f\u0001\u001f\u007f")");
  out.clear();
  appendJsonString(out, std::string("nul\0x", 5));
  EXPECT_EQ(out, R"("nul\u0000x")");
}

TEST(AppendJsonStringTest, KeepsValidUtf8AndReplacesInvalidBytes) {
  std::string out;
  appendJsonString(out, "Müller \xe2\x82\xac \xf0\x9f\x93\x9e");  // ü, €, 📞
  EXPECT_EQ(out, "\"Müller \xe2\x82\xac \xf0\x9f\x93\x9e\"");
  // Lone continuation byte, truncated sequence, overlong '/', UTF-16
  // surrogate, beyond U+10FFFF, and a byte that never starts UTF-8.
  const std::pair<std::string, std::string> cases[] = {
      {"a\x80z", R"("a\ufffdz")"},
      {"a\xe2\x82", R"("a\ufffd\ufffd")"},
      {"\xc0\xaf", R"("\ufffd\ufffd")"},
      {"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},
      {"\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},
      {"\xff", R"("\ufffd")"},
  };
  for (const auto& [in, want] : cases) {
    out.clear();
    appendJsonString(out, in);
    EXPECT_EQ(out, want);
  }
}

TEST(AppendJsonEscapedTest, WritesNoQuotesAndAppends) {
  std::string out = "x=";
  appendJsonEscaped(out, "say \"hi\"\n");
  EXPECT_EQ(out, R"(x=say \"hi\"\n)");
  appendJsonEscaped(out, "");
  EXPECT_EQ(out, R"(x=say \"hi\"\n)");
}

TEST(AppendJsonEscapedTest, EveryControlCharacterIsEscaped) {
  for (int c = 0; c < 0x20; ++c) {
    std::string out;
    appendJsonEscaped(out, std::string(1, static_cast<char>(c)));
    ASSERT_GE(out.size(), 2u) << c;
    EXPECT_EQ(out[0], '\\') << c;
    for (char o : out) EXPECT_GE(static_cast<unsigned char>(o), 0x20) << c;
  }
}

}  // namespace
}  // namespace tollgate
