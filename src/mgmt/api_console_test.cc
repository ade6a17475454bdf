// The web console's serving and session helpers: the embedded files and
// their cache rules, the session cookie's flags and parsing, the CSRF token.
#include <gtest/gtest.h>

#include <string>

#include "mgmt/api_internal.h"
#include "mgmt/console_assets.h"
#include "mgmt/secrets.h"

namespace tollgate::mgmt {
namespace {

httplib::Request get(const std::string& path) {
  httplib::Request r;
  r.method = "GET";
  r.path = path;
  return r;
}

TEST(ConsoleTest, EveryWebFileIsEmbeddedWithItsType) {
  bool index = false, app = false, css = false;
  for (const ConsoleAsset& a : consoleAssets()) {
    const std::string name = a.name;
    EXPECT_GT(a.size, 0u) << name;
    index |= name == "index.html" && std::string(a.contentType).rfind("text/html", 0) == 0;
    app |= name == "app.js" && std::string(a.contentType).rfind("text/javascript", 0) == 0;
    css |= name == "console.css" && std::string(a.contentType).rfind("text/css", 0) == 0;
  }
  EXPECT_TRUE(index && app && css);
  EXPECT_EQ(std::string(consoleAssetHash()).size(), 16u);
}

TEST(ConsoleTest, IndexNamesThisBuildsAssetDirectoryAndIsNeverCached) {
  httplib::Response res;
  ASSERT_TRUE(serveConsole(get("/console/"), res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.get_header_value("Cache-Control"), "no-store");
  EXPECT_NE(res.body.find(std::string("/console/a/") + consoleAssetHash() + "/app.js"),
            std::string::npos);
  EXPECT_EQ(res.body.find("@ASSETS@"), std::string::npos);
  // No inline script or style: the CSP would refuse them.
  EXPECT_EQ(res.body.find("<script>"), std::string::npos);
  EXPECT_EQ(res.body.find("style="), std::string::npos);
}

TEST(ConsoleTest, AssetsOfThisBuildAreCachedOthersAreNot) {
  httplib::Response res;
  ASSERT_TRUE(serveConsole(get(std::string("/console/a/") + consoleAssetHash() + "/app.js"), res));
  EXPECT_EQ(res.status, 200);
  EXPECT_NE(res.get_header_value("Cache-Control").find("immutable"), std::string::npos);
  httplib::Response old;
  ASSERT_TRUE(serveConsole(get("/console/a/0000000000000000/app.js"), old));
  EXPECT_EQ(old.status, 200);
  EXPECT_EQ(old.get_header_value("Cache-Control"), "no-store");
  for (const char* p : {"/console/a/x/../../etc/passwd", "/console/a/x/nosuch.js",
                        "/console/a/app.js", "/console/a/x/index.html"}) {
    httplib::Response r;
    ASSERT_TRUE(serveConsole(get(p), r)) << p;
    EXPECT_EQ(r.status, 404) << p;
  }
  httplib::Response api;
  EXPECT_FALSE(serveConsole(get("/api/v1/whoami"), api));
}

TEST(ConsoleTest, SessionCookieIsHttpOnlyStrictAndSecureUnderTls) {
  ApiSettings plain;
  const std::string p = sessionCookieHeader(plain, "tgs_abc", 60);
  EXPECT_EQ(p, "tg_session=tgs_abc; Path=/; Max-Age=60; HttpOnly; SameSite=Strict");
  ApiSettings tls;
  tls.certificate = "/etc/tollgate/api.pem";
  const std::string t = sessionCookieHeader(tls, "tgs_abc", 60);
  EXPECT_EQ(t, "__Host-tg_session=tgs_abc; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure");
  EXPECT_NE(sessionCookieHeader(tls, "", 0).find("Max-Age=0"), std::string::npos);
}

TEST(ConsoleTest, SessionCookieIsFoundAmongOthersAndBoundedInLength) {
  httplib::Request r;
  r.headers.emplace("Cookie", "a=b; tg_session=tgs_xyz;c=d");
  EXPECT_EQ(sessionCookie(r), "tgs_xyz");
  httplib::Request s;
  s.headers.emplace("cookie", "__Host-tg_session=tgs_1");
  EXPECT_EQ(sessionCookie(s), "tgs_1");
  httplib::Request none;
  none.headers.emplace("Cookie", "xtg_session=tgs_1; tg_session=");
  EXPECT_EQ(sessionCookie(none), "");
  httplib::Request huge;
  huge.headers.emplace("Cookie", "tg_session=" + std::string(kMaxTokenLength + 1, 'a'));
  EXPECT_EQ(sessionCookie(huge), "");
}

TEST(ConsoleTest, CsrfTokenIsPerSessionAndRevealsNothingOfIt) {
  const std::string a = csrfTokenFor("tgs_one");
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a, csrfTokenFor("tgs_one"));
  EXPECT_NE(a, csrfTokenFor("tgs_two"));
  EXPECT_NE(a, sha256Hex("tgs_one"));  // not the stored session digest
  EXPECT_EQ(a.find("tgs_one"), std::string::npos);
}

TEST(ConsoleTest, EveryAnswerGetsTheStrictPolicy) {
  httplib::Response res;
  setSecurityHeaders(res);
  const std::string csp = res.get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe"), std::string::npos);
  EXPECT_EQ(res.get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(res.get_header_value("X-Content-Type-Options"), "nosniff");
}

}  // namespace
}  // namespace tollgate::mgmt
