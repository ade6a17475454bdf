// The transport layer: listening sockets and stream connections for one
// worker. Delivers each received SIP message (a UDP datagram, or one framed
// message from a TCP stream) to a MessageSink as an owned byte string with the
// Flow it arrived on, and sends bytes along a Flow. Confined to its worker.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/event_loop.h"
#include "common/net.h"
#include "common/result.h"
#include "transport/tls.h"

namespace tollgate::transport {

enum class Protocol : uint8_t { Udp, Tcp, Tls };
std::string_view protocolName(Protocol p);   // "UDP", "TCP", "TLS" (as in a Via)
std::string_view protocolParam(Protocol p);  // "udp", "tcp", "tls" (as in ;transport=)
std::optional<Protocol> protocolFromName(std::string_view name);  // case-insensitive
bool isStream(Protocol p);

// "udp:127.0.0.1:5060", "tcp:[::1]:5060" (config syntax of sip.listen).
struct ListenSpec {
  Protocol protocol = Protocol::Udp;
  net::SockAddr address;
};
std::optional<ListenSpec> parseListenSpec(std::string_view text);
std::string toString(const ListenSpec& spec);

using ListenerId = uint16_t;
using ConnectionId = uint64_t;  // 0 = none (datagrams) / "find or open one"
inline constexpr ListenerId kNoListener = 0xffff;

// Where a message came from, or where to send one.
struct Flow {
  Protocol protocol = Protocol::Udp;
  net::SockAddr remote;
  ListenerId local = kNoListener;  // listener it arrived on / to send from
  ConnectionId connection = 0;     // stream: the connection it arrived on
  // Received messages: how long the datagram waited in the kernel's socket
  // queue before we read it (SO_TIMESTAMPNS), in microseconds, at least 1;
  // 0 when unknown (streams, sent messages). Overload control reads it.
  uint32_t queuedUs = 0;
  // New work (Turn) delivered by the UDP transport: how long the oldest new
  // work still waiting (this message, if it is the oldest) has waited, in
  // microseconds: the standing queue even when the youngest goes first.
  uint32_t backlogUs = 0;
};

struct Listener {
  ListenerId id = kNoListener;
  Protocol protocol = Protocol::Udp;
  net::SockAddr address;  // as bound (port 0 resolved to the real port)
};

// The connection table (TCP and TLS, inbound and outbound) and its bounds.
// Inbound connections are admitted at accept, in this order (the first that
// fails refuses the connection with a reset, counted by reason):
//
//   1. table_full  the table holds tcpMaxConnections;
//   2. per_ip      the remote address holds tcpMaxConnectionsPerIp (every
//                  source, trusted ones too: no single address takes the
//                  table or the reserve);
//   3. the sink's verdict (MessageSink::acceptConnection, the shield):
//                  banned / untrusted_source / untrusted_prefix refuse;
//                  otherwise the source is Trusted or Untrusted;
//   4. reserved    an Untrusted source while untrusted connections hold
//                  all but tcpReservedPercent of tcpMaxConnections: the rest of
//                  the table is kept for trusted sources (provisioned
//                  gateways, trusted CIDRs, sources vouched for by digest
//                  authentication) and our own outbound connections.
//
// Deadlines: a message must be complete within tcpMessageTimeout of its
// first byte, an inbound TLS handshake within tlsHandshakeTimeout, and an
// untrusted source's first message within tcpMessageTimeout of the
// connection being ready; past one, the connection is closed (RST when
// tcpCloseReset). A connection without a partial message (a gateway's
// keep-alive connection) is governed by tcpIdleTimeout alone.
struct TransportLimits {
  size_t udpBatch = 32;  // datagrams per recvmmsg call
  // New work waiting longer than this is delivered oldest first (Turn).
  Millis udpNewWorkDue{20};
  int udpReceiveBuffer = 4 << 20;      // SO_RCVBUF request, bytes
  size_t tcpMaxConnections = 4096;     // whole table
  size_t tcpMaxConnectionsPerIp = 64;  // per remote IP address, every source
  // Percent of tcpMaxConnections untrusted sources can never take (floor of
  // the product: a table of 3 reserves nothing at 25).
  unsigned tcpReservedPercent = 25;
  Millis tcpIdleTimeout{std::chrono::seconds(300)};  // no bytes either way -> close
  Millis tcpConnectTimeout{std::chrono::seconds(5)};
  Millis tcpMessageTimeout{std::chrono::seconds(5)};    // first byte -> whole message
  Millis tlsHandshakeTimeout{std::chrono::seconds(5)};  // inbound accept -> handshake done
  bool tcpCloseReset = false;  // deadline closes: RST (sip.tcp_close = "reset") instead of FIN
  size_t tcpMaxOutputQueue = 1 << 20;  // bytes queued on one connection before we give up on it
  int udpSendBuffer = 1 << 20;         // SO_SNDBUF request, bytes
  // Read and write buffers of all untrusted connections together, and
  // their TLS handshakes in progress (kTlsHandshakeCharge each). Without it
  // each untrusted slot could hold a partial message of almost 64 KiB
  // (3072 x 64 KiB = 192 MiB at the defaults); a stranger's real first
  // message (a REGISTER, an INVITE) is a few KiB, so this is room for 512
  // of the largest at once, or 682 handshakes. The connection whose
  // buffers would take the total past it is closed (buffer_budget).
  size_t tcpUntrustedBufferBudget = 32u << 20;
};

// Who a new inbound connection's source is, as the sink judges it at accept
// (see TransportLimits for how each is used).
enum class Admission : uint8_t {
  Trusted,          // provisioned gateway, trusted CIDR, vouched for: may use the reserve
  Untrusted,        // anyone else: the unreserved share only
  Banned,           // refused: the source or its prefix is banned
  UntrustedSource,  // refused: the untrusted source holds its limit of connections
  UntrustedPrefix,  // refused: the untrusted source's prefix holds its limit
};

// Why an inbound connection was refused at accept.
enum class ConnectionRefusal : uint8_t {
  TableFull,
  PerIp,
  Reserved,
  Banned,
  UntrustedSource,
  UntrustedPrefix,
};
inline constexpr size_t kConnectionRefusalCount = 6;
// "table_full", "per_ip", "reserved", "banned", "untrusted_source",
// "untrusted_prefix"
std::string_view connectionRefusalName(ConnectionRefusal r);

struct TransportStats {
  uint64_t udpReceived = 0;
  uint64_t udpSent = 0;
  uint64_t udpTruncated = 0;  // datagram larger than the receive buffer: dropped
  // New work (Turn::Later, InOrder) waiting behind the rest, now; and
  // how often the wait was full, so the oldest was delivered early.
  size_t udpNewWorkWaiting = 0;
  uint64_t udpNewWorkOverflow = 0;
  uint64_t udpSendErrors = 0;
  uint64_t tcpAccepted = 0;
  uint64_t tcpConnected = 0;      // outbound connections opened
  uint64_t tcpRejectedLimit = 0;  // refused: table_full, per_ip or reserved (and outbound opens)
  uint64_t tcpClosedIdle = 0;
  uint64_t tcpFramingErrors = 0;  // closed because framing was lost
  uint64_t tcpReceived = 0;       // messages
  uint64_t tcpSent = 0;
  uint64_t tcpSendErrors = 0;
  uint64_t keepAlives = 0;  // CRLF keep-alives received (TCP pings/pongs, UDP CRLF datagrams)
  size_t tcpOpen = 0;
  size_t tcpOpenUntrusted = 0;       // of those, accepted from untrusted sources
  uint64_t tcpConnectFailed = 0;     // outbound connects refused, failed or timed out
  uint64_t tcpClosedSlowReader = 0;  // closed because the output queue passed its cap
  uint64_t tcpClosedUnwanted = 0;    // closed by closeConnection() (unknown/suspended/banned)
  uint64_t tcpClosedReset = 0;       // of those, closed with RST
  uint64_t tlsHandshakes = 0;        // TLS handshakes completed (both directions)
  uint64_t tlsHandshakeFailed = 0;   // failed (bad/unverified certificate, not TLS, peer closed)
  uint64_t tcpRejectedFilter = 0;    // refused by the sink's acceptConnection() (shield)
  // Inbound connections refused at accept, by ConnectionRefusal.
  std::array<uint64_t, kConnectionRefusalCount> tcpRefused{};
  uint64_t tcpClosedMessageTimeout = 0;  // a message not complete within tcpMessageTimeout
  uint64_t tlsHandshakeTimeouts = 0;     // a handshake not done within its deadline
  uint64_t tcpClosedBufferBudget = 0;    // untrusted buffers together passed their budget
  uint64_t tcpClosedDeadlineReset = 0;   // deadline/budget closes sent as RST (tcpCloseReset)
};

// When the UDP transport hands a datagram to its sink (MessageSink::turnOf).
// New work waits in user space while the transport reads on, so a carrier's
// answer or a customer's BYE never queues behind a storm of new calls in the
// socket; it is filtered and delivered in turns between reads (at most
// kUdpNewWorkPerTurn at a time), with Flow::queuedUs its whole wait and
// Flow::backlogUs the age of the oldest new work waiting. Newest first while
// the oldest has waited less than TransportLimits::udpNewWorkDue (a
// request served young is worth more than one that is late already), else
// oldest first. Overload control (docs/overload.md) is the one user.
enum class Turn : uint8_t {
  Now,      // continues existing work (a response, ACK, BYE, in-dialog request)
  Later,    // starts new work (a new INVITE, REGISTER, OPTIONS ...)
  InOrder,  // new work that must never overtake older new work (a CANCEL and its INVITE)
};

class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // Looks at a message before the transport copies it out of its receive
  // buffer: false drops it there, at no cost beyond this call (the shield
  // decides here, so a flood it drops costs no allocation). `bytes` is valid
  // only during the call.
  virtual bool filter(const Flow& from, std::string_view bytes) { return true; }
  // Asked of every datagram as it is read, before filter(): when it is
  // delivered (see Turn). The default delivers everything as read.
  virtual Turn turnOf(const Flow& from, std::string_view bytes) { return Turn::Now; }
  // One complete message that passed filter(). `bytes` is owned by the
  // callee from here on.
  virtual void onMessage(const Flow& from, std::string&& bytes) = 0;
  // A stream connection went away (peer close, error, idle, limit).
  virtual void onConnectionClosed(ConnectionId id) {}
  // An inbound connection from `remote` was accepted within the table and
  // per-IP caps: the sink's verdict (see TransportLimits). A refusal closes
  // it with a reset before it costs a table slot (counted by reason, and in
  // tcpRejectedFilter). The shield answers here for banned sources, its
  // per-source/prefix limits of untrusted sources, and who is trusted.
  // Without a sink opinion every source is Untrusted.
  virtual Admission acceptConnection(const net::SockAddr& remote) { return Admission::Untrusted; }
  // An accepted inbound connection got its id, admitted as `admission`
  // (Trusted or Untrusted); every one is later matched by
  // onConnectionClosed(id).
  virtual void onConnectionOpened(ConnectionId id, const net::SockAddr& remote,
                                  Admission admission) {}
};

