// Digest nonces that are unpredictable, expire, are bound to the client's
// address, and cannot be replayed (RFC 7616 §3.3 and §5.4-5.5, RFC 3261
// §22.4).
//
// A nonce is base64url(seq | issued | mac): a 64-bit sequence number, the
// issue time (ms on the monotonic clock), and HMAC-SHA-256 over both plus
// the client's IP address, keyed with 32 random bytes drawn at start-up (so
// nonces of an earlier process are simply invalid: clients get a fresh
// challenge). Checking a nonce needs no table: the MAC says we issued it to
// this address, the time says whether it is stale.
//
// Replay: each issued sequence number owns one slot of a fixed ring
// (kNonceReplaySlots). The slot remembers the highest nonce count (nc)
// accepted with qop=auth, or whether a qop-less nonce (RFC 2069 form, which
// has no nc) has been used: those are single-use. A nonce whose slot has
// been taken by a newer one can no longer be checked for replay and is
// treated as stale, so memory is bounded whatever the challenge rate.
//
// Confined to its worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/net.h"
#include "common/random.h"

typedef struct evp_mac_ctx_st EVP_MAC_CTX;

namespace tollgate::auth {

// Slots of the replay ring (16 bytes each: 2 MiB). At the default 300 s
// lifetime this tracks every nonce while fewer than ~430 challenges per
// second are issued; beyond that the oldest outstanding nonces turn stale
// early (the client gets a new one with stale=true, no password prompt).
inline constexpr size_t kNonceReplaySlots = size_t{1} << 17;

class NonceManager {
 public:
  NonceManager(Random& random, Millis lifetime, size_t replaySlots = kNonceReplaySlots);
  ~NonceManager();
  NonceManager(const NonceManager&) = delete;
  NonceManager& operator=(const NonceManager&) = delete;

  // A new nonce for a challenge sent to `client`.
  std::string issue(const net::IpAddress& client, MonoTime now);

  enum class Status : uint8_t {
    Valid,    // ours, for this client, not expired
    Stale,    // ours and for this client, but expired (RFC 7616 stale=true)
    Invalid,  // not ours (forged, from an earlier process) or issued to another address
  };
  struct Check {
    Status status = Status::Invalid;
    uint64_t seq = 0;
  };
  Check check(std::string_view nonce, const net::IpAddress& client, MonoTime now);

  // Records a use of nonce `seq` whose response verified. qop: `nc` must be
  // greater than every nc accepted before for this nonce; no qop: the nonce
  // must not have been used. False = a replay (or a nonce too old to track).
  bool commit(uint64_t seq, uint32_t nc, bool qop);

  Millis lifetime() const { return lifetime_; }

 private:
  struct Slot {
    uint64_t seq = 0;  // 0 = empty (sequence numbers start at 1)
    uint32_t lastNc = 0;
    bool used = false;
  };
  void mac(uint64_t seq, uint64_t issuedMs, const net::IpAddress& client, uint8_t out[16]);
  uint64_t msSinceStart(MonoTime t) const;

  Millis lifetime_;
  MonoTime epoch_;
  bool epochSet_ = false;
  uint64_t nextSeq_;
  std::vector<Slot> slots_;
  EVP_MAC_CTX* mac_ = nullptr;
};

}  // namespace tollgate::auth
