#include "admission/number_lists.h"

#include <gtest/gtest.h>

namespace tollgate::admission {
namespace {

TEST(NumberMatcher, ExactPrefixAndWildcard) {
  NumberMatcher m({"442071234567", "4490*", "1900???1", "33?1*"});
  EXPECT_EQ(m.size(), 4u);
  EXPECT_TRUE(m.matches("442071234567"));
  EXPECT_FALSE(m.matches("44207123456"));
  EXPECT_FALSE(m.matches("4420712345678"));
  EXPECT_TRUE(m.matches("4490"));
  EXPECT_TRUE(m.matches("44901234"));
  EXPECT_FALSE(m.matches("449"));
  EXPECT_TRUE(m.matches("19005551"));
  EXPECT_FALSE(m.matches("19005552"));
  EXPECT_FALSE(m.matches("190055512"));
  EXPECT_TRUE(m.matches("33912345"));
  EXPECT_TRUE(m.matches("3301"));
  EXPECT_FALSE(m.matches("3310"));
}

TEST(NumberMatcher, StarAndHashAreDialCharactersExceptATrailingStar) {
  NumberMatcher m({"*67*", "#31#", "*"});
  NumberMatcher specific({"*67*", "#31#"});
  EXPECT_TRUE(specific.matches("*6712345"));
  EXPECT_FALSE(specific.matches("67"));
  EXPECT_TRUE(specific.matches("#31#"));
  EXPECT_FALSE(specific.matches("#31"));
  // A lone "*" is the empty prefix: everything.
  EXPECT_TRUE(m.matches("anything"));
  EXPECT_TRUE(m.matches(""));
}

TEST(NumberMatcher, SettingsPutPatternsInCanonicalForm) {
  NumberSettings numbers;  // digits, "00"
  // Patterns are checked as written (no spaces) before normalising.
  EXPECT_EQ(NumberMatcher({"+1 900*"}, &numbers).size(), 0u);
  NumberMatcher ok({"+1-900*", "0044(20)71234567", "+3?1*", "*67*", "anonymous"}, &numbers);
  EXPECT_EQ(ok.size(), 5u);
  EXPECT_TRUE(ok.matches("19005551234"));
  EXPECT_TRUE(ok.matches("442071234567"));
  EXPECT_TRUE(ok.matches("33123"));
  EXPECT_TRUE(ok.matches("*6712"));
  EXPECT_TRUE(ok.matches("anonymous"));
  EXPECT_FALSE(ok.matches("+19005551234"));  // canonical numbers carry no '+' in form digits
  // Without settings, patterns match as written.
  NumberMatcher raw({"+1-900*"});
  EXPECT_TRUE(raw.matches("+1-9005551234"));
  EXPECT_FALSE(raw.matches("19005551234"));
}

TEST(NumberListSet, NormalisesEveryListAndReportsBoundedProblems) {
  NumberSettings numbers;
  std::vector<NumberList> lists = {{"premium", ListKind::Black, "", {"+1900*"}},
                                   {"exempt", ListKind::SystemWhite, "", {"00-44-800*"}}};
  NumberList bad{"bad", ListKind::Black, "", {}};
  for (int i = 0; i < 100; ++i) bad.patterns.push_back(i % 2 ? "+*" : "00*");
  lists.push_back(bad);
  NumberListSet set(lists, numbers);
  EXPECT_TRUE(set.find("premium")->matcher.matches("19005551234"));
  EXPECT_TRUE(set.systemWhite("44800123"));
  EXPECT_EQ(set.problems().size(), NumberListSet::kMaxReportedProblems);
  EXPECT_NE(set.problems()[0].find("number list bad"), std::string::npos);
}

TEST(NumberMatcher, WildcardsBranchBothWays) {
  // "12?4" and "1234*" share a path: both must be explored.
  NumberMatcher m({"12?4", "1?3*"});
  EXPECT_TRUE(m.matches("1234"));
  EXPECT_TRUE(m.matches("12345"));  // via 1?3*
  EXPECT_TRUE(m.matches("1294"));
  EXPECT_TRUE(m.matches("1939"));
  EXPECT_FALSE(m.matches("1295"));
}

TEST(NumberMatcher, InvalidPatternsNeverMatch) {
  NumberMatcher m({"", "has space", std::string(65, '1')});
  EXPECT_EQ(m.size(), 0u);
  EXPECT_FALSE(m.matches(""));
  EXPECT_FALSE(m.matches("has space"));
}

TEST(Patterns, Problems) {
  EXPECT_EQ(patternProblem("4490*"), "");
  EXPECT_EQ(patternProblem("+44?0"), "");
  EXPECT_NE(patternProblem(""), "");
  EXPECT_NE(patternProblem("44 90"), "");
  EXPECT_NE(patternProblem("44\n90"), "");
  EXPECT_NE(patternProblem(std::string(65, '1')), "");
  EXPECT_EQ(patternProblem(std::string(64, '1')), "");
  EXPECT_TRUE(validListName("premium-uk.v2"));
  EXPECT_FALSE(validListName("a b"));
  EXPECT_FALSE(validListName(""));
}

std::vector<NumberList> sampleLists() {
  return {
      {"premium", ListKind::Black, "", {"1900*", "44909*"}},
      {"vip", ListKind::White, "", {"4420*"}},
      {"staff", ListKind::SystemWhite, "", {"442079460000"}},
      {"more-staff", ListKind::SystemWhite, "", {"3314?"}},
  };
}

TEST(NumberLists, BlackAndWhiteSemantics) {
  NumberListSet set(sampleLists());
  NumberListRefs refs;
  refs.caller = {"vip"};
  refs.callee = {"premium"};
  std::vector<std::string> missing;
  ListBinding b = bindLists(set, refs, &missing);
  EXPECT_TRUE(missing.empty());
  EXPECT_EQ(checkLists(b, "442071111111", "15551234567"), ListVerdict::Pass);
  // A white list refuses what it does not match.
  EXPECT_EQ(checkLists(b, "331111", "15551234567"), ListVerdict::CallerBlocked);
  EXPECT_EQ(checkLists(b, "442071111111", "19005550000"), ListVerdict::CalleeBlocked);
  // The caller is judged first.
  EXPECT_EQ(checkLists(b, "331111", "19005550000"), ListVerdict::CallerBlocked);
}

TEST(NumberLists, EmptyBindingPasses) {
  NumberListSet set(sampleLists());
  ListBinding b = bindLists(set, {}, nullptr);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(checkLists(b, "x", "y"), ListVerdict::Pass);
}

TEST(NumberLists, MissingAndSystemListsAreNotBound) {
  NumberListSet set(sampleLists());
  NumberListRefs refs;
  refs.caller = {"nope", "staff"};
  std::vector<std::string> missing;
  ListBinding b = bindLists(set, refs, &missing);
  EXPECT_EQ(missing, (std::vector<std::string>{"nope", "staff"}));
  EXPECT_TRUE(b.empty());
}

TEST(NumberLists, SystemWhiteListIsEveryListOfThatKind) {
  NumberListSet set(sampleLists());
  EXPECT_TRUE(set.systemWhite("442079460000"));
  EXPECT_TRUE(set.systemWhite("33145"));
  EXPECT_FALSE(set.systemWhite("4420794600001"));
  EXPECT_FALSE(set.systemWhite("19005550000"));
  EXPECT_EQ(set.size(), 4u);
}

}  // namespace
}  // namespace tollgate::admission
