#include "call/route_table.h"

#include <gtest/gtest.h>

namespace tollgate::call {
namespace {

admission::RoutingGateway gw(std::string name, std::vector<std::string> prefixes, int priority) {
  admission::RoutingGateway g;
  g.name = std::move(name);
  g.address = "192.0.2.1:5060";
  g.prefixes = std::move(prefixes);
  g.priority = priority;
  return g;
}

std::vector<std::string> names(const std::vector<RouteTarget>& r) {
  std::vector<std::string> n;
  for (auto& t : r) n.push_back(t.name);
  return n;
}

TEST(RouteTable, LongestPrefixThenPriorityThenDefault) {
  admission::Provisioning p;
  p.routingGateways = {gw("default-b", {""}, 20), gw("default-a", {""}, 10), gw("uk", {"44"}, 50),
                       gw("uk-mobile", {"447"}, 90), gw("uk-cheap", {"44"}, 5)};
  RouteTable t(p);
  EXPECT_EQ(names(t.lookup("447700900123")),
            (std::vector<std::string>{"uk-mobile", "uk-cheap", "uk", "default-a", "default-b"}));
  EXPECT_EQ(names(t.lookup("33123")), (std::vector<std::string>{"default-a", "default-b"}));
}

TEST(RouteTable, PrefixesAreMatchedInCanonicalForm) {
  admission::Provisioning p;
  p.routingGateways = {gw("uk", {"+44"}, 1), gw("us-premium", {"001-900"}, 1),
                       gw("star", {"*67"}, 1)};
  RouteTable digits(p);
  EXPECT_EQ(names(digits.lookup("442071234567")), (std::vector<std::string>{"uk"}));
  EXPECT_EQ(digits.lookup("442071234567")[0].matchedPrefixLength, 2u);
  EXPECT_EQ(names(digits.lookup("19005551234")), (std::vector<std::string>{"us-premium"}));
  EXPECT_EQ(names(digits.lookup("*6712")), (std::vector<std::string>{"star"}));
  admission::NumberSettings e164;
  e164.form = admission::NumberSettings::Form::E164;
  RouteTable intl(p, e164);
  EXPECT_EQ(names(intl.lookup("+442071234567")), (std::vector<std::string>{"uk"}));
  EXPECT_TRUE(intl.lookup("442071234567").empty());
  EXPECT_EQ(names(intl.lookup("+19005551234")), (std::vector<std::string>{"us-premium"}));
}

TEST(RouteTable, NoMatchWithoutDefaultRoute) {
  admission::Provisioning p;
  p.routingGateways = {gw("uk", {"44"}, 1)};
  RouteTable t(p);
  EXPECT_TRUE(t.lookup("33123").empty());
}

TEST(RouteTable, DisabledGatewayIsSkipped) {
  admission::Provisioning p;
  p.routingGateways = {gw("a", {""}, 1)};
  p.routingGateways[0].enabled = false;
  EXPECT_TRUE(RouteTable(p).lookup("1").empty());
}

TEST(RouteTable, TranslateStripsThenAdds) {
  RouteTarget t;
  t.stripDigits = 2;
  t.addPrefix = "0";
  EXPECT_EQ(t.translate("44123"), "0123");
  t.stripDigits = 9;
  EXPECT_EQ(t.translate("44"), "0");
}

TEST(RouteTable, KnowsCarrierAddresses) {
  admission::Provisioning p;
  p.routingGateways = {gw("a", {""}, 1)};
  RouteTable t(p);
  EXPECT_TRUE(t.isCarrierAddress(*net::IpAddress::parse("192.0.2.1")));
  EXPECT_FALSE(t.isCarrierAddress(*net::IpAddress::parse("192.0.2.2")));
}

}  // namespace
}  // namespace tollgate::call
