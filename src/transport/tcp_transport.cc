// TCP half of Transport: admission at accept (the table, per-IP cap, the
// sink's verdict and the reserved share; see TransportLimits), the
// connection table (by id and by remote address, RFC 3261 §18.2.2 / §18.4
// connection reuse), Content-Length framing through sip::nextFrame
// (RFC 3261 §18.3), CRLF keep-alives (RFC 5626 §4.4.1), outbound
// non-blocking connects, bounded read buffers and write queues with a
// slow-reader cap, and the deadlines: connect, TLS handshake, message
// completion and idle. TLS connections are the same streams with an SSL in
// between (tls.h): the handshake runs after the TCP connect (or accept), and
// reads and writes go through it. About 800 lines: admission, framing and the
// deadlines share the connection table and are easier to audit side by side.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "sip/framing.h"
#include "transport/transport_impl.h"

namespace tollgate::transport {

namespace {

// How much one read may take: a whole chunk when nothing is buffered (it is
// framed straight out of the read buffer), else what keeps the unframed
// bytes within kTcpMaxReadBuffer. Never 0: a partial message is always
// shorter than that (see kTcpMaxReadBuffer).
size_t readRoom(const Connection* c) {
  if (c->in.empty()) return kTcpReadChunk;
  return std::min(kTcpReadChunk, kTcpMaxReadBuffer - std::min(c->in.size(), kTcpMaxReadBuffer - 1));
}

bool isWildcard(const net::IpAddress& ip) {
  for (size_t i = 0; i < ip.size(); ++i) {
    if (ip.bytes()[i] != 0) return false;
  }
  return true;
}

// Refuse with a reset rather than a FIN: no TIME_WAIT on our side for peers
// we never wanted.
void closeWithReset(int fd) {
  linger l{1, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

// Heap bytes a buffer holds (none while it fits the string itself).
size_t heapBytes(const std::string& s) {
  static const size_t kInline = std::string().capacity();
  return s.capacity() > kInline ? s.capacity() + 1 : 0;
}

// Trusted connections keep a small idle buffer for their next message; an
// untrusted one keeps nothing its budget would have to carry.
void releaseIfIdle(std::string& buf, bool trusted) {
  if (buf.empty() && heapBytes(buf) > (trusted ? kTcpKeptBufferCapacity : 0)) {
    std::string().swap(buf);
  }
}

// Appends to a connection buffer whose length the caller keeps within cap.
// Grows geometrically like std::string, but never past cap (std::string's
// own growth may double the capacity beyond it), so cap bounds the memory
// and not only the length.
void appendBounded(std::string& buf, std::string_view data, size_t cap) {
  const size_t need = buf.size() + data.size();
  if (need <= buf.capacity()) {
    buf.append(data);
    return;
  }
  std::string grown;
  // From an empty string, reserve() allocates what is asked (at least 30).
  grown.reserve(std::max(need, std::min(cap, 2 * buf.capacity())));
  grown.append(buf);
  grown.append(data);
  buf.swap(grown);
}

}  // namespace

// ------------------------------------------------------------ accept

void Transport::Impl::onAcceptable(ListenerState& ls) {
  for (int i = 0; i < kTcpAcceptsPerEvent; ++i) {
    if (ls.fd < 0) return;
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = ::accept4(ls.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      switch (errno) {
        case EINTR:
        case ECONNABORTED:  // the peer gave up while queued; next one
        case EPROTO:
          continue;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
          // Out of descriptors or memory: the listener stays readable, so
          // stop listening to it for a moment rather than spin.
          log::warn("transport.accept_paused")
              .kv("listener", ls.info.id)
              .kv("error", std::strerror(errno));
          loop.modify(ls.fd, 0);
          ls.acceptBackoff.start(loop.timers(), kAcceptBackoff);
          return;
        default:
          return;  // EAGAIN: queue empty
      }
    }
    const net::SockAddr remote = net::SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&ss));
    // Accept-then-refuse: leaving a connection in the backlog would let one
    // source fill the queue for everyone. The order is TransportLimits'.
    if (connections.size() >= limits.tcpMaxConnections) {
      refuse(fd, remote, ConnectionRefusal::TableFull);
      continue;
    }
    auto ipCount = perIp.find(remote.ip());
    if (ipCount != perIp.end() && ipCount->second >= limits.tcpMaxConnectionsPerIp) {
      refuse(fd, remote, ConnectionRefusal::PerIp);
      continue;
    }
    const Admission admission = sink.acceptConnection(remote);
    switch (admission) {
      case Admission::Trusted:
      case Admission::Untrusted:
        break;
      case Admission::Banned:
        refuse(fd, remote, ConnectionRefusal::Banned);
        continue;
      case Admission::UntrustedSource:
        refuse(fd, remote, ConnectionRefusal::UntrustedSource);
        continue;
      case Admission::UntrustedPrefix:
        refuse(fd, remote, ConnectionRefusal::UntrustedPrefix);
        continue;
    }
    const bool trusted = admission == Admission::Trusted;
    if (!trusted && untrustedOpen >= untrustedCapacity()) {
      refuse(fd, remote, ConnectionRefusal::Reserved);
      continue;
    }
    ++stats.tcpAccepted;
    Connection* c =
        addConnection(fd, remote, ls.info.id, /*connecting=*/false, ls.info.protocol, trusted);
    c->inbound = true;
    // Before the TLS handshake: every open is matched by onConnectionClosed,
    // also when the handshake cannot even start.
    sink.onConnectionOpened(c->id, remote, admission);
    if (ls.fd < 0) return;  // the sink closed the transport
    if (c->closed) continue;
    if (ls.info.protocol == Protocol::Tls) {
      c->ssl = tls ? tls->accept(c->fd) : nullptr;
      if (c->ssl == nullptr) {
        closeConnection(c);
        continue;
      }
      c->handshaking = true;
      // A peer that opens TCP and never finishes TLS (or trickles its
      // handshake) must not hold a slot for long.
      c->timer.start(loop.timers(), limits.tlsHandshakeTimeout);
      // Nor, while a stranger, more than its share of the memory.
      if (!account(c)) continue;
    } else if (!trusted) {
      // A stranger's first message is due from now: a silent or trickling
      // connection holds its slot for tcpMessageTimeout at most.
      expectMessageBy(c, loop.now() + limits.tcpMessageTimeout);
    }
  }
}

void Transport::Impl::refuse(int fd, const net::SockAddr& remote, ConnectionRefusal why) {
  closeWithReset(fd);
  ++stats.tcpRefused[static_cast<size_t>(why)];
  switch (why) {
    case ConnectionRefusal::TableFull:
    case ConnectionRefusal::PerIp:
    case ConnectionRefusal::Reserved:
      ++stats.tcpRejectedLimit;
      break;
    default:
      ++stats.tcpRejectedFilter;
      break;
  }
  if (refusalLog.allow(loop.now())) {
    log::warn("transport.connection_refused")
        .kv("reason", connectionRefusalName(why))
        .kv("remote", remote.toString())
        .kv("open", connections.size())
        .kv("open_untrusted", untrustedOpen)
        .kv("refused_unlogged", refusalLog.takeSuppressed());
  }
}

size_t Transport::Impl::untrustedCapacity() const {
  const size_t reserved = limits.tcpMaxConnections * limits.tcpReservedPercent / 100;
  return limits.tcpMaxConnections > reserved ? limits.tcpMaxConnections - reserved : 0;
}

// ------------------------------------------------------------ connection table

Connection* Transport::Impl::addConnection(int fd, const net::SockAddr& remote, ListenerId local,
                                           bool connecting, Protocol protocol, bool trusted) {
  int one = 1;
  // Each write is one whole SIP message; Nagle would only delay it.
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  auto owned = std::make_unique<Connection>();
  Connection* c = owned.get();
  c->id = nextConnectionId++;
  c->fd = fd;
  c->protocol = protocol;
  c->remote = remote;
  c->local = local;
  c->connecting = connecting;
  c->trusted = trusted;
  c->lastActivity = loop.now();
  c->events = connecting ? EPOLLOUT : EPOLLIN;
  c->timer.setCallback([this, c] {
    onConnectionTimer(c);
    reap();  // may free c and this timer: nothing runs after it
  });
  c->timer.start(loop.timers(), connecting ? limits.tcpConnectTimeout : limits.tcpIdleTimeout);
  loop.add(fd, c->events, [this, c](uint32_t events) {
    onConnectionEvent(c, events);
    reap();
  });
  connections.emplace(c->id, std::move(owned));
  byRemote.emplace(remote, c);
  ++perIp[remote.ip()];
  if (!trusted) ++untrustedOpen;
  stats.tcpOpen = connections.size();
  stats.tcpOpenUntrusted = untrustedOpen;
  return c;
}

void Transport::Impl::closeConnection(Connection* c, bool notify) {
  if (c->closed) return;
  c->closed = true;
  c->timer.cancel();
  if (c->outPending() > 0) ++stats.tcpSendErrors;  // queued bytes are lost with it
  loop.remove(c->fd);
  if (c->ssl != nullptr) {
    // close_notify for an orderly close; nothing more for a reset.
    tlsClose(c->ssl, !c->resetOnClose);
    c->ssl = nullptr;
  }
  if (c->resetOnClose) {
    closeWithReset(c->fd);
  } else {
    ::close(c->fd);
  }
  c->fd = -1;
  auto [first, last] = byRemote.equal_range(c->remote);
  for (auto it = first; it != last; ++it) {
    if (it->second == c) {
      byRemote.erase(it);
      break;
    }
  }
  auto ip = perIp.find(c->remote.ip());
  if (ip != perIp.end() && --ip->second == 0) perIp.erase(ip);
  if (!c->trusted) {
    --untrustedOpen;
    untrustedBuffered -= c->accountedBytes;
    c->accountedBytes = 0;
  }
  const ConnectionId id = c->id;
  auto it = connections.find(id);
  graveyard.push_back(std::move(it->second));  // freed by reap(), not under our feet
  connections.erase(it);
  stats.tcpOpen = connections.size();
  stats.tcpOpenUntrusted = untrustedOpen;
  if (notify) sink.onConnectionClosed(id);
}

void Transport::Impl::onConnectionTimer(Connection* c) {
  if (c->closed) return;
  if (c->connecting) {
    ++stats.tcpConnectFailed;
    log::debug("transport.connect_timeout").kv("remote", c->remote.toString());
    closeConnection(c);
    return;
  }
  if (c->handshaking) {
    ++stats.tlsHandshakeTimeouts;
    closeOnLimit(c, "tls_handshake_timeout");
    return;
  }
  const MonoTime now = loop.now();
  if (c->messageDue && now >= *c->messageDue) {
    ++stats.tcpClosedMessageTimeout;
    closeOnLimit(c, "message_timeout");
    return;
  }
  // The timer is not restarted on every byte; it checks lastActivity when it
  // fires and re-arms for the rest of the window.
  if (now - c->lastActivity >= limits.tcpIdleTimeout) {
    ++stats.tcpClosedIdle;
    closeConnection(c);
    return;
  }
  armTimer(c);
}

void Transport::Impl::armTimer(Connection* c) {
  MonoTime next = c->lastActivity + limits.tcpIdleTimeout;
  if (c->messageDue && *c->messageDue < next) next = *c->messageDue;
  const MonoTime now = loop.now();
  c->timer.start(loop.timers(), next > now ? std::chrono::ceil<Millis>(next - now) : Millis(0));
}

void Transport::Impl::expectMessageBy(Connection* c, MonoTime due) {
  c->messageDue = due;
  // Only ever brought forward: a later idle check re-arms for the rest.
  if (!c->handshaking && !c->connecting && (!c->timer.active() || c->timer.deadline() > due)) {
    armTimer(c);
  }
}

void Transport::Impl::closeOnLimit(Connection* c, std::string_view why) {
  // sip.tcp_close applies to peers we close on them, not to our own
  // outbound connections (a carrier slow to handshake is not an attacker).
  c->resetOnClose = c->inbound && limits.tcpCloseReset;
  if (c->resetOnClose) ++stats.tcpClosedDeadlineReset;
  if (deadlineLog.allow(loop.now())) {
    log::info("transport.limit_close")
        .kv("reason", why)
        .kv("remote", c->remote.toString())
        .kv("trusted", c->trusted)
        .kv("reset", c->resetOnClose)
        .kv("closed_unlogged", deadlineLog.takeSuppressed());
  }
  closeConnection(c);
}

bool Transport::Impl::account(Connection* c) {
  if (c->trusted || c->closed) return true;
  const size_t now = heapBytes(c->in) + heapBytes(c->out) +
                     (c->ssl != nullptr && c->handshaking ? kTlsHandshakeCharge : 0);
  untrustedBuffered = untrustedBuffered - c->accountedBytes + now;
  c->accountedBytes = now;
  if (untrustedBuffered <= limits.tcpUntrustedBufferBudget) return true;
  ++stats.tcpClosedBufferBudget;
  closeOnLimit(c, "buffer_budget");
  return false;
}

void Transport::Impl::promote(Connection* c) {
  if (c->trusted || c->closed) return;
  c->trusted = true;
  --untrustedOpen;
  stats.tcpOpenUntrusted = untrustedOpen;
  untrustedBuffered -= c->accountedBytes;
  c->accountedBytes = 0;
  // The first-message deadline was for a stranger; a pending partial
  // message keeps its own.
  if (c->in.empty()) c->messageDue.reset();
}

size_t Transport::Impl::outputCap(const Connection* c) const {
  return c->trusted ? limits.tcpMaxOutputQueue
                    : std::min(limits.tcpMaxOutputQueue, kTcpUntrustedMaxOutputQueue);
}

void Transport::Impl::setInterest(Connection* c, uint32_t events) {
  if (c->events == events) return;
  c->events = events;
  loop.modify(c->fd, events);
}

// ------------------------------------------------------------ I/O events

void Transport::Impl::onConnectionEvent(Connection* c, uint32_t events) {
  if (c->closed) return;
  if (c->connecting) {
    finishConnect(c, events);
    return;
  }
  if (c->handshaking) {
    stepHandshake(c);
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) || (c->readWantsWrite && (events & EPOLLOUT))) {
    readConnection(c);  // a hang-up or error surfaces as read() == 0 / -1
    if (c->closed) return;
  }
  // TLS: a write may have waited for the socket to become readable.
  if ((events & EPOLLOUT) || (c->ssl != nullptr && c->outPending() > 0)) flushOutput(c);
}

