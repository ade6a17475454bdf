// Strict UTF-8 decoding: code points of every length, and exactly one byte
// consumed for anything not well-formed.
#include "common/utf8.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace tollgate::utf8 {
namespace {

std::vector<int32_t> decode(std::string_view s) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i < s.size()) out.push_back(nextCodePoint(s, i));
  return out;
}

TEST(Utf8, DecodesEveryLength) {
  EXPECT_EQ(decode("A\xC3\xBC\xE2\x82\xAC\xF0\x9F\x93\x9E"),
            (std::vector<int32_t>{'A', 0xFC, 0x20AC, 0x1F4DE}));
  EXPECT_EQ(decode("\xF4\x8F\xBF\xBF"), (std::vector<int32_t>{0x10FFFF}));
}

TEST(Utf8, InvalidSequencesConsumeOneByte) {
  EXPECT_EQ(decode("\x80"), (std::vector<int32_t>{kInvalid}));
  EXPECT_EQ(decode("\xC0\xAF"), (std::vector<int32_t>{kInvalid, kInvalid}));  // overlong
  EXPECT_EQ(decode("\xED\xA0\x80"),
            (std::vector<int32_t>{kInvalid, kInvalid, kInvalid}));            // surrogate
  EXPECT_EQ(decode("\xE2\x82"), (std::vector<int32_t>{kInvalid, kInvalid}));  // truncated
  EXPECT_EQ(decode("\xE2(x"), (std::vector<int32_t>{kInvalid, '(', 'x'}));
}

TEST(Utf8, PrintableKeepsTextAndReplacesControlsAndBadBytes) {
  EXPECT_EQ(printable("M\xC3\xBCller <b>", 64), "M\xC3\xBCller <b>");
  EXPECT_EQ(printable(std::string_view("a\0b\r\n\x7f\xC2\x85\xFF", 9), 64), "a?b?????");
  EXPECT_EQ(printable("abcdef", 6), "abcdef");  // fits exactly: kept whole
}

TEST(Utf8, PrintableCutsAtACharacterBoundaryAndMarksTheCut) {
  EXPECT_EQ(printable("abcdefgh", 6), "abcde?");
  // "\xE2\x82\xAC" (3 bytes) would straddle the bound: dropped whole.
  EXPECT_EQ(printable("abc\xE2\x82\xAC\xE2\x82\xACx", 8), "abc\xE2\x82\xAC?");
  EXPECT_EQ(printable("\xE2\x82\xAC\xE2\x82\xAC", 4), "\xE2\x82\xAC?");
  EXPECT_EQ(printable("\xE2\x82\xAC\xE2\x82\xAC", 3), "?");
  EXPECT_LE(printable(std::string(10000, 'x'), 128).size(), 128u);
}

}  // namespace
}  // namespace tollgate::utf8
