// PeerToken: the X-Tollgate-Peer value that authenticates an INVITE one
// node of a cluster sends another (registrar/peer_bindings.h):
//
//   X-Tollgate-Peer: <node id>;<wall ms>;<mac>
//
// where mac is hex(HMAC-SHA-256(key, node \n ms \n Call-ID \n From tag \n
// username)) truncated to 128 bits, with the cluster's peer key (32 random
// bytes every node reads from Redis, docs/cluster.md). The MAC binds the
// header to its dialog and account: it cannot be moved to another call,
// and it is good for kPeerTokenWindow either side of the receiver's clock
// (the nodes' clocks must agree within that: NTP). The node id and the
// source address are matched by the caller (Cluster::isPeer, node()).
//
// Externally synchronized (one per worker).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "registrar/peer_bindings.h"

typedef struct evp_mac_ctx_st EVP_MAC_CTX;

namespace tollgate::cluster {

// How far a peer header's time may be from ours: the clock skew of
// NTP-synchronized nodes plus the transit. Retransmissions of the INVITE
// carry the same header but the transaction layer absorbs them before any
// check, so the window need not cover Timer B.
inline constexpr Millis kPeerTokenWindow{30'000};
// Bytes of the cluster's peer key.
inline constexpr size_t kPeerKeyBytes = 32;
// A node id in a header longer than this is malformed (ids are host names).
inline constexpr size_t kMaxPeerNodeId = 128;

struct PeerTokenFields {
  std::string_view node;
  int64_t wallMs = 0;
  std::string_view mac;  // hex
};

class PeerToken {
 public:
  PeerToken();
  ~PeerToken();
  PeerToken(const PeerToken&) = delete;
  PeerToken& operator=(const PeerToken&) = delete;

  // The key as stored in Redis (kPeerKeyBytes raw bytes); false (and no
  // key) for any other length.
  bool setKey(std::string_view key);
  bool hasKey() const { return hasKey_; }

  std::string sign(std::string_view node, int64_t wallMs, std::string_view callId,
                   std::string_view fromTag, std::string_view username);

  // Splits a header value; false when it is not "<node>;<ms>;<32 hex>".
  static bool parse(std::string_view value, PeerTokenFields* out);

  // Authentic, Malformed, Stale, BadMac or NoKey (the caller checks the
  // node against the source and replays).
  registrar::PeerVerdict check(std::string_view value, int64_t nowWallMs, std::string_view callId,
                               std::string_view fromTag, std::string_view username,
                               PeerTokenFields* fields);

 private:
  std::string mac(std::string_view node, int64_t wallMs, std::string_view callId,
                  std::string_view fromTag, std::string_view username);

  EVP_MAC_CTX* ctx_ = nullptr;
  bool hasKey_ = false;
};

}  // namespace tollgate::cluster