void Transport::Impl::stepHandshake(Connection* c) {
  switch (tlsHandshake(c->ssl)) {
    case TlsIo::Done:
      c->handshaking = false;
      // The handshake's charge goes (only ever a decrease, so this cannot
      // trip the budget; checked all the same, as everywhere).
      if (!account(c)) return;
      ++stats.tlsHandshakes;
      c->peerNames = tlsVerifiedPeerNames(c->ssl);
      c->lastActivity = loop.now();
      if (!c->trusted) {
        c->messageDue = loop.now() + limits.tcpMessageTimeout;  // a stranger's first message
      }
      armTimer(c);
      setInterest(c, c->outPending() > 0 ? uint32_t{EPOLLIN | EPOLLOUT} : uint32_t{EPOLLIN});
      if (c->outPending() > 0) flushOutput(c);
      // Application data may have arrived in the same flight as the
      // handshake's end; epoll will not announce bytes OpenSSL already read.
      if (!c->closed) readConnection(c);
      return;
    case TlsIo::WantRead:
      setInterest(c, EPOLLIN);
      return;
    case TlsIo::WantWrite:
      setInterest(c, EPOLLIN | EPOLLOUT);
      return;
    case TlsIo::Closed:
    case TlsIo::Failed:
      ++stats.tlsHandshakeFailed;
      log::debug("transport.tls_handshake_failed")
          .kv("remote", c->remote.toString())
          .kv("error", tlsLastError());
      closeConnection(c);
      return;
  }
}

