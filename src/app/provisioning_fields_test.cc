// Every field of every provisioning table (admission/provisioning_fields.h)
// round-trips through the provisioning file reader, the API's JSON writer and
// reader, and the SQLite store (a real file), is described in the OpenAPI
// document and has its range checked by the validator: a field added to a
// table is covered here without a new test. (The API's JSON helpers are
// internal to mgmt; this test reaches them because it needs the file reader
// of app and the store at once.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <type_traits>
#include <variant>

#include "admission/provisioning_fields.h"
#include "app/provisioning_file.h"
#include "mgmt/api_server.h"
#include "mgmt/provisioning_json.h"
#include "store/store.h"
#include "store/test_temp_dir.h"

namespace tollgate::app {
namespace {

using admission::Account;
using admission::FraudRule;
using admission::MappingGateway;
using admission::Provisioning;
using admission::RoutingGateway;

std::vector<std::string> splitExample(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t comma = s.find(',', start);
    out.emplace_back(s.substr(start, comma == std::string_view::npos ? s.npos : comma - start));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

// Sets every table field of `r` to a valid value other than its default.
template <typename Record>
void setSample(Record& r) {
  const Record defaults{};
  for (const auto& f : admission::provisioningFields<Record>()) {
    std::visit(
        [&](auto* v) {
          using T = std::remove_pointer_t<decltype(v)>;
          const T def = *std::get<T*>(f.at(defaults));
          if constexpr (std::is_same_v<T, int>) {
            *v = f.max > 0 ? static_cast<int>(def == f.max ? f.min : f.max) : def + 7;
          } else if constexpr (std::is_same_v<T, double>) {
            *v = f.max > 0 && f.max < 2.5 ? f.max : 2.5;
          } else if constexpr (std::is_same_v<T, bool>) {
            *v = !def;
          } else if constexpr (std::is_same_v<T, std::string>) {
            ASSERT_FALSE(f.example.empty()) << f.key << ": a string field needs an example";
            *v = std::string(f.example);
          } else {
            ASSERT_FALSE(f.example.empty()) << f.key << ": a list field needs an example";
            *v = splitExample(f.example);
          }
          ASSERT_NE(*v, def) << f.key;
        },
        f.at(r));
  }
}

// A valid provisioning set whose every table field is set (the example
// account is "acme", which the examples refer to).
Provisioning sample() {
  Provisioning p;
  Account acme;
  acme.name = "acme";
  setSample(acme);
  p.accounts.push_back(acme);
  MappingGateway m;
  m.name = "cust-a";
  m.addresses = {"192.0.2.10"};
  setSample(m);
  p.mappingGateways.push_back(m);
  RoutingGateway r;
  r.name = "carrier-a";
  r.address = "192.0.2.20:5060";
  r.prefixes = {""};
  r.priority = 1;
  setSample(r);
  p.routingGateways.push_back(r);
  FraudRule f;
  f.name = "night";
  setSample(f);
  p.fraudRules.push_back(f);
  return p;
}

// The table fields of `r` as provisioning file keys.
template <typename Record>
std::string tomlFields(const Record& r) {
  std::ostringstream out;
  auto quoted = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return q + "\"";
  };
  for (const auto& f : admission::provisioningFields<Record>()) {
    out << f.key << " = ";
    std::visit(
        [&](auto* v) {
          using T = std::remove_pointer_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int>) {
            out << *v;
          } else if constexpr (std::is_same_v<T, double>) {
            out << std::to_string(*v);
          } else if constexpr (std::is_same_v<T, bool>) {
            out << (*v ? "true" : "false");
          } else if constexpr (std::is_same_v<T, std::string>) {
            out << quoted(*v);
          } else {
            out << "[";
            for (size_t i = 0; i < v->size(); ++i) out << (i ? ", " : "") << quoted((*v)[i]);
            out << "]";
          }
        },
        f.at(r));
    out << "\n";
  }
  return out.str();
}

std::string sampleToml(const Provisioning& p) {
  std::string t = "[[account]]\nname = \"acme\"\n" + tomlFields(p.accounts[0]);
  t += "[[mapping_gateway]]\nname = \"cust-a\"\nauth = \"ip\"\naddresses = [\"192.0.2.10\"]\n" +
       tomlFields(p.mappingGateways[0]);
  t += "[[routing_gateway]]\nname = \"carrier-a\"\naddress = \"192.0.2.20:5060\"\n"
       "prefixes = [\"\"]\npriority = 1\n" +
       tomlFields(p.routingGateways[0]);
  t += "[[fraud_rule]]\nname = \"night\"\n" + tomlFields(p.fraudRules[0]);
  return t;
}

// The table fields of both sets agree, record by record.
void expectSameFields(const Provisioning& want, const Provisioning& got, const char* path) {
  ASSERT_EQ(got.accounts.size(), 1u) << path;
  ASSERT_EQ(got.mappingGateways.size(), 1u) << path;
  ASSERT_EQ(got.routingGateways.size(), 1u) << path;
  ASSERT_EQ(got.fraudRules.size(), 1u) << path;
  EXPECT_TRUE(admission::sameFields(want.accounts[0], got.accounts[0])) << path;
  EXPECT_TRUE(admission::sameFields(want.mappingGateways[0], got.mappingGateways[0])) << path;
  EXPECT_TRUE(admission::sameFields(want.routingGateways[0], got.routingGateways[0])) << path;
  EXPECT_TRUE(admission::sameFields(want.fraudRules[0], got.fraudRules[0])) << path;
}

TEST(ProvisioningFieldsTest, SampleSetsEveryFieldAndIsValid) {
  const Provisioning p = sample();
  EXPECT_THAT(admission::validateProvisioning(p), testing::IsEmpty());
  EXPECT_FALSE(admission::sameFields(p.accounts[0], Account{}));
}

TEST(ProvisioningFieldsTest, EveryFieldRoundTripsThroughTheProvisioningFile) {
  const Provisioning want = sample();
  auto got = parseProvisioning(sampleToml(want), "fields.toml");
  ASSERT_TRUE(got.ok()) << got.error().format() << "\n" << sampleToml(want);
  expectSameFields(want, got.value(), "file");
}

template <typename Record>
void expectJsonRoundTrip(const Record& want) {
  mgmt::Json j;
  mgmt::writeProvisioningFields(j, want);
  for (const auto& f : admission::provisioningFields<Record>()) {
    EXPECT_TRUE(j.contains(std::string(f.key))) << f.key;
  }
  Record got{};
  mgmt::JsonFields in(j);
  mgmt::readProvisioningFields(in, got, /*full=*/true);
  in.finish();  // every key written is a key the reader knows
  EXPECT_TRUE(admission::sameFields(want, got)) << j.dump();
}

TEST(ProvisioningFieldsTest, EveryFieldRoundTripsThroughTheApiJson) {
  const Provisioning p = sample();
  expectJsonRoundTrip(p.accounts[0]);
  expectJsonRoundTrip(p.mappingGateways[0]);
  expectJsonRoundTrip(p.routingGateways[0]);
  expectJsonRoundTrip(p.fraudRules[0]);
}

TEST(ProvisioningFieldsTest, EveryFieldRoundTripsThroughTheStore) {
  store::TestTempDir dir;
  ASSERT_TRUE(dir.ok());
  auto st = store::openSqliteStore(dir.file("fields.db"));
  ASSERT_TRUE(st.ok()) << st.error().message;
  const Provisioning want = sample();
  ASSERT_TRUE((*st)->importProvisioning(want, false).ok());
  auto got = (*st)->loadProvisioning();
  ASSERT_TRUE(got.ok()) << got.error().message;
  expectSameFields(want, got.value(), "store");
  // Unchanged on a second import: the stored fields compare equal.
  auto again = (*st)->importProvisioning(want, false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->added + again->updated + again->removed, 0u);
}

template <typename Record>
void expectDescribed(const nlohmann::json& schemas, const char* schema) {
  const auto& props = schemas.at(schema).at("properties");
  for (const auto& f : admission::provisioningFields<Record>()) {
    ASSERT_TRUE(props.contains(std::string(f.key))) << schema << "." << f.key;
    EXPECT_EQ(props.at(std::string(f.key)).value("description", ""), f.description)
        << schema << "." << f.key;
  }
}

TEST(ProvisioningFieldsTest, EveryFieldIsInTheOpenApiDocument) {
  const auto doc = nlohmann::json::parse(mgmt::ApiServer::openApiDocument());
  const auto& schemas = doc.at("components").at("schemas");
  expectDescribed<MappingGateway>(schemas, "MappingGateway");
  expectDescribed<RoutingGateway>(schemas, "RoutingGateway");
  expectDescribed<Account>(schemas, "Account");
  expectDescribed<FraudRule>(schemas, "FraudRule");
}

// Each ranged field, one step outside its range, is refused on its key with
// its range message.
template <typename Record>
void expectRangesChecked(Provisioning base, std::vector<Record>& (*list)(Provisioning&)) {
  for (const auto& f : admission::provisioningFields<Record>()) {
    if (f.max == 0) continue;
    for (double outside : {f.min - 1, f.max + 1}) {
      Provisioning p = base;
      std::visit(
          [&](auto* v) {
            using T = std::remove_pointer_t<decltype(v)>;
            if constexpr (std::is_same_v<T, int> || std::is_same_v<T, double>) {
              *v = static_cast<T>(outside);
            }
          },
          f.at(list(p)[0]));
      auto errors = admission::validateProvisioning(p);
      bool found = false;
      for (const auto& e : errors) found |= e.key == f.key && e.message == rangeMessage(f);
      EXPECT_TRUE(found) << f.key << " = " << outside;
    }
  }
}

TEST(ProvisioningFieldsTest, EveryRangeIsChecked) {
  const Provisioning p = sample();
  expectRangesChecked<Account>(
      p, [](Provisioning & q) -> auto& { return q.accounts; });
  expectRangesChecked<MappingGateway>(
      p, [](Provisioning & q) -> auto& { return q.mappingGateways; });
  expectRangesChecked<RoutingGateway>(
      p, [](Provisioning & q) -> auto& { return q.routingGateways; });
  expectRangesChecked<FraudRule>(
      p, [](Provisioning & q) -> auto& { return q.fraudRules; });
}

}  // namespace
}  // namespace tollgate::app
