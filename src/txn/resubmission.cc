// A request sent again as a new transaction. See resubmission.h.
#include "txn/resubmission.h"

#include "sip/serialize.h"

namespace tollgate::txn {

std::string withBranch(std::string_view via, std::string_view branch) {
  constexpr std::string_view kParam = ";branch=";
  const size_t b = via.find(kParam);
  if (b == std::string_view::npos) return std::string(via);
  const size_t end = via.find(';', b + 1);
  std::string out(via.substr(0, b));
  out += kParam;
  out += branch;
  if (end != std::string_view::npos) out += via.substr(end);
  return out;
}

OutgoingRequest resubmission(const OutgoingRequest& sent, std::string branch, uint32_t cseq,
                             std::string_view header, std::string_view value) {
  OutgoingRequest out;
  out.method = sent.method;
  out.requestUri = sent.requestUri;
  out.via = withBranch(sent.via, branch);
  out.branch = std::move(branch);
  out.from = sent.from;
  out.to = sent.to;
  out.callId = sent.callId;
  out.cseq = cseq;
  out.routes = sent.routes;
  auto parsed = sip::Message::parse(std::string(sent.bytes));
  if (!parsed.ok()) return out;
  const sip::Message& m = *parsed.value();
  sip::Edits e;
  const auto& headers = m.headers();
  for (size_t i = 0; i < headers.size(); ++i) {
    const sip::HeaderId id = headers[i].id;
    if (id == sip::HeaderId::Via || id == sip::HeaderId::CSeq ||
        id == sip::HeaderId::Authorization || id == sip::HeaderId::ProxyAuthorization) {
      e.removeHeader(i);
    }
  }
  e.prepend("Via", out.via);
  e.prepend("CSeq", std::to_string(cseq) + " " + std::string(m.methodName()));
  e.prepend(std::string(header), std::string(value));
  out.bytes = sip::serialize(m, e);
  return out;
}

}  // namespace tollgate::txn
