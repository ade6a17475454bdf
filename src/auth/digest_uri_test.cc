// The digest uri= rule (digest_uri.h) case by case: what names the
// Request-URI's target, what names another one, and the host-only form.
#include "auth/digest_uri.h"

#include <gtest/gtest.h>

namespace tollgate::auth {
namespace {

struct Case {
  const char* digestUri;
  const char* requestUri;
  DigestUriMatch expected;
};

DigestUriMatch match(const char* digestUri, const char* requestUri, bool hostOnly = true) {
  auto r = sip::parseUri(requestUri);
  EXPECT_TRUE(r) << requestUri;
  return matchDigestUri(digestUri, *r, hostOnly);
}

TEST(DigestUriTest, FollowsTheComparisonRule) {
  using M = DigestUriMatch;
  const Case cases[] = {
      // The same URI, as clients that hash the Request-URI send it.
      {"sip:4420555@192.0.2.10", "sip:4420555@192.0.2.10", M::Exact},
      {"sip:4420555@192.0.2.10:5080;transport=tcp", "sip:4420555@192.0.2.10:5080;transport=tcp",
       M::Exact},
      // Another number, however written.
      {"sip:4420555@192.0.2.10", "sip:1900666@192.0.2.10", M::Mismatch},
      {"sip:4420555@192.0.2.10", "sip:44205550@192.0.2.10", M::Mismatch},
      {"sip:1-900-666@192.0.2.10", "sip:1900666@192.0.2.10", M::Mismatch},
      {"sip:Alice@192.0.2.10", "sip:alice@192.0.2.10", M::Mismatch},  // user is case-sensitive
      {"sip:alice@192.0.2.10", "sip:192.0.2.10", M::Mismatch},        // a user the R-URI lacks
      {"sip:alice:pw@192.0.2.10", "sip:alice@192.0.2.10", M::Mismatch},
      // Escapes equal their characters (RFC 3261 §19.1.4).
      {"sip:%2B4420555@192.0.2.10", "sip:+4420555@192.0.2.10", M::Exact},
      {"sip:%34420555@192.0.2.10", "sip:4420555@192.0.2.10", M::Exact},
      // Scheme, host, port.
      {"sips:4420555@192.0.2.10", "sip:4420555@192.0.2.10", M::Mismatch},
      {"SIP:4420555@Tollgate.Example", "sip:4420555@tollgate.example", M::Exact},
      {"sip:4420555@192.0.2.11", "sip:4420555@192.0.2.10", M::Mismatch},
      {"sip:4420555@192.0.2.10:5060", "sip:4420555@192.0.2.10", M::Exact},  // default port
      {"sips:4420555@192.0.2.10:5061", "sips:4420555@192.0.2.10", M::Exact},
      {"sips:4420555@192.0.2.10:5060", "sips:4420555@192.0.2.10", M::Mismatch},
      {"sip:4420555@192.0.2.10:5070", "sip:4420555@192.0.2.10", M::Mismatch},
      {"sip:4420555@[2001:db8::1]", "sip:4420555@[2001:DB8::1]", M::Exact},
      // Parameters: user/ttl/method/maddr/transport must agree; others may
      // be in one only; values compare case-insensitively.
      {"sip:4420555@192.0.2.10;user=phone", "sip:4420555@192.0.2.10", M::Mismatch},
      {"sip:4420555@192.0.2.10", "sip:4420555@192.0.2.10;transport=tcp", M::Mismatch},
      {"sip:4420555@192.0.2.10;transport=TCP", "sip:4420555@192.0.2.10;transport=tcp", M::Exact},
      {"sip:4420555@192.0.2.10;transport=udp", "sip:4420555@192.0.2.10;transport=tcp", M::Mismatch},
      {"sip:4420555@192.0.2.10;foo=1", "sip:4420555@192.0.2.10", M::Exact},
      {"sip:4420555@192.0.2.10;foo=1", "sip:4420555@192.0.2.10;foo=2", M::Mismatch},
      {"sip:4420555@192.0.2.10?Subject=x", "sip:4420555@192.0.2.10", M::Mismatch},
      // SIPp's host-only form: host and port of the R-URI, nothing else.
      {"sip:192.0.2.10:5090", "sip:4420555@192.0.2.10:5090", M::HostOnly},
      {"sip:192.0.2.10", "sip:4420555@192.0.2.10:5060", M::HostOnly},
      {"sip:192.0.2.10:5091", "sip:4420555@192.0.2.10:5090", M::Mismatch},
      {"sip:192.0.2.99:5090", "sip:4420555@192.0.2.10:5090", M::Mismatch},
      {"sip:192.0.2.10:5090;user=phone", "sip:4420555@192.0.2.10:5090", M::Mismatch},
      {"sips:192.0.2.10:5090", "sip:4420555@192.0.2.10:5090", M::Mismatch},
      // REGISTER: the registrar's domain (RFC 3261 §10.2).
      {"sip:tollgate.example", "sip:tollgate.example", M::Exact},
      {"sip:other.example", "sip:tollgate.example", M::Mismatch},
      // tel and other schemes: the same text after the scheme.
      {"tel:+4420555", "tel:+4420555", M::Exact},
      {"tel:+1900666", "tel:+4420555", M::Mismatch},
      {"sip:+4420555@192.0.2.10;user=phone", "tel:+4420555", M::Mismatch},
      {"urn:service:sos", "urn:service:sos", M::Exact},
      {"urn:service:sos", "urn:service:police", M::Mismatch},
      // Not a URI at all.
      {"", "sip:4420555@192.0.2.10", M::Mismatch},
      {"*", "sip:4420555@192.0.2.10", M::Mismatch},
      {"sip:", "sip:4420555@192.0.2.10", M::Mismatch},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(match(c.digestUri, c.requestUri), c.expected)
        << "uri=" << c.digestUri << " Request-URI " << c.requestUri;
  }
}

TEST(DigestUriTest, HostOnlyFormNeedsTheTolerance) {
  EXPECT_EQ(match("sip:192.0.2.10:5090", "sip:4420555@192.0.2.10:5090", false),
            DigestUriMatch::Mismatch);
  EXPECT_EQ(match("sip:192.0.2.10:5090", "sip:192.0.2.10:5090", false), DigestUriMatch::Exact)
      << "a REGISTER's Request-URI has no user: the same URI is exact";
}

}  // namespace
}  // namespace tollgate::auth
