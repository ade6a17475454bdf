// The transport layer: listening sockets and stream connections for one
// worker. Delivers each received SIP message (a UDP datagram, or one framed
// message from a TCP stream) to a MessageSink as an owned byte string with the
// Flow it arrived on, and sends bytes along a Flow. Confined to its worker.
#pragma once

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
};

struct Listener {
  ListenerId id = kNoListener;
  Protocol protocol = Protocol::Udp;
  net::SockAddr address;  // as bound (port 0 resolved to the real port)
};

struct TransportLimits {
  size_t udpBatch = 32;                              // datagrams per recvmmsg call
  int udpReceiveBuffer = 4 << 20;                    // SO_RCVBUF request, bytes
  size_t tcpMaxConnections = 4096;                   // whole table
  size_t tcpMaxConnectionsPerIp = 64;                // per remote IP address
  Millis tcpIdleTimeout{std::chrono::seconds(300)};  // no bytes either way -> close
  Millis tcpConnectTimeout{std::chrono::seconds(5)};
  size_t tcpMaxOutputQueue = 1 << 20;  // bytes queued on one connection before we give up on it
  int udpSendBuffer = 1 << 20;         // SO_SNDBUF request, bytes
};

struct TransportStats {
  uint64_t udpReceived = 0;
  uint64_t udpSent = 0;
  uint64_t udpTruncated = 0;  // datagram larger than the receive buffer: dropped
  uint64_t udpSendErrors = 0;
  uint64_t tcpAccepted = 0;
  uint64_t tcpConnected = 0;      // outbound connections opened
  uint64_t tcpRejectedLimit = 0;  // refused: table or per-IP cap
  uint64_t tcpClosedIdle = 0;
  uint64_t tcpFramingErrors = 0;  // closed because framing was lost
  uint64_t tcpReceived = 0;       // messages
  uint64_t tcpSent = 0;
  uint64_t tcpSendErrors = 0;
  uint64_t keepAlives = 0;  // CRLF keep-alives received (TCP pings/pongs, UDP CRLF datagrams)
  size_t tcpOpen = 0;
  uint64_t tcpConnectFailed = 0;     // outbound connects refused, failed or timed out
  uint64_t tcpClosedSlowReader = 0;  // closed because the output queue passed tcpMaxOutputQueue
  uint64_t tcpClosedUnwanted = 0;    // closed by closeConnection() (unknown/suspended/banned)
  uint64_t tcpClosedReset = 0;       // of those, closed with RST
  uint64_t tlsHandshakes = 0;        // TLS handshakes completed (both directions)
  uint64_t tlsHandshakeFailed = 0;   // failed or timed out (bad/unverified certificate, not TLS)
  uint64_t tcpRejectedFilter = 0;    // refused by the sink's acceptConnection() (shield)
};

class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // Looks at a message before the transport copies it out of its receive
  // buffer: false drops it there, at no cost beyond this call (the shield
  // decides here, so a flood it drops costs no allocation). `bytes` is valid
  // only during the call.
  virtual bool filter(const Flow& from, std::string_view bytes) { return true; }
  // One complete message that passed filter(). `bytes` is owned by the
  // callee from here on.
  virtual void onMessage(const Flow& from, std::string&& bytes) = 0;
  // A stream connection went away (peer close, error, idle, limit).
  virtual void onConnectionClosed(ConnectionId id) {}
  // An inbound connection from `remote` was accepted, within the table and
  // per-IP caps: false refuses it (closed with a reset, counted in
  // tcpRejectedFilter) before it costs a table slot. The shield uses it for
  // banned sources and its per-source/prefix connection limits.
  virtual bool acceptConnection(const net::SockAddr& remote) { return true; }
  // An accepted inbound connection got its id (every one is later matched by
  // onConnectionClosed(id)).
  virtual void onConnectionOpened(ConnectionId id, const net::SockAddr& remote) {}
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
