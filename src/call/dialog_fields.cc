// Remote target and route set of a message. See dialog_fields.h.
#include "call/dialog_fields.h"

#include <algorithm>

namespace tollgate::call {

std::string firstContactUri(const sip::Message& m) {
  const sip::Header* h = m.header(sip::HeaderId::Contact);
  if (!h) return {};
  auto list = sip::parseNameAddrList(h->value);
  if (!list.ok() || list->empty() || list->front().text == "*") return {};
  return std::string(list->front().uri.text);
}

std::vector<std::string> recordRoutes(const sip::Message& m, bool reverse) {
  std::vector<std::string> out;
  for (const sip::Header& h : m.headers()) {
    if (h.id != sip::HeaderId::RecordRoute) continue;
    auto list = sip::parseNameAddrList(h.value);
    if (!list.ok()) continue;
    for (const sip::NameAddr& na : *list) out.emplace_back(na.text);
  }
  if (reverse) std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace tollgate::call
