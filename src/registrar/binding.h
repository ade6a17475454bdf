// One registration binding (RFC 3261 §10): an account (a password mapping
// gateway with register = true) reachable at a contact, through the flow
// its REGISTER arrived on. Requests to the account go to the observed
// source (RFC 3581 received/rport), not to the Contact's host, so phones
// behind NAT are reachable; for TCP/TLS the connection the REGISTER came on
// is reused. The store persists bindings so they survive a restart. Plain value: externally
// synchronized.
#pragma once

#include <cstdint>
#include <string>

#include "common/net.h"
#include "transport/transport.h"

namespace tollgate::registrar {

struct Binding {
  std::string username;  // the account (address-of-record user)
  std::string contact;   // Contact URI as registered: the Request-URI of calls to it
  std::string gateway;   // mapping gateway name
  transport::Protocol protocol = transport::Protocol::Udp;
  net::SockAddr source;  // observed source of the REGISTER (NAT)
  net::SockAddr local;   // our listener address it arrived on
  std::string callId;    // RFC 3261 §10.3 step 7: refreshes must keep Call-ID, raise CSeq
  uint32_t cseq = 0;
  std::string userAgent;
  int64_t registeredUs = 0;  // wall clock, µs since the Unix epoch
  int64_t expiresUs = 0;
  bool online = true;   // answers liveness probes (SS_ENDPOINTTIMETOLIVE)
  int64_t stateUs = 0;  // when `online` last changed
  // The node that owns it (its store.node_id / cluster.node_id), stamped by
  // the node's store writer: nodes sharing a PostgreSQL store restore only
  // their own. "" = written before owners were recorded.
  std::string node;

  // Runtime only (not persisted): where to send.
  transport::ListenerId listener = transport::kNoListener;
  transport::ConnectionId connection = 0;

  transport::Flow flow() const { return transport::Flow{protocol, source, listener, connection}; }
};

}  // namespace tollgate::registrar