enum class SendError : uint8_t { NoListener, SocketError, ConnectionFailed, QueueFull };

// A copy of the signalling for SIP trace (mgmt/sip_trace.h): called on the
// worker for every message delivered to the sink and every message sent.
// The transport holds a plain pointer and tests it once per message, so
// tracing costs one branch when no tap is set. `bytes` is valid only during
// the call. Confined to the transport's worker.
enum class TapDirection : uint8_t { In, Out };
class PacketTap {
 public:
  virtual ~PacketTap() = default;
  // `local` is the listener's bound address (its IP may be a wildcard).
  virtual void onPacket(TapDirection dir, const Flow& flow, const net::SockAddr& local,
                        std::string_view bytes) = 0;
};

class Transport {
 public:
  Transport(EventLoop& loop, MessageSink& sink, TransportLimits limits = {});
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Loads our certificate and CAs for SIP over TLS; call before listening
  // on "tls:" and before sending to TLS peers. Errors name the file.
  Result<Ok, std::string> configureTls(const TlsSettings& settings);

  // Binds a listener (UDP socket, or TCP/TLS listening socket). For IPv6
  // addresses the socket is IPv6-only so "udp:[::]:5060" and
  // "udp:0.0.0.0:5060" can coexist.
  Result<ListenerId, std::string> listen(const ListenSpec& spec);
  const std::vector<Listener>& listeners() const;
  const Listener* listener(ListenerId id) const;
  // The listener to send from towards `remote` over `protocol`: the first one
  // with that protocol and address family; nullptr when none.
  const Listener* pickListener(Protocol protocol, const net::SockAddr& remote) const;

