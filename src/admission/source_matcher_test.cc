#include "admission/source_matcher.h"

#include <gtest/gtest.h>

namespace tollgate::admission {
namespace {

net::SockAddr addr(const char* s) {
  return *net::SockAddr::parse(s);
}

Provisioning sample() {
  Provisioning p;
  p.mappingGateways.push_back({"net8", AuthMode::Ip, {"10.0.0.0/8"}, true, {}});
  p.mappingGateways.push_back({"net24", AuthMode::Ip, {"10.1.2.0/24"}, true, {}});
  p.mappingGateways.push_back({"host", AuthMode::Ip, {"10.1.2.3", "::1"}, true, {}});
  p.mappingGateways.push_back(
      {"trunk", AuthMode::IpPort, {"10.1.2.3:5070", "192.0.2.9:5060"}, true, {}});
  p.mappingGateways.push_back({"off", AuthMode::Ip, {"198.51.100.1"}, false, {}});
  return p;
}

TEST(SourceMatcher, IpPortBeatsIpBeatsCidr) {
  SourceMatcher m(sample());
  EXPECT_EQ(m.identify(addr("10.1.2.3:5070")).gateway->name, "trunk");
  EXPECT_EQ(m.identify(addr("10.1.2.3:5060")).gateway->name, "host");
  EXPECT_EQ(m.identify(addr("10.1.2.4:5060")).gateway->name, "net24");
  EXPECT_EQ(m.identify(addr("10.9.9.9:5060")).gateway->name, "net8");
  EXPECT_EQ(m.identify(addr("[::1]:5060")).gateway->name, "host");
}

TEST(SourceMatcher, UnknownSource) {
  SourceMatcher m(sample());
  auto id = m.identify(addr("203.0.113.5:5060"));
  EXPECT_EQ(id.kind, Identification::Unknown);
  EXPECT_EQ(id.gateway, nullptr);
}

TEST(SourceMatcher, WrongPortOfIpPortGatewayIsPortMismatch) {
  SourceMatcher m(sample());
  auto id = m.identify(addr("192.0.2.9:5099"));
  EXPECT_EQ(id.kind, Identification::PortMismatch);
  EXPECT_EQ(id.gateway->name, "trunk");
}

TEST(SourceMatcher, DisabledGatewayIsNotMatched) {
  SourceMatcher m(sample());
  EXPECT_EQ(m.identify(addr("198.51.100.1:5060")).kind, Identification::Unknown);
}

TEST(Provisioning, SameSourceSameSpecificityIsAmbiguous) {
  Provisioning p;
  p.mappingGateways.push_back({"a", AuthMode::Ip, {"10.0.0.1"}, true, {}});
  p.mappingGateways.push_back({"b", AuthMode::Ip, {"10.0.0.1/32"}, true, {}});
  auto errors = validateProvisioning(p);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].gateway, "b");
  EXPECT_EQ(errors[0].key, "addresses");
  EXPECT_NE(errors[0].message.find("ambiguous"), std::string::npos);
}

TEST(Provisioning, OverlapWithDifferentSpecificityIsFine) {
  EXPECT_TRUE(validateProvisioning(sample()).empty());
}

TEST(Provisioning, RejectsBadAddressesAndRoutes) {
  Provisioning p;
  p.mappingGateways.push_back({"a", AuthMode::IpPort, {"10.0.0.1"}, true, {}});
  p.mappingGateways.push_back({"bad name", AuthMode::Ip, {"300.1.1.1"}, true, {}});
  RoutingGateway r;
  r.name = "c";
  r.address = "nonsense";
  r.prefixes = {"44x"};
  r.transport = "sctp";
  p.routingGateways.push_back(r);
  auto errors = validateProvisioning(p);
  std::vector<std::string> keys;
  for (auto& e : errors) keys.push_back(e.gateway + "." + e.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a.addresses", "bad name.name", "bad name.addresses",
                                            "c.address", "c.transport", "c.prefixes"}));
}

}  // namespace
}  // namespace tollgate::admission