void Transport::Impl::finishConnect(Connection* c, uint32_t events) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0 && !(events & EPOLLOUT)) err = ECONNRESET;  // hang-up without writability
  if (err != 0) {
    ++stats.tcpConnectFailed;
    log::debug("transport.connect_failed")
        .kv("remote", c->remote.toString())
        .kv("error", std::strerror(err));
    closeConnection(c);
    return;
  }
  c->connecting = false;
  ++stats.tcpConnected;
  c->lastActivity = loop.now();
  if (c->ssl != nullptr) {
    c->handshaking = true;  // the connect timer keeps running for the handshake
    stepHandshake(c);
    return;
  }
  armTimer(c);
  setInterest(c, c->outPending() > 0 ? uint32_t{EPOLLIN | EPOLLOUT} : uint32_t{EPOLLIN});
  flushOutput(c);
}

void Transport::Impl::readTls(Connection* c) {
  c->readWantsWrite = false;
  // OpenSSL may hold decrypted bytes epoll cannot see: read until it wants
  // the socket again, bounded per event like plain reads.
  for (int i = 0; i < kTcpReadsPerEvent * 4; ++i) {
    size_t got = 0;
    switch (tlsRead(c->ssl, tcpReadBuffer.get(), readRoom(c), &got)) {
      case TlsIo::Done:
        c->lastActivity = loop.now();
        if (!onBytes(c, std::string_view(tcpReadBuffer.get(), got))) return;
        continue;
      case TlsIo::WantRead:
        return;
      case TlsIo::WantWrite:
        c->readWantsWrite = true;
        setInterest(c, EPOLLIN | EPOLLOUT);
        return;
      case TlsIo::Closed:
      case TlsIo::Failed:
        closeConnection(c);
        return;
    }
  }
  // Still more buffered: finish on the next loop turn rather than starve
  // the other connections (the id guards against it closing meanwhile).
  const ConnectionId id = c->id;
  loop.post([this, id] {
    auto it = connections.find(id);
    if (it != connections.end() && !it->second->closed && !it->second->handshaking) {
      readConnection(it->second.get());
      reap();
    }
  });
}

