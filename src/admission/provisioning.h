// The provisioning data model: mapping gateways (customers, calls come in)
// and routing gateways (carriers, calls go out), as imported from
// provisioning TOML and kept in the store. Plain data, validated by
// validateProvisioning(); the running core works on an immutable snapshot of
// it. Values: externally synchronized.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "auth/digest.h"
#include "common/net.h"

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
// Call policy of a mapping gateway, routing gateway or account (issue 5; see
// docs/configuration.md). 0 means "no limit" for every number here.
struct CallLimitsSpec {
  double cps = 0;         // calls per second (token bucket rate)
  int cpsBurst = 0;       // bucket depth; 0 = max(1, ceil(cps))
  int maxConcurrent = 0;  // channels: calls in progress at once
  bool operator==(const CallLimitsSpec&) const = default;
};

// Number lists (black/white list groups, see number_lists.h) checked against
// the caller and the callee of a call, by list name.
struct NumberListRefs {
  std::vector<std::string> caller;
  std::vector<std::string> callee;
  bool operator==(const NumberListRefs&) const = default;
};

struct GatewayPolicy {
  std::string account;     // mapping gateways only: the account it belongs to ("" = none)
  CallLimitsSpec limits;   // towards us (mapping) or towards the carrier (routing)
  int maxDuration = 0;     // mapping: seconds an answered call may last (SS_MAXCALLDURATION)
  int overloadWeight = 1;  // mapping: its part of the capacity under overload (docs/overload.md)
  NumberListRefs lists;    // mapping: the call is refused; routing: the carrier is skipped
  bool dynamicBlacklist = false;  // mapping: watched in blacklist.run_mode = "per_gateway"
  bool optionsCheck = true;  // routing: OPTIONS keep-alive when routing.options_check_period > 0
  // What of this peer's signalling crosses to the other leg
  // (sip/header_crossing.h): its identity headers (P-Asserted-Identity,
  // Remote-Party-ID, P-Charge-Info, Diversion ...) only when it is trusted
  // to assert identity, extension headers only by name.
  bool trustIdentity = false;
  std::vector<std::string> passHeaders;
  // mapping: the number sent as P-Asserted-Identity when the customer's own
  // identity headers do not cross ("" = none).
  std::string assertedIdentity;
  // Media anchoring (docs/media.md): "relay", "passthrough" or "" (the
  // node's media.mode); the codecs its calls may use ("" = any).
  std::string media;
  std::vector<std::string> codecs;
  bool operator==(const GatewayPolicy&) const = default;
};

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
  GatewayPolicy policy;
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
  GatewayPolicy policy;
};

// A customer owning several mapping gateways: its limits are shared by all of
// them (one token bucket, one channel count) on top of each gateway's own,
// its number lists apply to each, and fraud thresholds count per account.
struct Account {
  std::string name;
  CallLimitsSpec limits;
  int maxDuration = 0;
  NumberListRefs lists;
  bool dynamicBlacklist = false;
  bool operator==(const Account&) const = default;
};

// One fraud threshold level: above `warning` is logged and counted, above
// `critical` blocks the call. 0 = that level is not set.
struct ThresholdLevels {
  int warning = 0;
  int critical = 0;
  bool operator==(const ThresholdLevels&) const = default;
};

// Fraud thresholds for calls of one account (or of every account, each
// counted apart) to destination prefixes, optionally only at some times of
// day (fraud_thresholds.h).
struct FraudRule {
  std::string name;
  std::string account;                // "" = every account (a gateway without one counts alone)
  std::vector<std::string> prefixes;  // callee prefixes; "" = every number
  std::string window;                 // "HH:MM-HH:MM" local time; "" = all day
  ThresholdLevels callsPerMinute;
  ThresholdLevels concurrent;
  ThresholdLevels sequentialSameNumber;
  ThresholdLevels minutesPerDay;
  bool operator==(const FraudRule&) const = default;
};

struct Provisioning {
  std::vector<MappingGateway> mappingGateways;
  std::vector<RoutingGateway> routingGateways;
  std::vector<Account> accounts;
  std::vector<FraudRule> fraudRules;
};

