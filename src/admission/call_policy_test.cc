#include "admission/call_policy.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace tollgate::admission {
namespace {

constexpr int64_t kSecond = 1'000'000;

MappingGateway gateway(std::string name, std::string account = "") {
  MappingGateway g;
  g.name = std::move(name);
  g.addresses = {"127.0.0.1"};
  g.policy.account = std::move(account);
  return g;
}

class CallPolicyTest : public ::testing::Test {
 protected:
  void load(const Provisioning& p, const std::vector<NumberList>& lists = {}) {
    policy->setSnapshot(std::make_shared<PolicySnapshot>(p, lists), clock.now());
  }
  PolicyDecision admit(std::string_view gw, std::string_view caller, std::string_view callee,
                       CallTicket* t) {
    return policy->admit(gw, caller, callee, clock.now(), clock.wallMicros(), t, &listings);
  }
  void end(CallTicket& t, std::string_view caller, std::string_view callee, bool unanswered,
           int64_t ms = 0) {
    policy->onEnded(t, "gw", caller, callee, unanswered, ms, clock.wallMicros(), &listings);
  }
  ManualClock clock;
  PolicySettings settings;
  std::unique_ptr<CallPolicy> policy = std::make_unique<CallPolicy>(settings);
  std::vector<Listing> listings;
};

TEST_F(CallPolicyTest, NoPolicyAdmitsEverything) {
  Provisioning p;
  p.mappingGateways.push_back(gateway("gw"));
  load(p);
  for (int i = 0; i < 100; ++i) {
    CallTicket t;
    EXPECT_EQ(admit("gw", "1001", "555", &t).refusal, Refusal::None);
    EXPECT_TRUE(t.admitted);
    EXPECT_EQ(t.maxDurationS, 0);
  }
}

TEST_F(CallPolicyTest, CpsRefusalCarriesRetryAfter) {
  Provisioning p;
  p.mappingGateways.push_back(gateway("gw"));
  p.mappingGateways[0].policy.limits.cps = 2;
  load(p);
  CallTicket t;
  EXPECT_EQ(admit("gw", "1", "2", &t).refusal, Refusal::None);
  EXPECT_EQ(admit("gw", "1", "2", &t).refusal, Refusal::None);
  PolicyDecision d = admit("gw", "1", "2", &t);
  EXPECT_EQ(d.refusal, Refusal::CpsLimit);
  EXPECT_EQ(d.code, 503);
  EXPECT_EQ(d.retryAfterS, 1);
  EXPECT_EQ(d.by, "gw");
  EXPECT_FALSE(t.admitted);
  EXPECT_EQ(policy->stats().refused[static_cast<size_t>(Refusal::CpsLimit)], 1u);
}

TEST_F(CallPolicyTest, AccountChannelsAreSharedByItsGateways) {
  settings.concurrentLimitCode = 486;
  policy = std::make_unique<CallPolicy>(settings);
  Provisioning p;
  Account acme;
  acme.name = "acme";
  acme.limits.maxConcurrent = 2;
  p.accounts.push_back(acme);
  p.mappingGateways.push_back(gateway("pop1", "acme"));
  p.mappingGateways.push_back(gateway("pop2", "acme"));
  load(p);
  CallTicket a, b, c;
  EXPECT_EQ(admit("pop1", "1", "2", &a).refusal, Refusal::None);
  EXPECT_EQ(admit("pop2", "1", "2", &b).refusal, Refusal::None);
  PolicyDecision d = admit("pop2", "1", "2", &c);
  EXPECT_EQ(d.refusal, Refusal::ConcurrentLimit);
  EXPECT_EQ(d.code, 486);
  EXPECT_EQ(d.by, "acme");
  end(a, "1", "2", false);
  EXPECT_EQ(admit("pop2", "1", "2", &c).refusal, Refusal::None);
}

TEST_F(CallPolicyTest, MaxDurationIsTheTightestOfNodeAccountGateway) {
  settings.maxDurationS = 3600;
  policy = std::make_unique<CallPolicy>(settings);
  Provisioning p;
  Account acme;
  acme.name = "acme";
  acme.maxDuration = 1800;
  p.accounts.push_back(acme);
  p.mappingGateways.push_back(gateway("pop1", "acme"));
  p.mappingGateways.push_back(gateway("solo"));
  p.mappingGateways.back().policy.maxDuration = 60;
  p.mappingGateways.push_back(gateway("plain"));
  load(p);
  CallTicket t;
  admit("pop1", "1", "2", &t);
  EXPECT_EQ(t.maxDurationS, 1800);
  admit("solo", "1", "2", &t);
  EXPECT_EQ(t.maxDurationS, 60);
  admit("plain", "1", "2", &t);
  EXPECT_EQ(t.maxDurationS, 3600);
}

TEST_F(CallPolicyTest, NumberListsOfGatewayAndAccount) {
  Provisioning p;
  Account acme;
  acme.name = "acme";
  acme.lists.callee = {"premium"};
  p.accounts.push_back(acme);
  p.mappingGateways.push_back(gateway("pop1", "acme"));
  p.mappingGateways[0].policy.lists.caller = {"clis"};
  load(p, {{"premium", ListKind::Black, "", {"1900*"}}, {"clis", ListKind::White, "", {"44*"}}});
  CallTicket t;
  EXPECT_EQ(admit("pop1", "4420", "15551", &t).refusal, Refusal::None);
  PolicyDecision d = admit("pop1", "3320", "15551", &t);
  EXPECT_EQ(d.refusal, Refusal::CallerBlacklisted);
  EXPECT_EQ(d.code, 403);
  EXPECT_EQ(d.by, "pop1");
  d = admit("pop1", "4420", "19001", &t);
  EXPECT_EQ(d.refusal, Refusal::CalleeBlacklisted);
  EXPECT_EQ(d.by, "acme");
}

TEST_F(CallPolicyTest, SystemWhiteListBeatsTheDynamicList) {
  Provisioning p;
  p.mappingGateways.push_back(gateway("gw"));
  load(p, {{"staff", ListKind::SystemWhite, "", {"4420794*"}}});
  for (std::string n : {"442079460000", "15551"}) {
    BlacklistEntry e;
    e.number = n;
    e.expiresUs = clock.wallMicros() + 60 * kSecond;
    policy->blacklist().put(e);
  }
  CallTicket t;
  EXPECT_EQ(admit("gw", "442079460000", "2", &t).refusal, Refusal::None);
  EXPECT_TRUE(t.callerExempt);
  EXPECT_EQ(admit("gw", "15551", "2", &t).refusal, Refusal::CallerBlacklisted);
}

TEST_F(CallPolicyTest, PerGatewayRunModeWatchesOnlyGatewaysThatAskForIt) {
  settings.blacklist.perGateway = true;
  settings.blacklist.maliciousCaller.limit = 1;
  settings.blacklist.maliciousCaller.intervalUs = 60 * kSecond;
  policy = std::make_unique<CallPolicy>(settings);
  Provisioning p;
  p.mappingGateways.push_back(gateway("watched"));
  p.mappingGateways[0].policy.dynamicBlacklist = true;
  p.mappingGateways.push_back(gateway("free"));
  Account acc;
  acc.name = "acc";
  acc.dynamicBlacklist = true;
  p.accounts.push_back(acc);
  p.mappingGateways.push_back(gateway("via-account", "acc"));
  load(p);
  CallTicket t;
  EXPECT_EQ(admit("free", "1001", "2", &t).refusal, Refusal::None);
  EXPECT_EQ(admit("free", "1001", "2", &t).refusal, Refusal::None);
  EXPECT_TRUE(listings.empty());
  EXPECT_EQ(admit("watched", "1001", "2", &t).refusal, Refusal::None);  // listed now
  EXPECT_EQ(listings.size(), 1u);
  EXPECT_EQ(admit("watched", "1001", "2", &t).refusal, Refusal::CallerBlacklisted);
  EXPECT_EQ(admit("via-account", "1001", "2", &t).refusal, Refusal::CallerBlacklisted);
  EXPECT_EQ(admit("free", "1001", "2", &t).refusal, Refusal::None);
}

TEST_F(CallPolicyTest, ListingWithCutCallsRefusesTheTriggeringCall) {
  settings.blacklist.maliciousCaller.limit = 2;
  settings.blacklist.maliciousCaller.intervalUs = 60 * kSecond;
  settings.blacklist.maliciousCaller.cutCalls = true;
  policy = std::make_unique<CallPolicy>(settings);
  Provisioning p;
  p.mappingGateways.push_back(gateway("gw"));
  load(p);
  CallTicket t;
  EXPECT_EQ(admit("gw", "1001", "2", &t).refusal, Refusal::None);
  EXPECT_EQ(admit("gw", "1001", "2", &t).refusal, Refusal::CallerBlacklisted);
  ASSERT_EQ(listings.size(), 1u);
  EXPECT_TRUE(listings[0].cutCalls);
}

TEST_F(CallPolicyTest, NoAnswerRuleFedByCallEnds) {
  settings.blacklist.noAnswer.limit = 2;
  settings.blacklist.noAnswer.intervalUs = 60 * kSecond;
  policy = std::make_unique<CallPolicy>(settings);
  Provisioning p;
  p.mappingGateways.push_back(gateway("gw"));
  load(p);
  for (int i = 0; i < 2; ++i) {
    CallTicket t;
    ASSERT_EQ(admit("gw", "1001", "900", &t).refusal, Refusal::None);
    end(t, "1001", "900", /*unanswered=*/true);
  }
  ASSERT_EQ(listings.size(), 1u);
  CallTicket t;
  EXPECT_EQ(admit("gw", "1001", "900", &t).refusal, Refusal::CalleeBlacklisted);
}

TEST_F(CallPolicyTest, RefusalsLeaveNoChannelOrCounterBehind) {
  settings.blacklist.callerConcurrent.limit = 5;
  policy = std::make_unique<CallPolicy>(settings);
  Provisioning p;
  p.mappingGateways.push_back(gateway("gw"));
  p.mappingGateways[0].policy.limits.maxConcurrent = 1;
  FraudRule r;
  r.name = "cap";
  r.prefixes = {"1900"};
  r.callsPerMinute = {0, 1};
  p.fraudRules.push_back(r);
  load(p);
  CallTicket a, b;
  ASSERT_EQ(admit("gw", "1001", "19001", &a).refusal, Refusal::None);
  EXPECT_EQ(admit("gw", "1001", "19001", &b).refusal, Refusal::ConcurrentLimit);
  end(a, "1001", "19001", false);
  EXPECT_EQ(policy->blacklist().liveCallers(), 0u);
  PolicyDecision d = admit("gw", "1001", "19002", &b);
  EXPECT_EQ(d.refusal, Refusal::FraudThreshold);
  EXPECT_EQ(d.by, "cap");
  EXPECT_EQ(policy->blacklist().liveCallers(), 0u);
  // The refused call took no channel: another call is fine.
  EXPECT_EQ(admit("gw", "1001", "15551", &b).refusal, Refusal::None);
}

TEST_F(CallPolicyTest, CarrierLimitsAndLists) {
  Provisioning p;
  RoutingGateway c;
  c.name = "carrier";
  c.address = "127.0.0.1:5090";
  c.prefixes = {""};
  c.policy.limits.maxConcurrent = 1;
  c.policy.lists.callee = {"no-premium"};
  p.routingGateways.push_back(c);
  load(p, {{"no-premium", ListKind::Black, "", {"1900*"}}});
  CallLimits::Handle h1, h2;
  EXPECT_EQ(policy->acquireCarrier("carrier", "1", "19001", clock.now(), &h1),
            CallPolicy::CarrierCheck::CalleeBlocked);
  EXPECT_EQ(policy->acquireCarrier("carrier", "1", "155", clock.now(), &h1),
            CallPolicy::CarrierCheck::Ok);
  EXPECT_EQ(policy->acquireCarrier("carrier", "1", "155", clock.now(), &h2),
            CallPolicy::CarrierCheck::Full);
  policy->releaseCarrier(h1);
  EXPECT_EQ(policy->acquireCarrier("carrier", "1", "155", clock.now(), &h2),
            CallPolicy::CarrierCheck::Ok);
  // An unknown carrier (not in the snapshot) is never limited.
  EXPECT_EQ(policy->acquireCarrier("other", "1", "155", clock.now(), &h2),
            CallPolicy::CarrierCheck::Ok);
  EXPECT_EQ(h2, CallLimits::kNone);
}

TEST_F(CallPolicyTest, ReloadKeepsLiveCallsCounted) {
  Provisioning p;
  p.mappingGateways.push_back(gateway("gw"));
  p.mappingGateways[0].policy.limits.maxConcurrent = 2;
  load(p);
  CallTicket a, b, c;
  ASSERT_EQ(admit("gw", "1", "2", &a).refusal, Refusal::None);
  ASSERT_EQ(admit("gw", "1", "2", &b).refusal, Refusal::None);
  p.mappingGateways[0].policy.limits.maxConcurrent = 3;
  load(p);
  EXPECT_EQ(admit("gw", "1", "2", &c).refusal, Refusal::None);
  CallTicket d;
  EXPECT_EQ(admit("gw", "1", "2", &d).refusal, Refusal::ConcurrentLimit);
}

TEST_F(CallPolicyTest, ListPatternsWrittenWithFormattingMatchCanonicalNumbers) {
  Provisioning p;
  p.mappingGateways.push_back(gateway("gw"));
  p.mappingGateways[0].policy.lists.callee = {"premium"};
  // Form digits: one entry covers every way of writing the number. Form
  // e164 keeps national numbers ("1900..." without '+') apart, so the
  // operator lists both forms there.
  const std::vector<NumberList> digitsLists = {
      {"premium", ListKind::Black, "", {"+1-900*", "0044(909)*"}}};
  const std::vector<NumberList> e164Lists = {
      {"premium", ListKind::Black, "", {"+1-900*", "1-900*", "0044(909)*"}}};
  for (NumberSettings::Form form : {NumberSettings::Form::Digits, NumberSettings::Form::E164}) {
    NumberSettings numbers;
    numbers.form = form;
    const auto& lists = form == NumberSettings::Form::Digits ? digitsLists : e164Lists;
    auto snap = std::make_shared<PolicySnapshot>(p, lists, numbers);
    policy->setSnapshot(snap, clock.now());
    for (std::string_view raw : {"1-900-555-1234", "1.900.5551234", "%2B19005551234",
                                 "+1 (900) 555-1234", "0019005551234", "+44909123"}) {
      // What the switch hands in: the canonical form.
      const std::string callee = normalizeNumber(raw, numbers).canonical;
      CallTicket t;
      EXPECT_EQ(admit("gw", "1", callee, &t).refusal, Refusal::CalleeBlacklisted)
          << raw << " -> " << callee;
    }
    if (form == NumberSettings::Form::E164) {
      // Without the national entry, national forms pass in form e164.
      policy->setSnapshot(std::make_shared<PolicySnapshot>(p, digitsLists, numbers), clock.now());
      CallTicket t;
      EXPECT_EQ(admit("gw", "1", normalizeNumber("1-900-555-1234", numbers).canonical, &t).refusal,
                Refusal::None);
      if (t.admitted) policy->onEnded(t, "gw", "1", "", true, 0, clock.wallMicros(), &listings);
    }
    CallTicket t;
    EXPECT_EQ(admit("gw", "1", normalizeNumber("+1 800 555 1234", numbers).canonical, &t).refusal,
              Refusal::None);
    if (t.admitted) policy->onEnded(t, "gw", "1", "", true, 0, clock.wallMicros(), &listings);
    // The patterns stay as the operator wrote them.
    EXPECT_EQ(lists[0].patterns[0], "+1-900*");
    EXPECT_EQ(snap->lists().find("premium")->matcher.size(), lists[0].patterns.size());
  }
}

TEST_F(CallPolicyTest, FraudRulePrefixesAreCanonical) {
  Provisioning p;
  p.mappingGateways.push_back(gateway("gw"));
  FraudRule r;
  r.name = "premium";
  r.prefixes = {"+1900", "0044909", ""};
  r.callsPerMinute = {0, 1};
  p.fraudRules.push_back(r);
  NumberSettings e164;
  e164.form = NumberSettings::Form::E164;
  EXPECT_EQ(PolicySnapshot(p, {}).fraudRules()[0].prefixes,
            (std::vector<std::string>{"1900", "44909", ""}));
  EXPECT_EQ(PolicySnapshot(p, {}, e164).fraudRules()[0].prefixes,
            (std::vector<std::string>{"+1900", "+44909", ""}));
}

TEST_F(CallPolicyTest, PatternsTheFormCannotExpressAreReported) {
  Provisioning p;
  FraudRule r;
  r.name = "intl";
  r.prefixes = {"00"};
  r.callsPerMinute = {0, 1};
  p.fraudRules.push_back(r);
  const std::vector<NumberList> lists = {{"no-intl", ListKind::Black, "", {"00*", "+*", "44*"}}};
  PolicySnapshot digits(p, lists);
  ASSERT_EQ(digits.problems().size(), 3u);
  EXPECT_NE(digits.problems()[0].find("number list no-intl"), std::string::npos);
  EXPECT_NE(digits.problems()[2].find("fraud rule intl"), std::string::npos);
  NumberSettings e164;
  e164.form = NumberSettings::Form::E164;
  PolicySnapshot intl(p, lists, e164);
  EXPECT_TRUE(intl.problems().empty());
  EXPECT_EQ(intl.fraudRules()[0].prefixes[0], "+");
  const NumberListSet::Entry* e = intl.lists().find("no-intl");
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->matcher.matches(normalizeNumber("0033123", e164).canonical));
  EXPECT_FALSE(e->matcher.matches(normalizeNumber("0123", e164).canonical));
}

TEST_F(CallPolicyTest, UnresolvedReferencesAreReportedAndIgnored) {
  Provisioning p;
  p.mappingGateways.push_back(gateway("gw", "ghost"));
  p.mappingGateways[0].policy.lists.callee = {"missing"};
  auto snap = std::make_shared<PolicySnapshot>(p, std::vector<NumberList>{});
  EXPECT_EQ(snap->problems().size(), 2u);
  policy->setSnapshot(snap, clock.now());
  CallTicket t;
  EXPECT_EQ(admit("gw", "1", "2", &t).refusal, Refusal::None);
}

}  // namespace
}  // namespace tollgate::admission
