// Our host:port and Contact. See local_address.h.
#include "call/local_address.h"

#include <algorithm>

namespace tollgate::call {

std::string_view transportParam(transport::Protocol p) {
  switch (p) {
    case transport::Protocol::Tcp:
      return ";transport=tcp";
    case transport::Protocol::Tls:
      return ";transport=tls";
    default:
      return "";
  }
}

std::string LocalAddress::hostPort(transport::ListenerId listener) const {
  const transport::Listener* l = transport_.listener(listener);
  uint16_t port = l ? l->address.port() : 5060;
  if (!advertised_.empty()) {
    // "host", "host:port", "[v6]" or "[v6]:port"
    const std::string& a = advertised_;
    bool hasPort = a.front() == '[' ? a.find("]:") != std::string::npos
                                    : std::count(a.begin(), a.end(), ':') == 1;
    return hasPort ? a : a + ":" + std::to_string(port);
  }
  return l ? l->address.toString() : "127.0.0.1:5060";
}

std::string LocalAddress::contact(const transport::Flow& flow) const {
  std::string c = "<sip:" + hostPort(flow.local);
  c += transportParam(flow.protocol);
  c += '>';
  return c;
}

}  // namespace tollgate::call
