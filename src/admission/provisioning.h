// The provisioning data model: mapping gateways (customers, calls come in)
// and routing gateways (carriers, calls go out), as imported from
// provisioning TOML and kept in the store. Plain data, validated by
// validateProvisioning(); the running core works on an immutable snapshot of
// it. No threading rule (values).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "auth/digest.h"

namespace tollgate::admission {

enum class AuthMode : uint8_t { Ip, IpPort, Password, TlsCert };
// "ip", "ip_port", "password", "tls_cert"
std::string_view authModeName(AuthMode m);
bool parseAuthMode(std::string_view text, AuthMode* out);

// Which digest challenge a request gets (VOS3000 SS_AUTHCHALLENGEMODE 1/2/3):
// 401 + WWW-Authenticate, 407 + Proxy-Authenticate, or 401 for REGISTER and
// 407 for everything else.
enum class ChallengeMode : uint8_t { Www401, Proxy407, Both };
std::string_view challengeModeName(ChallengeMode m);  // "401", "407", "both"
bool parseChallengeMode(std::string_view text, ChallengeMode* out);

// Limits of the password-gateway keys (provisioning is operator input, but
// these values end up in SIP headers and in memory per account).
inline constexpr size_t kMaxUsernameLength = 64;
inline constexpr size_t kMaxPasswordLength = 128;
inline constexpr int kMaxContactsLimit = 100;  // bindings one account may hold
inline constexpr size_t kMaxTlsNames = 64;
inline constexpr int kMinRegisterExpires = 60;  // outbound REGISTER to a carrier
inline constexpr int kMaxRegisterExpires = 86400;

struct MappingGateway {
  std::string name;
  AuthMode auth = AuthMode::Ip;
  // ip: IP or CIDR strings; ip_port: "IP:port" strings ("[v6]:port");
  // password and tls_cert: optional IPs/CIDRs the gateway must also come
  // from (a second factor), empty = anywhere.
  std::vector<std::string> addresses;
  bool enabled = true;

  // --- auth = "password" (identified by digest credentials) ---
  std::string username;
  // The clear password, only between reading a provisioning file and the
  // import, which turns it into the HA1s below and drops it: the store
  // never holds it.
  std::string password;
  std::string realm;       // the realm the HA1s were computed for (sip.domain at import)
  std::string ha1Md5;      // H(username:realm:password), lowercase hex
  std::string ha1Sha256;   // the same with SHA-256 (RFC 7616)
  bool registers = false;  // `register = true`: must REGISTER; calls to `username` reach it
  int maxContacts = 1;     // bindings at once (register = true)
  // Overrides sip.challenge for this gateway; unset = the node's setting.
  bool hasChallenge = false;
  ChallengeMode challenge = ChallengeMode::Proxy407;
  // Overrides auth.digest_algorithms for this gateway (empty = the node's):
  // e.g. only MD5 for old phones that give up on a SHA-256 challenge.
  std::vector<auth::Algorithm> digestAlgorithms;

  // --- auth = "tls_cert" (identified by a verified client certificate) ---
  // Names the certificate must carry (subjectAltName DNS, else subject CN).
  std::vector<std::string> tlsNames;
};

struct RoutingGateway {
  std::string name;
  std::string address;                // "host:port" or "[v6]:port"; host is an IP for now
  std::string transport = "udp";      // udp | tcp
  std::vector<std::string> prefixes;  // callee prefixes; "" = default route
  int priority = 0;                   // lower value is tried first among equal prefix lengths
  int stripDigits = 0;                // digits removed from the callee's front
  std::string addPrefix;              // prepended after stripping
  bool enabled = true;

  // Credentials we answer this carrier's 401/407 with (outbound digest).
  // Kept in clear: we must compute responses for whatever realm and nonce
  // the carrier sends (protect the store file accordingly).
  std::string authUsername;
  std::string authPassword;
  bool registers = false;      // `register = true`: we REGISTER to this carrier
  int registerExpires = 3600;  // seconds asked for in that REGISTER
};

struct Provisioning {
  std::vector<MappingGateway> mappingGateways;
  std::vector<RoutingGateway> routingGateways;
};

// A problem with one gateway entry: which gateway, which key, what is wrong.
struct ProvisioningError {
  std::string gateway;  // name (or "#N" when it has no name)
  std::string key;      // e.g. "addresses"
  std::string message;
  size_t index = 0;     // position in its list, to find the source line
  bool mapping = true;  // mapping_gateway vs routing_gateway
};

// Checks names (unique, [A-Za-z0-9._-]), addresses (parse per auth mode),
// that no two mapping gateways claim the same source with the same
// specificity (ambiguity is an error; most-specific-wins otherwise), and the
// password/tls_cert keys: usernames unique and well-formed, a password (or,
// read back from the store, both HA1s), keys only where their mode uses them.
std::vector<ProvisioningError> validateProvisioning(const Provisioning& p);

}  // namespace tollgate::admission
