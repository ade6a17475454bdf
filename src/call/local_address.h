// How we name ourselves on the wire: our "host:port" on a listener (Via,
// From, SDP origin) and our Contact on a flow, from the listener's address
// or sip.advertised_address (host, host:port, [v6] or [v6]:port; a port
// missing there is the listener's). The registrar, the outbound
// registrations and the carrier monitor get hostPort() as a function. Reads
// the transport's listener table: confined to its worker.
#pragma once

#include <string>
#include <string_view>

#include "transport/transport.h"

namespace tollgate::call {

class LocalAddress {
 public:
  LocalAddress(transport::Transport& transport, std::string advertised)
      : transport_(transport), advertised_(std::move(advertised)) {}

  std::string hostPort(transport::ListenerId listener) const;
  // "<sip:host:port;transport=tcp>" for the flow's listener and protocol.
  std::string contact(const transport::Flow& flow) const;

 private:
  transport::Transport& transport_;
  std::string advertised_;
};

// ";transport=tcp" / ";transport=tls"; "" for UDP (the default, RFC 3261 §19.1.1).
std::string_view transportParam(transport::Protocol p);

}  // namespace tollgate::call
