// ASCII case folding: only A-Z change, whatever the byte.
#include "common/ascii.h"

#include <gtest/gtest.h>

#include <string>

namespace tollgate::ascii {
namespace {

TEST(Ascii, LowersOnlyAToZ) {
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    const char want = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : ch;
    EXPECT_EQ(toLower(ch), want) << c;
  }
  EXPECT_EQ(lowered("Proxy-Authorization: Digest \xC3\x89"),
            "proxy-authorization: digest \xC3\x89");
}

TEST(Ascii, ComparesIgnoringCase) {
  EXPECT_TRUE(iequals("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("Via", "Vias"));
  EXPECT_FALSE(iequals("a", "\xC1"));  // no folding outside ASCII
  EXPECT_FALSE(iequals("[", "{"));     // 0x5B and 0x7B differ by 0x20 but are not letters
  EXPECT_TRUE(istartsWith("Bearer abc", "bearer "));
  EXPECT_FALSE(istartsWith("Bear", "bearer "));
  static_assert(iequals("SIP/2.0", "sip/2.0"));
}

}  // namespace
}  // namespace tollgate::ascii