  // Sends one message. UDP: sendto from flow.local (or a picked listener).
  // Streams: on flow.connection when it is still open, else on an open
  // connection to flow.remote, else opens one (non-blocking; bytes are queued
  // until it connects). Errors are also counted in stats.
  Result<Ok, SendError> send(const Flow& flow, std::string_view bytes);

  // Closes a stream connection we do not want to keep: an unknown or
  // suspended peer, or a source the shield just banned. reset: RST via
  // SO_LINGER 0, leaving no TIME_WAIT on our side (sip.tcp_close =
  // "reset"); else an orderly FIN. Unknown ids are ignored. The sink is told
  // (onConnectionClosed), as for any close.
  void closeConnection(ConnectionId id, bool reset = false);
  // The names (subjectAltName DNS entries, else the subject CN) of the
  // verified certificate the TLS peer on `id` presented; null when the
  // connection is not TLS, presented no certificate or it did not verify.
  const std::vector<std::string>* peerCertificateNames(ConnectionId id) const;
  // The source of an inbound connection admitted Untrusted turned out
  // trusted (it authenticated, or was provisioned since): from now on it
  // counts in the trusted part of the table, may queue tcpMaxOutputQueue
  // and owes no first message. Unknown ids are ignored.
  void trustConnection(ConnectionId id);

  // Stops accepting new TCP connections and closes listening sockets' intake
  // of new streams (used when draining). UDP keeps running.
  void stopAccepting();
  // Closes every socket.
  void close();

  const TransportStats& stats() const;

  // Sets (or, with nullptr, removes) the trace tap. The tap must outlive
  // its installation. Worker only.
  void setTap(PacketTap* tap);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate::transport
