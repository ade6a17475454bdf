// Listen-spec parsing, listeners and the protocol dispatch of Transport. The
// UDP and TCP halves live in udp_transport.cc and tcp_transport.cc.
#include "transport/transport.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "transport/transport_impl.h"

namespace tollgate::transport {

// ------------------------------------------------------------ protocol names

std::string_view protocolName(Protocol p) {
  switch (p) {
    case Protocol::Udp:
      return "UDP";
    case Protocol::Tcp:
      return "TCP";
    case Protocol::Tls:
      return "TLS";
  }
  return "UDP";
}

std::string_view protocolParam(Protocol p) {
  switch (p) {
    case Protocol::Udp:
      return "udp";
    case Protocol::Tcp:
      return "tcp";
    case Protocol::Tls:
      return "tls";
  }
  return "udp";
}

namespace {
bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}
}  // namespace

std::optional<Protocol> protocolFromName(std::string_view name) {
  for (Protocol p : {Protocol::Udp, Protocol::Tcp, Protocol::Tls}) {
    if (equalsIgnoreCase(name, protocolParam(p))) return p;
  }
  return std::nullopt;
}

bool isStream(Protocol p) {
  return p != Protocol::Udp;
}

std::string_view connectionRefusalName(ConnectionRefusal r) {
  switch (r) {
    case ConnectionRefusal::TableFull:
      return "table_full";
    case ConnectionRefusal::PerIp:
      return "per_ip";
    case ConnectionRefusal::Reserved:
      return "reserved";
    case ConnectionRefusal::Banned:
      return "banned";
    case ConnectionRefusal::UntrustedSource:
      return "untrusted_source";
    case ConnectionRefusal::UntrustedPrefix:
      return "untrusted_prefix";
  }
  return "table_full";
}

std::optional<ListenSpec> parseListenSpec(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto protocol = protocolFromName(text.substr(0, colon));
  if (!protocol) return std::nullopt;
  // No default port: a listen address names its port ("udp:0.0.0.0" is a
  // typo more often than a wish for 5060).
  auto address = net::SockAddr::parse(text.substr(colon + 1));
  if (!address) return std::nullopt;
  return ListenSpec{*protocol, *address};
}

std::string toString(const ListenSpec& spec) {
  return std::string(protocolParam(spec.protocol)) + ":" + spec.address.toString();
}

// ------------------------------------------------------------ Transport::Impl

Transport::Impl::Impl(EventLoop& l, MessageSink& s, TransportLimits lim)
    : loop(l), sink(s), limits(lim) {
  setupUdp();
  tcpReadBuffer.reset(new char[kTcpReadChunk]);
}

Transport::Impl::~Impl() {
  // No sink calls from a destructor: the sink may already be half gone.
  closeAll(/*notify=*/false);
  graveyard.clear();
}

namespace {
std::string errnoText(std::string_view what, const ListenSpec& spec) {
  return std::string(what) + " " + toString(spec) + ": " + std::strerror(errno);
}

void setBuffer(int fd, int forceOpt, int opt, int bytes) {
  if (bytes <= 0) return;
  // The FORCE variant (root / CAP_NET_ADMIN) may exceed net.core.[rw]mem_max;
  // the plain one is capped by it. Both best effort: a smaller buffer only
  // means earlier drops under a burst.
  if (::setsockopt(fd, SOL_SOCKET, forceOpt, &bytes, sizeof bytes) == 0) return;
  (void)::setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}
}  // namespace

Result<ListenerId, std::string> Transport::Impl::listen(const ListenSpec& spec) {
  if (closed) return Err(std::string("transport closed"));
  if (spec.protocol == Protocol::Tls && (!tls || !tls->canServe())) {
    return Err(std::string("a TLS listener needs a certificate (tls.certificate)"));
  }
  if (!spec.address.valid()) return Err(std::string("invalid listen address"));
  if (listeners.size() >= kNoListener) return Err(std::string("too many listeners"));

  const int family = spec.address.ip().family();
  const bool udp = spec.protocol == Protocol::Udp;
  int fd = ::socket(family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Err(errnoText("socket", spec));
  int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6) {
    // So that [::]:5060 and 0.0.0.0:5060 can both be bound, and v4 peers
    // always appear as plain IPv4 on a v4 socket.
    (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (udp) {
    setBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, limits.udpReceiveBuffer);
    setBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, limits.udpSendBuffer);
    // Kernel receive timestamps: how long each datagram waited (Flow::queuedUs).
    (void)::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  }
  sockaddr_storage ss;
  socklen_t len = spec.address.toSockaddr(&ss);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    std::string e = errnoText("bind", spec);
    ::close(fd);
    return Err(std::move(e));
  }
  if (!udp && ::listen(fd, kTcpListenBacklog) != 0) {
    std::string e = errnoText("listen", spec);
    ::close(fd);
    return Err(std::move(e));
  }
  len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    std::string e = errnoText("getsockname", spec);
    ::close(fd);
    return Err(std::move(e));
  }

  const auto id = static_cast<ListenerId>(listeners.size());
  Listener info{id, spec.protocol, net::SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&ss))};
  listeners.push_back(info);
  auto state = std::make_unique<ListenerState>();
  state->info = info;
  state->fd = fd;
  ListenerState* ls = state.get();
  states.push_back(std::move(state));
  if (udp) {
    loop.add(fd, EPOLLIN, [this, ls](uint32_t) { onUdpReadable(*ls); });
  } else {
    ls->acceptBackoff.setCallback([this, ls] {
      if (ls->fd >= 0) loop.modify(ls->fd, EPOLLIN);
    });
    loop.add(fd, EPOLLIN, [this, ls](uint32_t) {
      onAcceptable(*ls);
      reap();
    });
  }
  log::info("transport.listen").kv("listen", toString(ListenSpec{spec.protocol, info.address}));
  return id;
}

