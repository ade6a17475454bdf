// Connection limits and deadlines of the management API's intake
// (api_intake.h), as [api] settings (docs/configuration.md). A plain value
// type (externally synchronized): the config reader fills it, the API server
// takes it.
#pragma once

#include <cstddef>

namespace tollgate::mgmt {

struct ApiConnectionLimits {
  // Open connections of the whole API (any stage). At the cap a new
  // connection evicts an unfinished one of the source holding the most.
  size_t maxConnections = 256;
  // Open connections of one source (an IPv4 address, an IPv6 /64).
  size_t maxConnectionsPerSource = 32;
  // A request head must be complete this long after the connection is
  // accepted (after its TLS handshake) or after its first byte (a
  // keep-alive connection's next request): the whole head, not per read.
  int requestHeadTimeoutMs = 5000;
  // A TLS handshake must be complete this long after accept.
  int tlsHandshakeTimeoutMs = 5000;
};

}  // namespace tollgate::mgmt
