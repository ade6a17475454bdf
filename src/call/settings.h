// The call layer's settings (sip., routing. and cdr. keys, docs/
// configuration.md): how the request router answers strangers, how calls
// are routed and timed, which refused attempts get CDRs. The settings of the
// peers it works with live with them: auth::AuthSettings,
// registrar::RegistrarSettings, admission::PolicySettings,
// CarrierMonitorSettings. A value, externally synchronized: read-only once
// the layer is built.
#pragma once

#include <cstdint>
#include <string>

#include "admission/number_form.h"
#include "admission/provisioning.h"
#include "common/clock.h"

namespace tollgate::call {

enum class UnknownSourcePolicy : uint8_t { Drop, Reject403 };

struct CallSettings {
  UnknownSourcePolicy unknownSource = UnknownSourcePolicy::Drop;
  std::string userAgent = "tollgate";  // Server / User-Agent we send; "" = none
  // host[:port] for Via/Contact/From instead of the listener address.
  std::string advertisedAddress;
  Millis ringTimeout{120'000};      // answer must come this long after the first provisional
  Millis setupTimeout{5'000};       // no response at all from a carrier -> next gateway
  int switchLimit = 3;              // gateways tried per call
  bool stopAfterBusy = true;        // 486/600 stop failover
  bool switchUntilConnect = false;  // failover goes on after a carrier rang
  int noRouteCode = 404;
  bool illegalCallCdrs = true;  // CDRs for unknown-source INVITEs
  double illegalCdrRate = 20;   // per second
  double illegalCdrBurst = 100;
  // The challenge of password gateways (realm = sip.domain, auth::AuthSettings).
  admission::ChallengeMode challenge = admission::ChallengeMode::Proxy407;
  // sip.tcp_close and [numbers] belong to the transport and to admission;
  // the config reader hands the call layer the same values (app/config.cc).
  bool tcpCloseReset = false;         // unwanted TCP/TLS peers: RST instead of FIN
  admission::NumberSettings numbers;  // the canonical form of numbers
};

}  // namespace tollgate::call
