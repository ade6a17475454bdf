// Internal to the transport layer: the state behind Transport, shared by
// transport.cc (listeners, dispatch), udp_transport.cc and tcp_transport.cc.
// Not part of the layer's interface. Confined to its worker.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <ctime>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/event_loop.h"
#include "common/net.h"
#include "sip/limits.h"
#include "transport/tls.h"
#include "transport/transport.h"

namespace tollgate::transport {

// One recvmmsg buffer per datagram. Larger than any UDP payload (65507 bytes
// over IPv4, 65527 over IPv6), so only an IPv6 jumbogram could truncate.
inline constexpr size_t kUdpDatagramBuffer = 65536;

// Room for one SCM_TIMESTAMPNS control message (a timespec) per datagram.
struct UdpControl {
  alignas(cmsghdr) char bytes[CMSG_SPACE(sizeof(timespec))];
};
// recvmmsg batches per readiness event: drains a busy socket in few syscalls
// while one flooded socket cannot starve the others (epoll is level
// triggered, the rest is read on the next turn).
inline constexpr int kUdpBatchesPerEvent = 8;
// The kernel takes at most UIO_MAXIOV (1024) messages per recvmmsg.
inline constexpr size_t kMaxUdpBatch = 1024;
// New work (Turn) read from UDP waits in user space for its turn: at most
// this many messages and bytes (beyond either, the oldest is delivered at
// once, so the sink judges it as late as it is), delivered at most
// kUdpNewWorkPerTurn per loop iteration and for at most kUdpNewWorkSlice,
// so the sockets are read again soon.
inline constexpr size_t kMaxUdpNewWork = 4096;
inline constexpr size_t kMaxUdpNewWorkBytes = size_t{8} << 20;
inline constexpr size_t kUdpNewWorkPerTurn = 16;
inline constexpr std::chrono::microseconds kUdpNewWorkSlice{250};
// Datagrams queued for one sendmmsg flush; a fuller queue is flushed early.
inline constexpr size_t kUdpSendBatch = 64;
// Datagrams this short made only of CR/LF are the keep-alives many UAs send
// over UDP (the TCP form of RFC 5626 §3.5.1 applied to datagrams): counted,
// never handed to the parser.
inline constexpr size_t kMaxUdpKeepAlive = 4;

// Kernel queue of completed handshakes per listening socket.
inline constexpr int kTcpListenBacklog = 1024;
// accept4 calls per readiness event, for the same fairness reason as above.
inline constexpr int kTcpAcceptsPerEvent = 64;
// Bytes per read(2) and reads per readiness event on one connection.
inline constexpr size_t kTcpReadChunk = 65536;
inline constexpr int kTcpReadsPerEvent = 4;
// Most unframed bytes one connection holds. The framer fails a header
// section or message above sip::kMaxMessageSize, so a partial message is
// always shorter; reads into a non-empty buffer are cut to fit and the
// buffer grows no further (appendBounded), so this bounds its memory too.
inline constexpr size_t kTcpMaxReadBuffer = sip::kMaxMessageSize;
// Output queue of a connection accepted from an untrusted source: we only
// answer such a peer (challenges, 403s, 503s), so more than this queued
// means it does not read. Keeps the unreserved share of the table cheap.
inline constexpr size_t kTcpUntrustedMaxOutputQueue = 64 * 1024;
// What an inbound TLS handshake in progress costs in OpenSSL state and
// buffers: 42-47 KiB of RSS each measured (OpenSSL 3.0, ECDSA P-256
// certificate, server flight sent; docs/transport.md#memory), rounded up.
// Charged to an untrusted connection's share of the untrusted buffer
// budget until the handshake is done, so strangers cannot hold thousands of
// half-open handshakes' memory either.
inline constexpr size_t kTlsHandshakeCharge = 48 * 1024;
// Idle buffers above this capacity are released, so thousands of quiet
// connections do not each keep the memory of their largest message.
inline constexpr size_t kTcpKeptBufferCapacity = 16 * 1024;
// When accept fails for lack of file descriptors the listener stays readable;
// pause it this long instead of spinning on it.
inline constexpr Millis kAcceptBackoff{100};
// Refusals at accept and deadline closes are what a flood causes in bulk:
// at most one log line of each kind per this interval, carrying the count.
inline constexpr Millis kFloodLogInterval{10'000};

// A log line an attacker can trigger in bulk, at most once per
// kFloodLogInterval; the line carries how many were not logged.
struct LogThrottle {
  MonoTime next{};
  uint64_t suppressed = 0;
  // True when a line may go out now; counts the event either way.
  bool allow(MonoTime now) {
    if (now < next) {
      ++suppressed;
      return false;
    }
    next = now + kFloodLogInterval;
    return true;
  }
  uint64_t takeSuppressed() { return std::exchange(suppressed, 0); }
};

struct ListenerState {
  Listener info;
  int fd = -1;
  Timer acceptBackoff;  // TCP: re-enables intake after EMFILE/ENFILE
};

struct Connection {
  ConnectionId id = 0;
  int fd = -1;
  Protocol protocol = Protocol::Tcp;
  net::SockAddr remote;
  ListenerId local = kNoListener;
  bool connecting = false;  // outbound, handshake not finished
  bool closed = false;      // closed; waiting in the graveyard to be freed
  uint32_t events = 0;      // current epoll interest
  std::string in;           // bytes read but not framed yet
  std::string out;          // bytes queued for writing, from outOffset
  size_t outOffset = 0;
  MonoTime lastActivity{};  // last byte read or written (idle rule)
  // Connect timeout while connecting, handshake deadline while handshaking,
  // then the earlier of the idle check and messageDue.
  Timer timer;
  bool inbound = false;
  bool trusted = true;            // inbound: admitted Trusted; outbound: always (ours)
  bool firstMessageDone = false;  // a message passed the filter (ends a stranger's first deadline)
  // When the message now expected must be complete: set by its first byte,
  // and for an untrusted source from the moment the connection is ready
  // until its first message; none when nothing is pending.
  std::optional<MonoTime> messageDue;
  size_t accountedBytes = 0;           // untrusted: this connection's share of untrustedBuffered
  bool resetOnClose = false;           // close with RST (SO_LINGER 0)
  std::vector<std::string> peerNames;  // TLS: names of the verified peer certificate
  SSL* ssl = nullptr;                  // TLS connections
  bool handshaking = false;            // TLS handshake not finished
  bool readWantsWrite = false;         // TLS: a read needs the socket writable first

  size_t outPending() const { return out.size() - outOffset; }
};

struct Transport::Impl {
  Impl(EventLoop& l, MessageSink& s, TransportLimits lim);
  ~Impl();

  // transport.cc
  Result<ListenerId, std::string> listen(const ListenSpec& spec);
  const Listener* pickListener(Protocol protocol, const net::SockAddr& remote) const;
  void stopAccepting();
  void closeAll(bool notify);

  // udp_transport.cc
  void setupUdp();
  void onUdpReadable(ListenerState& ls);
  Result<Ok, SendError> sendUdp(const Flow& flow, std::string_view bytes);
  // Sends the datagrams queued while a receive batch was being handled.
  void flushUdpSends();

  // tcp_transport.cc
  void onAcceptable(ListenerState& ls);
  Result<Ok, SendError> sendTcp(const Flow& flow, std::string_view bytes);
  Result<Connection*, SendError> openConnection(const Flow& flow);
  Connection* addConnection(int fd, const net::SockAddr& remote, ListenerId local, bool connecting,
                            Protocol protocol, bool trusted = true);
  // Refuses an accepted socket with a reset, counted (and logged, throttled).
  void refuse(int fd, const net::SockAddr& remote, ConnectionRefusal why);
  // Untrusted connections the table may hold: all but the reserved share.
  size_t untrustedCapacity() const;
  // Sets c->messageDue and brings the timer forward to it when needed.
  void expectMessageBy(Connection* c, MonoTime due);
  // Re-arms c's timer for the earlier of its idle check and messageDue.
  void armTimer(Connection* c);
  // A deadline or buffer limit passed: closes c, with RST when
  // tcpCloseReset (inbound), logged (throttled).
  void closeOnLimit(Connection* c, std::string_view why);
  // Brings untrustedBuffered up to date with c's buffers (and TLS
  // handshake); false (c closed, counted in tcpClosedBufferBudget) when
  // that passes the budget.
  bool account(Connection* c);
  // The connection's source turned out trusted (Transport::trustConnection).
  void promote(Connection* c);
  // Bytes the output queue of c may hold.
  size_t outputCap(const Connection* c) const;
  void stepHandshake(Connection* c);
  void readTls(Connection* c);
  void onConnectionEvent(Connection* c, uint32_t events);
  void finishConnect(Connection* c, uint32_t events);
  void readConnection(Connection* c);
  bool onBytes(Connection* c, std::string_view data);
  Result<Ok, SendError> write(Connection* c, std::string_view bytes);
  void flushOutput(Connection* c);
  void setInterest(Connection* c, uint32_t events);
  void onConnectionTimer(Connection* c);
  void closeConnection(Connection* c, bool notify = true);
  // Frees closed connections. Called only at the end of a handler this
  // transport registered with the loop, never from inside sink calls, so a
  // connection closed while its own handler runs stays valid until then.
  void reap() {
    if (!graveyard.empty()) graveyard.clear();
  }

  // Trace tap (null = off); see PacketTap. tap() is the one branch on the
  // hot path; the call itself is out of line.
  // While one lives, UDP sends are batched (udpDeferSends); they leave at
  // its end, in one sendmmsg per socket.
  struct SendBatch {
    explicit SendBatch(Impl& i) : impl(i) { impl.udpDeferSends = true; }
    ~SendBatch() {
      impl.udpDeferSends = false;
      impl.flushUdpSends();
    }
    SendBatch(const SendBatch&) = delete;
    SendBatch& operator=(const SendBatch&) = delete;
    Impl& impl;
  };
  // Up to kUdpBatchesPerEvent recvmmsg rounds of one readable event.
  void readUdpRounds(ListenerState& ls);
  // Hands waiting new work to the sink (Turn): `most` messages at most,
  // within kUdpNewWorkSlice; re-arms udpNewWorkTimer while some still waits.
  void deliverUdpNewWork(size_t most);
  // The oldest (front) or the newest (back) waiting new work, now.
  void deliverOneNewWork(bool newest, int64_t nowNs);
  void tap(TapDirection dir, const Flow& flow, std::string_view bytes) {
    if (tapSink != nullptr) [[unlikely]]
      tapOut(dir, flow, bytes);
  }
  void tapOut(TapDirection dir, const Flow& flow, std::string_view bytes);

  EventLoop& loop;
  MessageSink& sink;
  PacketTap* tapSink = nullptr;
  TransportLimits limits;
  TransportStats stats;
  bool closed = false;

  std::vector<Listener> listeners;
  std::vector<std::unique_ptr<ListenerState>> states;  // by ListenerId; never shrinks

  // UDP receive batch: batch buffers of kUdpDatagramBuffer bytes each,
  // allocated once (uninitialised, so untouched pages cost no memory).
  size_t udpBatch = 0;
  std::unique_ptr<char[]> udpBuffers;
  std::vector<mmsghdr> udpMsgs;
  std::vector<iovec> udpIovs;
  std::vector<sockaddr_storage> udpAddrs;
  // One control buffer per datagram for its receive timestamp.
  std::vector<UdpControl> udpControls;

  // New work read from UDP sockets, oldest first, waiting for its turn
  // (kMaxUdpNewWork). receivedNs is the kernel's receive time on
  // CLOCK_MONOTONIC (the read time less the socket wait; the read time
  // without a kernel timestamp): the sink hears the whole wait, in the
  // socket and here, as Flow::queuedUs.
  struct NewWork {
    Flow flow;
    int64_t receivedNs = 0;
    bool inOrder = false;  // Turn::InOrder
    std::string bytes;
  };
  std::deque<NewWork> udpNewWork;
  size_t udpNewWorkBytes = 0;
  // Armed (0 ms) while new work waits, so it goes on without more datagrams.
  Timer udpNewWorkTimer;

  // UDP send batch. While a receive batch is handed to the sink, the
  // datagrams it sends in reply are queued here (copied into pooled
  // buffers that keep their capacity) and leave in one sendmmsg per socket
  // at the end of the batch: one system call for many datagrams instead of
  // one each. Sends from anywhere else (timers, other threads' posts) go at
  // once.
  bool udpDeferSends = false;
  size_t udpOutCount = 0;
  std::vector<std::string> udpOutBytes;
  std::vector<int> udpOutFds;
  std::vector<sockaddr_storage> udpOutAddrs;
  std::vector<socklen_t> udpOutAddrLens;
  std::vector<mmsghdr> udpOutMsgs;
  std::vector<iovec> udpOutIovs;

  // TCP. Ids are monotonic and never reused, so a stale id in a Flow can
  // never reach a different peer's connection.
  std::unique_ptr<char[]> tcpReadBuffer;
  std::unique_ptr<TlsContexts> tls;  // set by Transport::configureTls
  ConnectionId nextConnectionId = 1;
  std::unordered_map<ConnectionId, std::unique_ptr<Connection>> connections;
  std::unordered_multimap<net::SockAddr, Connection*, net::SockAddrHash> byRemote;
  std::unordered_map<net::IpAddress, size_t, net::IpAddressHash> perIp;
  size_t untrustedOpen = 0;      // inbound connections admitted Untrusted, open now
  size_t untrustedBuffered = 0;  // heap bytes of their read and write buffers
  LogThrottle refusalLog;
  LogThrottle deadlineLog;
  std::vector<std::unique_ptr<Connection>> graveyard;
};

}  // namespace tollgate::transport
