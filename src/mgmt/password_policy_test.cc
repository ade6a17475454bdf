// Password policy: one test per rule, and what must pass.
#include "mgmt/password_policy.h"

#include <gtest/gtest.h>

#include <string>

namespace tollgate::mgmt {
namespace {

std::string ruleOf(std::string_view pw, std::string_view user = "marjorie", size_t min = 12) {
  PasswordVerdict v = checkPassword(pw, user, min);
  return v.ok ? "ok" : v.rule;
}

TEST(PasswordPolicyTest, ShipsTheCommonList) {
  EXPECT_GT(commonPasswordCount(), 3000u);
  EXPECT_TRUE(isCommonPassword("password"));
  EXPECT_TRUE(isCommonPassword("PASSWORD"));
  EXPECT_FALSE(isCommonPassword("#!comment: This list has been compiled by Solar Designer"));
}

TEST(PasswordPolicyTest, MinLengthCountsCharactersNotBytes) {
  EXPECT_EQ(ruleOf("eleven char"), "min_length");
  EXPECT_EQ(ruleOf("twelve chars"), "ok");
  // 11 characters, 17 bytes: still too short.
  EXPECT_EQ(ruleOf("ünïcödé qzx"), "min_length");
  EXPECT_EQ(ruleOf("correct horse", "x", 20), "min_length");
}

TEST(PasswordPolicyTest, MaxLength) {
  EXPECT_EQ(ruleOf(std::string(256, 'x') + "yz"), "max_length");
  std::string longOk;
  for (int i = 0; i < 25; ++i) longOk += "word" + std::to_string(i) + " ";
  EXPECT_EQ(ruleOf(longOk.substr(0, 256)), "ok");
}

TEST(PasswordPolicyTest, NoControlCharacters) {
  EXPECT_EQ(ruleOf(std::string("abcdefgh\x01ijkl")), "characters");
  EXPECT_EQ(ruleOf(std::string("abcdefgh\nijkl")), "characters");
  EXPECT_EQ(ruleOf("spaces are fine"), "ok");
}

TEST(PasswordPolicyTest, NotTheUserName) {
  EXPECT_EQ(ruleOf("marjorie-marjorie", "marjorie"), "user_name");
  EXPECT_EQ(ruleOf("MyNameIsMarjorie", "marjorie"), "user_name");
  EXPECT_EQ(ruleOf("administrator", "administrator"), "user_name");
  EXPECT_EQ(ruleOf("bob is my name", "bob"), "ok");  // 3 letters: only equality counts
}

TEST(PasswordPolicyTest, NotTheProductName) {
  EXPECT_EQ(ruleOf("TollGate-admin-2026"), "product_name");
}

TEST(PasswordPolicyTest, NotCommonEvenDecorated) {
  EXPECT_EQ(ruleOf("winniethepooh"), "common");
  EXPECT_EQ(ruleOf("Baseball2024!"), "common");
  EXPECT_EQ(ruleOf("123Football..."), "common");
  EXPECT_EQ(ruleOf("baseball in the park"), "ok");
}

TEST(PasswordPolicyTest, NotRepetitive) {
  EXPECT_EQ(ruleOf("zzzzzzzzzzzz"), "repetitive");
  EXPECT_EQ(ruleOf("abcabcabcabc"), "repetitive");
  EXPECT_EQ(ruleOf("qwerzxcvqwerzxcv"), "repetitive");
  EXPECT_EQ(ruleOf("abcabcabcabd"), "ok");
}

TEST(PasswordPolicyTest, NotSequential) {
  EXPECT_EQ(ruleOf("123456789012"), "sequential");
  EXPECT_EQ(ruleOf("987654321098"), "sequential");
  EXPECT_EQ(ruleOf("abcdefghijklm"), "sequential");
  EXPECT_EQ(ruleOf("ZYXWVUTSRQPO"), "sequential");
  EXPECT_EQ(ruleOf("abcdefghij12"), "ok");
}

TEST(PasswordPolicyTest, MessagesNeverEchoThePassword) {
  PasswordVerdict v = checkPassword("Baseball2024!", "u", 12);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.message.find("Baseball"), std::string::npos);
}

}  // namespace
}  // namespace tollgate::mgmt
