// Percent-encoding with the kept characters as a parameter, and liberal
// decoding.
#include "common/percent.h"

#include <gtest/gtest.h>

#include <string>

namespace tollgate {
namespace {

TEST(PercentEncode, KeepsLettersDigitsAndTheGivenMarks) {
  EXPECT_EQ(percentEncode("abcXYZ019", ""), "abcXYZ019");
  EXPECT_EQ(percentEncode("a b/c?d=e&f~g.h_i-j", kUrlUnreservedMarks),
            "a%20b%2Fc%3Fd%3De%26f~g.h_i-j");
  EXPECT_EQ(percentEncode("+44;x", "+"), "+44%3Bx");
  EXPECT_EQ(percentEncode(std::string("\0\xff", 2), ""), "%00%FF");
  EXPECT_EQ(percentEncode("", kUrlUnreservedMarks), "");
}

TEST(PercentDecode, DecodesEscapesAndKeepsInvalidOnes) {
  EXPECT_EQ(percentDecode("%2B44%2b1"), "+44+1");
  EXPECT_EQ(percentDecode("cust%2Da"), "cust-a");
  EXPECT_EQ(percentDecode("100%"), "100%");
  EXPECT_EQ(percentDecode("%2"), "%2");
  EXPECT_EQ(percentDecode("%zz%41"), "%zzA");
  EXPECT_EQ(percentDecode("%00"), std::string(1, '\0'));
}

TEST(PercentEncode, RoundTrips) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  EXPECT_EQ(percentDecode(percentEncode(all, kUrlUnreservedMarks)), all);
  EXPECT_EQ(percentDecode(percentEncode(all, "-_.!~*'()&=+$,")), all);
}

TEST(HexDigitValue, BothCases) {
  EXPECT_EQ(hexDigitValue('0'), 0);
  EXPECT_EQ(hexDigitValue('9'), 9);
  EXPECT_EQ(hexDigitValue('a'), 10);
  EXPECT_EQ(hexDigitValue('F'), 15);
  EXPECT_EQ(hexDigitValue('g'), -1);
  EXPECT_EQ(hexDigitValue('%'), -1);
}

}  // namespace
}  // namespace tollgate