void Transport::Impl::readConnection(Connection* c) {
  if (c->ssl != nullptr) {
    readTls(c);
    return;
  }
  for (int i = 0; i < kTcpReadsPerEvent; ++i) {
    const size_t room = readRoom(c);
    ssize_t n = ::read(c->fd, tcpReadBuffer.get(), room);
    if (n == 0) {
      closeConnection(c);  // orderly close by the peer
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) closeConnection(c);
      return;
    }
    c->lastActivity = loop.now();
    if (!onBytes(c, std::string_view(tcpReadBuffer.get(), static_cast<size_t>(n)))) return;
    if (static_cast<size_t>(n) < room) return;  // drained (or the buffer is full)
  }
}

bool Transport::Impl::onBytes(Connection* c, std::string_view data) {
  // Common case: nothing left over from earlier reads, so frame straight out
  // of the read buffer and copy only what stays unframed.
  const bool buffered = !c->in.empty();
  if (buffered) appendBounded(c->in, data, kTcpMaxReadBuffer);
  const std::string_view buf = buffered ? std::string_view(c->in) : data;

  size_t consumed = 0;
  bool delivered = false;
  while (consumed < buf.size()) {
    const sip::Frame f = sip::nextFrame(buf.substr(consumed));
    if (f.kind == sip::Frame::NeedMore) break;
    if (f.kind == sip::Frame::Error || f.length == 0 || f.length > buf.size() - consumed) {
      ++stats.tcpFramingErrors;
      log::debug("transport.framing_error")
          .kv("remote", c->remote.toString())
          .kv("reason", f.kind == sip::Frame::Error ? f.error : "bad frame length");
      closeConnection(c);
      return false;
    }
    const std::string_view frame = buf.substr(consumed, f.length);
    consumed += f.length;
    if (f.kind == sip::Frame::KeepAlive) {
      ++stats.keepAlives;
      if (frame.size() == 4) {  // RFC 5626 §4.4.1: CRLFCRLF ping -> CRLF pong
        if (!write(c, "\r\n")) return false;
      }
      continue;
    }
    ++stats.tcpReceived;
    delivered = true;
    Flow flow;
    flow.protocol = c->protocol;
    flow.remote = c->remote;
    flow.local = c->local;
    flow.connection = c->id;
    if (!sink.filter(flow, frame)) {
      if (c->closed) return false;  // the filter closed it
      continue;
    }
    // A message the shield let through: what an untrusted source owes
    // (junk it drops does not buy a stranger more time).
    c->firstMessageDone = true;
    tap(TapDirection::In, flow, frame);
    sink.onMessage(flow, std::string(frame));
    if (c->closed) return false;  // the sink closed it (or a send on it failed)
  }

  if (buffered) {
    c->in.erase(0, consumed);
  } else {
    c->in.clear();
    appendBounded(c->in, buf.substr(consumed), kTcpMaxReadBuffer);
  }
  if (c->in.size() >= kTcpMaxReadBuffer) {  // cannot happen (see kTcpMaxReadBuffer)
    ++stats.tcpFramingErrors;
    closeConnection(c);
    return false;
  }
  releaseIfIdle(c->in, c->trusted);
  if (!account(c)) return false;
  // A stranger's first-message deadline stands until a message of it
  // passed the filter, whatever else it sends meanwhile.
  const bool owesFirst = !c->trusted && !c->firstMessageDone;
  if (!c->in.empty()) {
    // A message has begun: complete within tcpMessageTimeout of its first
    // byte (here, or in an earlier read while one was already pending).
    if (!c->messageDue || (delivered && !owesFirst)) {
      expectMessageBy(c, loop.now() + limits.tcpMessageTimeout);
    }
  } else if (!owesFirst) {
    c->messageDue.reset();  // nothing pending: the idle rule alone
  }
  return true;
}