// Kinds of number list (number_lists.h): a black list refuses the numbers it
// matches, a white list refuses every number it does not match, and the
// system white list exempts its numbers from the dynamic blacklist.
enum class ListKind : uint8_t { Black, White, SystemWhite };
std::string_view listKindName(ListKind k);  // "black", "white", "system_white"
bool parseListKind(std::string_view text, ListKind* out);

// A problem with one gateway entry: which gateway, which key, what is wrong.
struct ProvisioningError {
  enum class Entry : uint8_t { Mapping, Routing, Account, FraudRule };
  std::string gateway;  // name (or "#N" when it has no name)
  std::string key;      // e.g. "addresses"
  std::string message;
  size_t index = 0;     // position in its list, to find the source line
  bool mapping = true;  // mapping_gateway vs routing_gateway (kept for older callers)
  Entry entry = Entry::Mapping;
};

// Names that entries may refer to but that live outside the entries being
// checked: accounts already in the store (an import is an upsert by name)
// and the number lists (managed by `tollgate list`, not by provisioning).
struct KnownNames {
  std::vector<std::string> accounts;
  std::map<std::string, ListKind, std::less<>> numberLists;
};

// Checks names (unique, [A-Za-z0-9._-]), addresses (parse per auth mode),
// that no two mapping gateways claim the same source with the same
// specificity (ambiguity is an error; most-specific-wins otherwise), the
// password/tls_cert keys: usernames unique and well-formed, a password (or,
// read back from the store, both HA1s), keys only where their mode uses them;
// limits and fraud thresholds against their bounds. References (a gateway's
// account, a number list name) must name an entry of `p` or of `known`;
// with known == nullptr number list references are not checked (the lists
// are not at hand) and accounts must be in `p`.
std::vector<ProvisioningError> validateProvisioning(const Provisioning& p,
                                                    const KnownNames* known = nullptr);

// Upper bounds of call policy values (a slipped digit must be caught at
// import, and counters are sized by them).
inline constexpr double kMaxCps = 100'000;
inline constexpr int kMaxCpsBurst = 100'000;
inline constexpr int kMaxConcurrentCalls = 1'000'000;
inline constexpr int kMaxCallDurationS = 7 * 86'400;
inline constexpr size_t kMaxListRefs = 16;     // number lists per side of one entry
inline constexpr size_t kMaxPassHeaders = 64;  // pass_headers names per gateway
inline constexpr size_t kMaxAssertedIdentityDigits = 32;
inline constexpr int kMaxThreshold = 1'000'000;
inline constexpr size_t kMaxFraudPrefixes = 4096;
// Prefixes one entry of a provisioning file may list (a carrier's rate deck
// can hold thousands); a fraud rule is then held to kMaxFraudPrefixes.
inline constexpr size_t kMaxPrefixesPerEntry = 65'536;

// Every gateway address of a provisioning, as prefixes: the shield's trusted
// sources besides shield.trusted (enabled or not: the operator knows them).
// An ip_port gateway trusts its IP; a routing gateway its host; a password
// or tls_cert gateway its optional address restriction.
std::vector<net::Cidr> gatewayPrefixes(const Provisioning& p);
// The same prefixes, in the same order, each with the gateway it belongs to
// ("mapping gateway cust-a", "routing gateway carrier-1"): what `tollgate
// ban` and the ban API name when they refuse to ban a trusted source.
struct GatewayPrefix {
  net::Cidr prefix;
  std::string owner;
};
std::vector<GatewayPrefix> gatewayPrefixOwners(const Provisioning& p);

// Turns a gateway's clear password into its HA1 digests (MD5 and SHA-256)
// for `realm`, the node's sip.domain, and wipes the password: what the store
// keeps (`tollgate import`, the gateway and import API). Nothing happens
// without a password. A later change of sip.domain needs the password again
// (HA1 covers the realm).
void hashPassword(MappingGateway& g, std::string_view realm);

// "HH:MM-HH:MM" -> minutes of the day [start, end); end may be before start
// (the window spans midnight). false when malformed or start == end.
bool parseTimeWindow(std::string_view text, int* startMinute, int* endMinute);

}  // namespace tollgate::admission
