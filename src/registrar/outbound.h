// Outbound registrations: tollgate REGISTERs to carriers (routing gateways
// with register = true) as their auth_username, answers their 401/407 with
// digest credentials (auth/digest_client.h: the first challenge, then only
// a stale one), and refreshes before the granted expiry. A failed or
// unanswered registration is retried after kRetryMin, doubling up to
// kRetryMax. A carrier removed from provisioning gets a best-effort
// REGISTER with Expires: 0.
//
// Confined to its worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "auth/digest_client.h"
#include "common/event_loop.h"
#include "common/random.h"
#include "txn/transaction_layer.h"

namespace tollgate::registrar {

inline constexpr std::chrono::seconds kRetryMin{30};
inline constexpr std::chrono::seconds kRetryMax{300};

struct CarrierRegistration {
  std::string name;  // routing gateway
  transport::Protocol protocol = transport::Protocol::Udp;
  net::SockAddr address;
  std::string username;
  std::string password;
  std::chrono::seconds expires{3600};

  bool operator==(const CarrierRegistration& o) const {
    return name == o.name && protocol == o.protocol && address == o.address &&
           username == o.username && password == o.password && expires == o.expires;
  }
};

struct OutboundState {
  std::string name;
  bool registered = false;
  int64_t expiresUs = 0;  // wall clock of the granted expiry, when registered
  uint32_t failures = 0;  // consecutive
};

struct OutboundStats {
  uint64_t sent = 0;
  uint64_t registered = 0;
  uint64_t challenged = 0;
  uint64_t failed = 0;
};

class OutboundRegistrations {
 public:
  OutboundRegistrations(EventLoop& loop, txn::TransactionLayer& txns, const Clock& clock,
                        Random& random, auth::DigestClient& digest, std::string userAgent,
                        std::function<std::string(transport::ListenerId)> localHostPort);
  ~OutboundRegistrations();
  OutboundRegistrations(const OutboundRegistrations&) = delete;
  OutboundRegistrations& operator=(const OutboundRegistrations&) = delete;

  // The registrations wanted now (from provisioning): new ones start,
  // changed ones restart, missing ones are unregistered.
  void configure(std::vector<CarrierRegistration> wanted);

  std::vector<OutboundState> states() const;
  const OutboundStats& stats() const { return stats_; }

 private:
  class Reg;
  std::unique_ptr<Reg> takeLeaving(Reg* r);
  void dispose(std::unique_ptr<Reg> r);

  EventLoop& loop_;
  txn::TransactionLayer& txns_;
  const Clock& clock_;
  Random& random_;
  std::string userAgent_;
  std::function<std::string(transport::ListenerId)> localHostPort_;
  auth::DigestClient& digest_;
  std::map<std::string, std::unique_ptr<Reg>> regs_;  // by gateway name
  std::vector<std::unique_ptr<Reg>> leaving_;         // un-REGISTERing, then gone
  std::vector<std::unique_ptr<Reg>> dead_;            // freed after the current event
  OutboundStats stats_;
};

}  // namespace tollgate::registrar
