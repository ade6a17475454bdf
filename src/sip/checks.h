// Stateless request checks a UAS/B2BUA applies after parsing and before any
// transaction or call state is created (RFC 3261 §8.2.1-§8.2.3, §16.3 and
// RFC 4475 §3.3): unsupported URI scheme (416), unsupported extensions in
// Require/Proxy-Require (420 with Unsupported), Max-Forwards exhausted (483),
// unknown method (501 with Allow), body type not understood (415 with
// Accept), and Accept excluding the only body type we answer with (406).
// Pure function; no state.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sip/message.h"

namespace tollgate::sip {

struct CheckPolicy {
  // Option tags we support in Require/Proxy-Require.
  std::vector<std::string_view> supported = {"timer", "100rel", "replaces"};
  // Methods we implement (answer 501 to others); also the Allow value.
  std::string_view allow = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, PRACK";
  // Body types we accept in INVITE/UPDATE/re-INVITE; also the Accept value.
  std::vector<std::string_view> acceptedBodies = {"application/sdp", "multipart/mixed"};
  // True when the request will be forwarded (Max-Forwards 0 -> 483);
  // false for requests we answer ourselves (OPTIONS to the switch).
  bool forwarding = true;
};

struct CheckFailure {
  int status = 0;  // 0 = request passes
  std::string_view reason;
  // Extra fields for the response: Unsupported / Allow / Accept.
  std::vector<std::pair<std::string, std::string>> headers;
  const char* detail = "";
};

CheckFailure checkRequest(const Message& request, const CheckPolicy& policy);

}  // namespace tollgate::sip