// ------------------------------------------------------------ output

Result<Ok, SendError> Transport::Impl::write(Connection* c, std::string_view bytes) {
  const size_t cap = outputCap(c);
  if (c->connecting || c->handshaking || c->outPending() > 0) {
    if (c->outPending() + bytes.size() > cap) {
      // The peer does not read (or cannot connect): give up on it rather
      // than buffer without bound.
      ++stats.tcpClosedSlowReader;
      log::info("transport.slow_reader")
          .kv("remote", c->remote.toString())
          .kv("queued", c->outPending());
      closeConnection(c);
      return Err(SendError::QueueFull);
    }
    if (c->out.size() + bytes.size() > c->out.capacity() && c->outOffset > 0) {
      c->out.erase(0, c->outOffset);  // reuse the sent prefix before growing
      c->outOffset = 0;
    }
    appendBounded(c->out, bytes, cap);
    if (!account(c)) return Err(SendError::QueueFull);
    return Ok{};
  }
  ssize_t n = 0;
  if (c->ssl != nullptr) {
    size_t put = 0;
    switch (tlsWrite(c->ssl, bytes.data(), bytes.size(), &put)) {
      case TlsIo::Done:
        n = static_cast<ssize_t>(put);
        break;
      case TlsIo::WantRead:
      case TlsIo::WantWrite:
        break;  // queued below; retried from flushOutput
      case TlsIo::Closed:
      case TlsIo::Failed:
        closeConnection(c);
        return Err(SendError::SocketError);
    }
  } else {
    n = ::send(c->fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      closeConnection(c);
      return Err(SendError::SocketError);
    }
    n = 0;
  }
  if (n > 0) c->lastActivity = loop.now();
  if (static_cast<size_t>(n) < bytes.size()) {
    if (bytes.size() - static_cast<size_t>(n) > cap) {
      ++stats.tcpClosedSlowReader;
      closeConnection(c);
      return Err(SendError::QueueFull);
    }
    c->out.clear();
    c->outOffset = 0;
    appendBounded(c->out, bytes.substr(static_cast<size_t>(n)), cap);
    if (!account(c)) return Err(SendError::QueueFull);
    setInterest(c, EPOLLIN | EPOLLOUT);
  }
  return Ok{};
}

