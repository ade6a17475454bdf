// PeerBindings: the registrations other nodes of a cluster hold
// (docs/cluster.md, "Registrations"), as the call layer sees them. A call
// entering this node for an account with no reachable binding here asks
// owners() for the live nodes that hold one, and sends the INVITE to such a
// node (always through it: it has the NAT mapping or the TCP/TLS
// connection) with an X-Tollgate-Peer header from sign(). The node that
// receives it checks the header with verify() before skipping the customer
// checks (the sending node made them) and delivering the call to its own
// bindings. The cluster implements it (cluster/shared_registrations.h);
// a single node has none (null in CallServices).
//
// Confined to its worker.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"

namespace tollgate::registrar {

// The header that marks (and authenticates) a request from a peer node.
// Never forwarded: a request carrying it from anywhere else is refused.
inline constexpr std::string_view kPeerHeader = "X-Tollgate-Peer";

// A live node holding an online binding of the account.
struct PeerOwner {
  std::string node;
  net::SockAddr address;  // its SIP address for peer traffic (UDP)
};

// The verdict on a request carrying kPeerHeader; each refusal is counted by
// its name (peerVerdictName) and answered 403.
enum class PeerVerdict : uint8_t {
  Authentic,
  NotPeer,    // the source is not the SIP address of the live node named
  Malformed,  // not "<node>;<ms>;<mac>"
  Stale,      // its time is more than kPeerTokenWindow away from ours
  BadMac,     // the MAC does not match (forged, or the fields were changed)
  Replayed,   // this exact header was already accepted
  NoKey,      // the cluster's peer key is not known yet (Redis never reached)
};
inline constexpr size_t kPeerVerdictCount = 7;

constexpr std::string_view peerVerdictName(PeerVerdict v) {
  switch (v) {
    case PeerVerdict::Authentic:
      return "authentic";
    case PeerVerdict::NotPeer:
      return "not_peer";
    case PeerVerdict::Malformed:
      return "malformed";
    case PeerVerdict::Stale:
      return "stale";
    case PeerVerdict::BadMac:
      return "bad_mac";
    case PeerVerdict::Replayed:
      return "replayed";
    case PeerVerdict::NoKey:
      return "no_key";
  }
  return "unknown";
}

class PeerBindings {
 public:
  virtual ~PeerBindings() = default;

  // The other live nodes with an online, unexpired binding of `username`,
  // the most recently registered first, one entry per node. `done` runs
  // later on the worker, never inside this call; with Redis down (or no
  // such node) it gets an empty list.
  virtual void owners(std::string username, std::function<void(std::vector<PeerOwner>)> done) = 0;

  // The kPeerHeader value of an INVITE this node sends to a peer: binds
  // this node, the time, the INVITE's Call-ID and From tag and the account
  // called. "" when the cluster's key is not known yet.
  virtual std::string sign(std::string_view callId, std::string_view fromTag,
                           std::string_view username) = 0;

  // Judges an INVITE from `from` carrying kPeerHeader `value`; on
  // Authentic `*node` is the sending node's id.
  virtual PeerVerdict verify(const net::SockAddr& from, std::string_view value,
                             std::string_view callId, std::string_view fromTag,
                             std::string_view username, std::string* node) = 0;
};

}  // namespace tollgate::registrar
