// The RFC 3261 §25.1 character classes that other layers share (the
// shield's raw scan, the digest parser): checked byte by byte against the
// grammar's own text.
#include "sip/grammar.h"

#include <gtest/gtest.h>

#include <string_view>

namespace tollgate::sip {
namespace {

bool alnum(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

TEST(Grammar, TokenIsAlphanumAndTheTenMarks) {
  // token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
  constexpr std::string_view kMarks = "-.!%*_+`'~";
  for (int c = 0; c < 256; ++c) {
    const bool want = alnum(c) || (c != 0 && kMarks.find(static_cast<char>(c)) != kMarks.npos);
    EXPECT_EQ(isToken(static_cast<char>(c)), want) << c;
  }
}

TEST(Grammar, WhiteSpaceDigitsAndHex) {
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    EXPECT_EQ(isWsp(ch), c == ' ' || c == '\t') << c;
    EXPECT_EQ(isDigit(ch), c >= '0' && c <= '9') << c;
    EXPECT_EQ(isHex(ch), (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
        << c;
  }
}

}  // namespace
}  // namespace tollgate::sip
