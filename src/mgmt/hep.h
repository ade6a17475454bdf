// HEP capture: a copy of every SIP message the node receives and sends, on
// the legs chosen, sent to a Homer collector (heplify-server, Homer 7,
// Kamailio's sipcapture) in HEPv3, the Homer Encapsulation Protocol, over
// UDP. Each packet carries the message as it was on the wire (digest
// responses masked unless hep.mask_credentials = false, as in the SIP
// trace), the addresses and ports it came from and went to, the transport
// (UDP, or TCP for TCP and TLS: HEP has no TLS code), the wall-clock time
// the worker handled it, the capture id and, as the correlation id, the
// caller leg's Call-ID: the caller leg's own Call-ID, and for the carrier
// leg the Call-ID of the caller leg it was opened for, so Homer shows both
// legs of a call together.
//
// Legs: "b" is the carrier leg of a call (the messages whose Call-ID is one
// the call layer created for an outbound INVITE, told through
// call::LegObserver); "a" is everything else: the caller leg, and every
// message that belongs to no carrier leg (REGISTER, OPTIONS both ways,
// requests refused before routing).
//
// Never blocks the worker: onPacket() encodes the packet and appends it to
// a queue bounded by hep.queue_size packets and kHepMaxQueuedBytes; a
// thread of its own sends it. What does not fit (the collector or the
// network is slower than the signalling) is dropped and counted, as are
// messages too large for one HEP packet and failed sends.
//
// Threading: onPacket() and onCarrierLeg() run on the worker (the
// transport's tap, the call layer's observer); start()/stop() on the thread
// that owns the node; stats() from any thread. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "admission/number_lists.h"
#include "call/services.h"
#include "common/bounded_table.h"
#include "common/clock.h"
#include "common/net.h"
#include "common/result.h"
#include "transport/transport.h"

namespace tollgate::mgmt {

// A HEPv3 packet's total length is 16 bits (HEP3 rev12 §2).
inline constexpr size_t kHepMaxPacket = 65535;
// Bytes of encoded packets waiting for the sender, whatever hep.queue_size
// says: 16 MiB is a second of heavy signalling (10,000 messages of 1.6 KB)
// and bounds memory when messages are large.
inline constexpr size_t kHepMaxQueuedBytes = 16u << 20;
// Carrier legs remembered (carrier Call-ID -> caller Call-ID), least
// recently seen evicted: well above the calls a node carries at once, so a
// live call's legs are never forgotten; an evicted finished call's late
// retransmission is filed under its own Call-ID, nothing worse.
inline constexpr size_t kHepMaxCarrierLegs = 65536;
// Longest Call-ID used for correlation; longer ones are cut (RFC 3261 sets
// no limit, and a correlation id only has to match).
inline constexpr size_t kHepMaxCallId = 256;
// Packets handed to the kernel per sendmmsg(2).
inline constexpr size_t kHepSendBatch = 64;
// Once woken by a first packet, the sender gathers for this long (or until
// kHepSendBatch are queued) before sending: one wake-up and one sendmmsg(2)
// per batch instead of per message, which costs the worker and the sender
// a futex and a context switch per SIP message otherwise. The packets keep
// the time the worker handled them; only their departure waits.
inline constexpr std::chrono::milliseconds kHepGatherWindow{5};

// [hep] (docs/configuration.md).
struct HepSettings {
  net::SockAddr collector;      // hep.address; not valid() = capture off
  uint32_t captureId = 1;       // hep.capture_id: the agent id Homer shows
  std::string password;         // hep.password: HEP's authentication key chunk; "" = none
  bool legA = true;             // hep.legs contains "a"
  bool legB = true;             // hep.legs contains "b"
  bool maskCredentials = true;  // hep.mask_credentials
  size_t queueSize = 8192;      // hep.queue_size: packets waiting for the sender
  bool enabled() const { return collector.valid(); }
};

// What one HEP packet says about its message.
struct HepMeta {
  int64_t timeUs = 0;  // Unix time, microseconds
  net::SockAddr source;
  net::SockAddr destination;
  bool tcp = false;  // IP protocol 6 (TCP, TLS) or 17 (UDP)
  uint32_t captureId = 0;
  std::string_view password;     // "" = no chunk
  std::string_view correlation;  // "" = no chunk
};

// One HEPv3 packet (HEP3 rev12: "HEP3", total length, then chunks of
// vendor 0: IP family, IP protocol, addresses, ports, seconds,
// microseconds, protocol type 1 = SIP, capture id, authentication key,
// correlation id, payload). nullopt when it would pass kHepMaxPacket or the
// source and destination families differ.
std::optional<std::string> encodeHep(const HepMeta& meta, std::string_view payload);

struct HepStats {
  uint64_t captured = 0;          // messages on a chosen leg, offered to the queue
  uint64_t sent = 0;              // packets the kernel took
  uint64_t droppedQueueFull = 0;  // the sender is behind: queue at its bound
  uint64_t droppedTooLarge = 0;   // message too large for one HEP packet
  uint64_t sendErrors = 0;        // send failed (no route, collector refused, ...)
  uint64_t queued = 0;            // packets waiting now
};

class HepCapture final : public transport::PacketTap, public call::LegObserver {
 public:
  // `localIp` stands in for a listener bound to a wildcard address (the
  // node's advertised address; unset = the wildcard is reported).
  HepCapture(HepSettings settings, const Clock& clock, net::IpAddress localIp = {});
  ~HepCapture() override;
  HepCapture(const HepCapture&) = delete;
  HepCapture& operator=(const HepCapture&) = delete;

  // Opens the UDP socket towards the collector and starts the sender.
  // Until then packets are queued (and dropped at the bound).
  Result<Ok, std::string> start();
  // Sends what is queued, then stops the sender. Idempotent.
  void stop();

  void onPacket(transport::TapDirection dir, const transport::Flow& flow,
                const net::SockAddr& local, std::string_view bytes) override;
  void onCarrierLeg(std::string_view callerCallId, std::string_view carrierCallId) override;

  HepStats stats() const;
  const HepSettings& settings() const { return settings_; }

 private:
  void run();
  void sendBatch(std::vector<std::string>& batch);

  const HepSettings settings_;
  const Clock& clock_;
  const net::IpAddress localIp_;
  // Worker only.
  BoundedTable<std::string, std::string, admission::StringHash> carrierLegs_;

  int fd_ = -1;
  std::thread sender_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> queue_;  // guarded by mu_
  size_t queuedBytes_ = 0;          // guarded by mu_
  bool stopping_ = false;           // guarded by mu_
  // guarded by mu_: what the sender waits for, so the worker notifies only
  // for that (a first packet; a full batch).
  enum class Wait : uint8_t { None, FirstPacket, FullBatch };
  Wait senderWaits_ = Wait::None;

  std::atomic<uint64_t> captured_{0};
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> droppedQueueFull_{0};
  std::atomic<uint64_t> droppedTooLarge_{0};
  std::atomic<uint64_t> sendErrors_{0};
};

}  // namespace tollgate::mgmt
