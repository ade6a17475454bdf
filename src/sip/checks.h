// Stateless request checks a UAS/B2BUA applies after parsing and before any
// transaction or call state is created (RFC 3261 §8.2.1-§8.2.3, §16.3 and
// RFC 4475 §3.3): unsupported URI scheme (416), unsupported extensions in
// Require/Proxy-Require (420 with Unsupported), Max-Forwards exhausted (483),
// unknown method (501 with Allow) or known method not offered (405 with
// Allow), a Via branch that is only the magic cookie (400, RFC 4475 §3.2.1),
// body type not understood (415 with Accept), and Accept excluding the only
// body type we answer with (406). Pure function, no state: thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sip/message.h"

namespace tollgate::sip {

struct CheckPolicy {
  // Option tags we support in Require/Proxy-Require.
  std::vector<std::string_view> supported = {"timer", "100rel", "replaces"};
  // Methods we offer; also the Allow value. Unknown methods get 501, known
  // ones missing here (REGISTER, SUBSCRIBE, MESSAGE...) get 405.
  std::string_view allow = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, PRACK";
  // Body types we accept in INVITE/UPDATE/re-INVITE; also the Accept value.
  std::vector<std::string_view> acceptedBodies = {"application/sdp", "multipart/mixed"};
  // True when the request will be forwarded (Max-Forwards 0 -> 483);
  // false for requests we answer ourselves (OPTIONS to the switch).
  bool forwarding = true;
};

// For an ACK a failure means "drop": an ACK is never answered (RFC 3261
// §17.1.1.3). Order of the checks: 501/405, 416, 400 (branch that is only
// the magic cookie), 483, 420, 415, 406 (docs/sip-parser.md).
struct CheckFailure {
  int status = 0;  // 0 = request passes
  std::string_view reason;
  // Extra fields for the response: Unsupported / Allow / Accept.
  std::vector<std::pair<std::string, std::string>> headers;
  const char* detail = "";
};

CheckFailure checkRequest(const Message& request, const CheckPolicy& policy);

}  // namespace tollgate::sip