void Transport::Impl::flushOutput(Connection* c) {
  if (c->connecting || c->handshaking) return;
  while (c->outPending() > 0) {
    if (c->ssl != nullptr) {
      size_t put = 0;
      TlsIo r = tlsWrite(c->ssl, c->out.data() + c->outOffset, c->outPending(), &put);
      if (r == TlsIo::Done) {
        c->outOffset += put;
        c->lastActivity = loop.now();
        continue;
      }
      if (r == TlsIo::WantRead || r == TlsIo::WantWrite) break;
      closeConnection(c);
      return;
    }
    ssize_t n =
        ::send(c->fd, c->out.data() + c->outOffset, c->outPending(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      closeConnection(c);
      return;
    }
    c->outOffset += static_cast<size_t>(n);
    c->lastActivity = loop.now();
  }
  if (c->outPending() == 0) {
    c->out.clear();
    c->outOffset = 0;
    releaseIfIdle(c->out, c->trusted);
    if (!account(c)) return;  // only shrinks; cannot trip the budget
    setInterest(c, EPOLLIN);
  } else {
    if (c->outOffset > c->out.size() / 2) {  // keep appends from growing the string forever
      c->out.erase(0, c->outOffset);
      c->outOffset = 0;
    }
    setInterest(c, EPOLLIN | EPOLLOUT);
  }
}

// ------------------------------------------------------------ send

Result<Ok, SendError> Transport::Impl::sendTcp(const Flow& flow, std::string_view bytes) {
  if (closed) {
    ++stats.tcpSendErrors;
    return Err(SendError::SocketError);
  }
  Connection* c = nullptr;
  if (flow.connection != 0) {
    auto it = connections.find(flow.connection);
    if (it != connections.end() && it->second->protocol == flow.protocol) c = it->second.get();
  }
  if (c == nullptr && flow.remote.valid()) {
    // Reuse any open connection to that address, inbound or outbound
    // (RFC 3261 §18.2.2, §18.4), of the same protocol (TCP is not TLS);
    // prefer one that has finished connecting.
    auto [first, last] = byRemote.equal_range(flow.remote);
    for (auto it = first; it != last; ++it) {
      if (it->second->protocol != flow.protocol) continue;
      if (c == nullptr || (c->connecting && !it->second->connecting)) c = it->second;
    }
  }
  if (c == nullptr) {
    auto opened = openConnection(flow);
    if (!opened) {
      ++stats.tcpSendErrors;
      return Err(opened.error());
    }
    c = *opened;
  }
  auto r = write(c, bytes);
  if (!r) {
    ++stats.tcpSendErrors;
    return r;
  }
  ++stats.tcpSent;
  if (tapSink != nullptr) [[unlikely]] {
    tapOut(TapDirection::Out, Flow{c->protocol, c->remote, c->local, c->id}, bytes);
  }
  return Ok{};
}

Result<Connection*, SendError> Transport::Impl::openConnection(const Flow& flow) {
  const net::SockAddr& remote = flow.remote;
  if (!remote.valid() || remote.port() == 0) return Err(SendError::ConnectionFailed);
  if (connections.size() >= limits.tcpMaxConnections) {
    ++stats.tcpRejectedLimit;
    return Err(SendError::ConnectionFailed);
  }
  const int family = remote.ip().family();
  // Local side: the requested TCP listener of that family, else the first
  // one, else none (the kernel picks the address).
  const bool secure = flow.protocol == Protocol::Tls;
  if (secure && !tls) return Err(SendError::NoListener);  // TLS was never configured
  const ListenerState* local = nullptr;
  if (flow.local < states.size() && states[flow.local]->info.protocol == flow.protocol &&
      states[flow.local]->info.address.ip().family() == family) {
    local = states[flow.local].get();
  } else if (const Listener* l = pickListener(flow.protocol, remote)) {
    local = states[l->id].get();
  } else if (const Listener* t = pickListener(Protocol::Tcp, remote)) {
    local = states[t->id].get();  // a TLS connection may leave from a TCP listener's address
  }

  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Err(SendError::SocketError);
  if (local != nullptr && !isWildcard(local->info.address.ip())) {
    // Leave from the listener's address so the peer sees the same host as
    // in our Via and Contact; the port stays ephemeral, chosen at connect.
    int one = 1;
    (void)::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_storage ss;
    socklen_t len = net::SockAddr(local->info.address.ip(), 0).toSockaddr(&ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      ::close(fd);
      return Err(SendError::SocketError);
    }
  }
  sockaddr_storage ss;
  socklen_t len = remote.toSockaddr(&ss);
  bool connecting = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) {
      ++stats.tcpConnectFailed;
      ::close(fd);
      return Err(SendError::ConnectionFailed);
    }
    connecting = true;
  } else {
    ++stats.tcpConnected;
  }
  Connection* c = addConnection(fd, remote, local != nullptr ? local->info.id : kNoListener,
                                connecting, flow.protocol);
  if (secure) {
    c->ssl = tls->connect(c->fd, remote);
    if (c->ssl == nullptr) {
      closeConnection(c);
      return Err(SendError::SocketError);
    }
    if (!connecting) {
      // Connected at once (loopback): the handshake starts now, under the
      // connect timer.
      c->handshaking = true;
      c->timer.start(loop.timers(), limits.tcpConnectTimeout);
      stepHandshake(c);
      if (c->closed) return Err(SendError::ConnectionFailed);
    }
  }
  return c;
}

}  // namespace tollgate::transport
