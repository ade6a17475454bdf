// The cast of a basic call around a CallHarness. See call_scenario.h.
#include "test_support/call_scenario.h"

#include <set>

#include "auth/digest.h"

namespace tollgate::test_support {

std::string digestProblem(std::string_view msg, std::string_view header, std::string_view username,
                          std::string_view realm, std::string_view password,
                          std::string_view nonce) {
  const std::string value = headerValue(msg, header);
  auth::Credentials c;
  if (!auth::parseCredentials(value, c).ok()) return "no credentials: " + value;
  const std::string_view startLine = msg.substr(0, msg.find("\r\n"));
  const std::string_view method = startLine.substr(0, startLine.find(' '));
  const size_t uriStart = method.size() + 1;
  const std::string_view uri = startLine.substr(uriStart, startLine.rfind(' ') - uriStart);
  if (c.username != username || c.realm != realm || c.nonce != nonce || c.uri != uri) {
    return "wrong fields: " + value;
  }
  // RFC 7616 §3.4: no algorithm parameter means MD5.
  const auto alg =
      c.algorithm.empty() ? auth::Algorithm::Md5 : auth::algorithmFromName(c.algorithm);
  if (!alg) return "unknown algorithm: " + value;
  auth::DigestHasher hasher;
  const std::string ha1 = hasher.ha1(*alg, username, realm, password);
  auth::HexDigest expected;
  const size_t n =
      hasher.response(*alg, ha1, c.nonce, c.nc, c.cnonce, c.qop, method, c.uri, expected);
  if (!auth::hexEquals(std::string_view(expected.data(), n), c.response)) {
    return "wrong response: " + value;
  }
  return "";
}

CallScenario::CallScenario() {
  h.addPeer(customer);
  for (LoopbackPeer& c : carriers_) h.addPeer(c);
}

admission::Provisioning CallScenario::provisioning(size_t carriers) const {
  admission::Provisioning p;
  admission::MappingGateway m;
  m.name = "cust";
  m.addresses = {customer.hostPort()};
  m.auth = admission::AuthMode::IpPort;
  p.mappingGateways.push_back(m);
  for (size_t i = 0; i < carriers && i < kCarriers; ++i) {
    admission::RoutingGateway r;
    r.name = "carrier" + std::to_string(i + 1);
    r.address = carriers_[i].hostPort();
    r.prefixes = {""};
    r.priority = static_cast<int>(i);
    p.routingGateways.push_back(r);
  }
  return p;
}

CallLayerSettings CallScenario::settings() {
  CallLayerSettings s;
  s.call.userAgent = "";
  return s;
}

void CallScenario::start(size_t carriers, CallLayerSettings s) {
  start(provisioning(carriers), std::move(s));
}

void CallScenario::start(const admission::Provisioning& p, CallLayerSettings s) {
  h.start(p, std::move(s));
}

std::string CallScenario::branch(std::string_view who) const {
  return "z9hG4bK-" + std::string(who) + std::to_string(++nextBranch_);
}

std::string CallScenario::invite(int n, const std::string& extraHeaders,
                                 const std::string& body) const {
  const std::string c = std::to_string(n);
  const std::string me = customer.hostPort();
  return request(
      {.method = "INVITE",
       .uri = "sip:" + std::string(kCallee) + "@127.0.0.1:" + std::to_string(h.port),
       .via = me,
       .branch = "z9hG4bK-c" + c,
       .from = "<sip:" + std::string(kCaller) + "@" + me + ">;tag=f" + c,
       .to = "<sip:" + std::string(kCallee) + "@127.0.0.1>",
       .callId = "call-" + c,
       .cseq = 1,
       .extraHeaders = "Contact: <sip:" + std::string(kCaller) + "@" + me + ">\r\n" + extraHeaders,
       .body = body});
}

std::string CallScenario::sendInvite(int n, const std::string& extraHeaders,
                                     const std::string& body) {
  std::string inv = invite(n, extraHeaders, body);
  customer.sendTo(h.port, inv);
  h.settle();
  return inv;
}

std::vector<std::string> CallScenario::responses(const LoopbackPeer& peer, std::string_view callId,
                                                 int status) const {
  std::vector<std::string> out;
  std::set<std::string> seen;  // CSeq: one response per transaction
  for (const std::string& m : peer.received()) {
    if (statusOf(m) != status || headerValue(m, "Call-ID") != callId) continue;
    if (seen.insert(headerValue(m, "CSeq")).second) out.push_back(m);
  }
  return out;
}

std::vector<std::string> CallScenario::requests(const LoopbackPeer& peer,
                                                std::string_view method) const {
  std::vector<std::string> out;
  std::set<std::string> seen;  // branch: one request per transaction
  for (const std::string& m : peer.with(std::string(method) + " ")) {
    if (seen.insert(branchOf(m)).second) out.push_back(m);
  }
  return out;
}

void CallScenario::answer(LoopbackPeer& carrier, const std::string& req, int status,
                          std::string_view reason, const std::string& extraHeaders,
                          const std::string& body) {
  std::string extra = extraHeaders;
  if (status > 100 && status < 300) {
    extra = "Contact: <sip:carrier@" + carrier.hostPort() + ">\r\n" + extra;
  }
  carrier.sendTo(h.port, responseTo(req, status, reason, kCarrierTag, extra, body));
  h.settle();
}

CallScenario::Answered CallScenario::establish(int n, const std::string& extraHeaders,
                                               const std::string& body) {
  Answered c;
  c.aInvite = sendInvite(n, extraHeaders, body);
  std::vector<std::string> invites = requests(carrier(1), "INVITE");
  if (invites.empty()) return c;
  c.bInvite = invites.back();
  answer(carrier(1), c.bInvite, 200, "OK");
  std::vector<std::string> ok = responses(customer, "call-" + std::to_string(n), 200);
  if (ok.empty()) return c;
  c.a200 = ok.back();
  customer.sendTo(h.port, callerAck(c.aInvite, c.a200));
  h.settle();
  return c;
}

std::string CallScenario::callerAck(const std::string& inv, const std::string& ok, uint32_t cseq,
                                    const std::string& body) const {
  return request({.method = "ACK",
                  .uri = uriOf(headerValue(ok, "Contact")),
                  .via = customer.hostPort(),
                  .branch = branch("cack"),
                  .from = headerValue(inv, "From"),
                  .to = headerValue(ok, "To"),
                  .callId = headerValue(inv, "Call-ID"),
                  .cseq = cseq,
                  .extraHeaders = "",
                  .body = body});
}

std::string CallScenario::callerRequest(const Answered& c, std::string_view method, uint32_t cseq,
                                        const std::string& extraHeaders,
                                        const std::string& body) const {
  std::string extra = extraHeaders;
  if (method == "INVITE" || method == "UPDATE") {
    extra = "Contact: <sip:" + std::string(kCaller) + "@" + customer.hostPort() + ">\r\n" + extra;
  }
  return request({.method = std::string(method),
                  .uri = uriOf(headerValue(c.a200, "Contact")),
                  .via = customer.hostPort(),
                  .branch = branch("creq"),
                  .from = headerValue(c.aInvite, "From"),
                  .to = headerValue(c.a200, "To"),
                  .callId = headerValue(c.aInvite, "Call-ID"),
                  .cseq = cseq,
                  .extraHeaders = extra,
                  .body = body});
}

std::string CallScenario::carrierRequest(const Answered& c, std::string_view method, uint32_t cseq,
                                         const std::string& extraHeaders,
                                         const std::string& body) const {
  const LoopbackPeer& from = carriers_[0];
  std::string extra = extraHeaders;
  if (method == "INVITE" || method == "UPDATE") {
    extra = "Contact: <sip:carrier@" + from.hostPort() + ">\r\n" + extra;
  }
  return request({.method = std::string(method),
                  .uri = uriOf(headerValue(c.bInvite, "Contact")),
                  .via = from.hostPort(),
                  .branch = branch("breq"),
                  .from = headerValue(c.bInvite, "To") + ";tag=" + std::string(kCarrierTag),
                  .to = headerValue(c.bInvite, "From"),
                  .callId = headerValue(c.bInvite, "Call-ID"),
                  .cseq = cseq,
                  .extraHeaders = extra,
                  .body = body});
}

}  // namespace tollgate::test_support