const Listener* Transport::Impl::pickListener(Protocol protocol,
                                              const net::SockAddr& remote) const {
  if (!remote.valid()) return nullptr;
  for (const auto& ls : states) {
    if (ls->info.protocol != protocol) continue;
    if (ls->info.address.ip().family() != remote.ip().family()) continue;
    // A closed UDP socket cannot send; a TCP listener only lends its address.
    if (protocol == Protocol::Udp && ls->fd < 0) continue;
    return &listeners[ls->info.id];
  }
  return nullptr;
}

void Transport::Impl::stopAccepting() {
  for (auto& ls : states) {
    if (ls->info.protocol == Protocol::Udp || ls->fd < 0) continue;
    ls->acceptBackoff.cancel();
    loop.remove(ls->fd);
    // Closing (rather than only ignoring) the socket makes the kernel refuse
    // new handshakes instead of queueing them for nobody.
    ::close(ls->fd);
    ls->fd = -1;
  }
}

void Transport::Impl::closeAll(bool notify) {
  closed = true;
  udpNewWorkTimer.cancel();
  udpNewWork.clear();
  udpNewWorkBytes = 0;
  stats.udpNewWorkWaiting = 0;
  for (auto& ls : states) {
    if (ls->fd < 0) continue;
    ls->acceptBackoff.cancel();
    loop.remove(ls->fd);
    ::close(ls->fd);
    ls->fd = -1;
  }
  std::vector<Connection*> open;
  open.reserve(connections.size());
  for (auto& [id, c] : connections) open.push_back(c.get());
  for (Connection* c : open) closeConnection(c, notify);
}

// ------------------------------------------------------------ Transport

Transport::Transport(EventLoop& loop, MessageSink& sink, TransportLimits limits)
    : impl_(std::make_unique<Impl>(loop, sink, limits)) {}

Transport::~Transport() = default;

Result<Ok, std::string> Transport::configureTls(const TlsSettings& settings) {
  auto t = TlsContexts::create(settings);
  if (!t) return Err(t.error());
  impl_->tls = std::move(t).value();
  return Ok{};
}

Result<ListenerId, std::string> Transport::listen(const ListenSpec& spec) {
  return impl_->listen(spec);
}

const std::vector<Listener>& Transport::listeners() const {
  return impl_->listeners;
}

const Listener* Transport::listener(ListenerId id) const {
  return id < impl_->listeners.size() ? &impl_->listeners[id] : nullptr;
}

const Listener* Transport::pickListener(Protocol protocol, const net::SockAddr& remote) const {
  return impl_->pickListener(protocol, remote);
}

Result<Ok, SendError> Transport::send(const Flow& flow, std::string_view bytes) {
  switch (flow.protocol) {
    case Protocol::Udp:
      return impl_->sendUdp(flow, bytes);
    case Protocol::Tcp:
    case Protocol::Tls:
      return impl_->sendTcp(flow, bytes);
  }
  ++impl_->stats.tcpSendErrors;
  return Err(SendError::NoListener);
}

void Transport::closeConnection(ConnectionId id, bool reset) {
  auto it = impl_->connections.find(id);
  if (it == impl_->connections.end()) return;
  Connection* c = it->second.get();
  c->resetOnClose = reset;
  ++impl_->stats.tcpClosedUnwanted;
  if (reset) ++impl_->stats.tcpClosedReset;
  impl_->closeConnection(c);
  // Freed by the reap() at the end of the handler that called us.
}

void Transport::trustConnection(ConnectionId id) {
  auto it = impl_->connections.find(id);
  if (it != impl_->connections.end()) impl_->promote(it->second.get());
}

const std::vector<std::string>* Transport::peerCertificateNames(ConnectionId id) const {
  auto it = impl_->connections.find(id);
  if (it == impl_->connections.end() || it->second->peerNames.empty()) return nullptr;
  return &it->second->peerNames;
}

void Transport::stopAccepting() {
  impl_->stopAccepting();
}

void Transport::close() {
  impl_->closeAll(/*notify=*/true);
}

const TransportStats& Transport::stats() const {
  return impl_->stats;
}

void Transport::setTap(PacketTap* tap) {
  impl_->tapSink = tap;
}

void Transport::Impl::tapOut(TapDirection dir, const Flow& flow, std::string_view bytes) {
  net::SockAddr local;
  if (flow.local < listeners.size()) local = listeners[flow.local].address;
  tapSink->onPacket(dir, flow, local, bytes);
}

}  // namespace tollgate::transport
