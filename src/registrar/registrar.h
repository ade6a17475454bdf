// The registrar (RFC 3261 §10.3) of dynamic mapping gateways: phones and
// PBXs that authenticated with digest (the switch did that) and REGISTER a
// contact. It keeps the bindings of each account, applies the expiry
// bounds (423 + Min-Expires below the minimum, clamping above the maximum),
// the replace/kick rule (SS_ENDPOINT_REGISTER_REPLACE) and max_contacts,
// remembers the observed source of each REGISTER for NAT (RFC 3581: calls
// go to where the REGISTER came from, on the same TCP/TLS connection), and
// probes every contact with OPTIONS (SS_ENDPOINTTIMETOLIVE): a contact that
// stops answering is offline at once, online again when it answers.
//
// Bindings are handed to a BindingListener on every change (the node
// persists them) and restored from the store at start-up.
//
// Confined to its worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admission/source_matcher.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/random.h"
#include "registrar/binding.h"
#include "registrar/stats.h"
#include "sip/message.h"
#include "txn/transaction_layer.h"

namespace tollgate::registrar {

// Contacts in one REGISTER we look at; more is abuse (an account holds at
// most admission::kMaxContactsLimit anyway).
inline constexpr size_t kMaxContactsPerRegister = 32;
// Bindings on one node, whatever the provisioning says: a backstop on memory.
inline constexpr size_t kMaxBindings = 1'000'000;
// Code and phrase of a REGISTER refused because replace is off and the
// account's contacts are all taken.
inline constexpr int kReplaceRefusedCode = 403;

struct RegistrarSettings {
  bool replace = true;
  std::chrono::seconds defaultExpires{3600};
  std::chrono::seconds minExpires{60};
  std::chrono::seconds maxExpires{7200};
  std::chrono::seconds keepaliveInterval{60};  // 0 = no probing
  std::string userAgent;                       // Server / User-Agent; "" = none
};

class BindingListener {
 public:
  virtual ~BindingListener() = default;
  virtual void bindingSaved(const Binding& b) = 0;  // new, refreshed, or online state changed
  virtual void bindingRemoved(const Binding& b) = 0;
};

class Registrar {
 public:
  // localHostPort(listener) is our "host:port" on that listener (Via, From).
  Registrar(EventLoop& loop, txn::TransactionLayer& txns, const Clock& clock, Random& random,
            RegistrarSettings settings,
            std::function<std::string(transport::ListenerId)> localHostPort);
  ~Registrar();
  Registrar(const Registrar&) = delete;
  Registrar& operator=(const Registrar&) = delete;

  void setListener(BindingListener* l) { listener_ = l; }

  // A REGISTER that authenticated as `account` (a password gateway with
  // register = true), on server transaction `id`: updates the bindings and
  // answers (200 with every binding, 423, 403, 400).
  void onRegister(txn::TxnId id, const sip::Message& request, const transport::Flow& from,
                  const admission::GatewayInfo& account);

  // The account's online bindings, most recently registered first.
  std::vector<const Binding*> reachable(std::string_view username) const;
  bool hasBindings(std::string_view username) const;
  std::vector<Binding> bindings() const;

  // Start-up: bindings read from the store (expired ones are dropped).
  // listenerFor maps a stored local address to the listener now bound there.
  void restore(std::vector<Binding> stored,
               const std::function<transport::ListenerId(transport::Protocol,
                                                         const net::SockAddr&)>& listenerFor);
  // Provisioning changed: drop the bindings of accounts that no longer
  // exist or no longer register (lookup returns null for those).
  void retainAccounts(
      const std::function<const admission::GatewayInfo*(std::string_view username)>& lookup);
  // An operator removes the account's bindings (all of them, or the one
  // whose Contact is `contact`): the phone must REGISTER again before calls
  // reach it. Returns how many went (the store hears of each).
  size_t unregister(std::string_view username, std::string_view contact = {});
  // The connection a TCP/TLS binding uses went away: it cannot be reached.
  void onConnectionClosed(transport::ConnectionId id);

  const RegistrarSettings& settings() const { return settings_; }
  RegistrarStats stats() const;

 private:
  class Entry;
  struct Account {
    std::vector<std::unique_ptr<Entry>> entries;
  };

  void respond(txn::TxnId id, const std::string& username, int status, std::string_view reason,
               std::vector<sip::ExtraHeader> extra = {});
  void remove(Account& acct, const std::string& username, size_t index, bool notify);
  void startProbing(Entry& e);
  void setOnline(Entry& e, bool online);
  void setConnection(Entry& e, transport::ConnectionId id);
  void expire(const std::string& username, Entry* e);

  EventLoop& loop_;
  txn::TransactionLayer& txns_;
  const Clock& clock_;
  Random& random_;
  RegistrarSettings settings_;
  std::function<std::string(transport::ListenerId)> localHostPort_;
  BindingListener* listener_ = nullptr;
  std::unordered_map<std::string, Account> accounts_;
  std::unordered_multimap<transport::ConnectionId, Entry*> byConnection_;  // TCP/TLS bindings
  size_t count_ = 0;
  RegistrarStats stats_;
};

}  // namespace tollgate::registrar
