// The OpenAPI document and the route table agree, both ways, and the copy
// in docs/ is the document this build serves.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "mgmt/api_server.h"

namespace tollgate::mgmt {
namespace {

TEST(ApiRoutesTest, EveryRouteIsDocumentedAndEveryDocumentedRouteExists) {
  nlohmann::json doc = nlohmann::json::parse(ApiServer::openApiDocument());
  std::set<std::pair<std::string, std::string>> documented, routed;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      std::string m = method;
      for (char& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.emplace(m, path);
      EXPECT_TRUE(op.contains("summary") && op.contains("responses")) << m << " " << path;
    }
  }
  for (const auto& r : ApiServer::routeList()) {
    EXPECT_TRUE(routed.insert(r).second) << "duplicate route " << r.first << " " << r.second;
  }
  EXPECT_EQ(documented, routed);
  // Every $ref points at a schema that exists.
  std::string text = doc.dump();
  size_t at = 0;
  while ((at = text.find("#/components/schemas/", at)) != std::string::npos) {
    at += 21;
    std::string name = text.substr(at, text.find('"', at) - at);
    EXPECT_TRUE(doc["components"]["schemas"].contains(name)) << name;
  }
}

TEST(ApiRoutesTest, CheckedInCopyIsCurrent) {
  std::ifstream in(TOLLGATE_SOURCE_DIR "/docs/openapi.json");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), ApiServer::openApiDocument())
      << "regenerate: build/bin/tollgate api openapi > docs/openapi.json";
}

}  // namespace
}  // namespace tollgate::mgmt
