// UDP half of Transport: batched receive with recvmmsg into preallocated
// buffers, one owned string per delivered datagram, and sendto from the
// listening socket (so replies leave from the address requests arrived on,
// RFC 3261 §18.2.2).
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "transport/transport_impl.h"

namespace tollgate::transport {

namespace {
bool isCrlfKeepAlive(const char* data, size_t len) {
  if (len == 0 || len > kMaxUdpKeepAlive) return false;
  for (size_t i = 0; i < len; ++i) {
    if (data[i] != '\r' && data[i] != '\n') return false;
  }
  return true;
}
}  // namespace

void Transport::Impl::setupUdp() {
  udpBatch = std::clamp<size_t>(limits.udpBatch, 1, kMaxUdpBatch);
  udpBuffers.reset(new char[udpBatch * kUdpDatagramBuffer]);
  udpMsgs.assign(udpBatch, mmsghdr{});
  udpIovs.assign(udpBatch, iovec{});
  udpAddrs.assign(udpBatch, sockaddr_storage{});
  udpControls.assign(udpBatch, UdpControl{});
  for (size_t i = 0; i < udpBatch; ++i) {
    udpIovs[i].iov_base = udpBuffers.get() + i * kUdpDatagramBuffer;
    udpIovs[i].iov_len = kUdpDatagramBuffer;
    msghdr& h = udpMsgs[i].msg_hdr;
    h.msg_name = &udpAddrs[i];
    h.msg_iov = &udpIovs[i];
    h.msg_iovlen = 1;
  }
}

namespace {
// Microseconds between the kernel's receive timestamp of a datagram and
// `nowNs` (CLOCK_REALTIME), at least 1; 0 without a timestamp or when the
// clock stepped backwards past it.
uint32_t queuedMicros(const msghdr& h, int64_t nowNs) {
  for (cmsghdr* c = CMSG_FIRSTHDR(const_cast<msghdr*>(&h)); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
    timespec ts;
    std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
    const int64_t at = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    const int64_t waited = (nowNs - at) / 1000;
    if (waited < 0) return 0;
    return static_cast<uint32_t>(std::clamp<int64_t>(waited, 1, UINT32_MAX));
  }
  return 0;
}
}  // namespace

void Transport::Impl::onUdpReadable(ListenerState& ls) {
  // Replies and relayed messages of this batch leave together (see
  // udpDeferSends), at the end of each receive round.
  struct Deferral {
    Impl& impl;
    explicit Deferral(Impl& i) : impl(i) { impl.udpDeferSends = true; }
    ~Deferral() {
      impl.udpDeferSends = false;
      impl.flushUdpSends();
    }
  } deferral(*this);
  for (int round = 0; round < kUdpBatchesPerEvent; ++round) {
    flushUdpSends();
    if (ls.fd < 0) return;  // the sink closed the transport
    for (size_t i = 0; i < udpBatch; ++i) {
      msghdr& h = udpMsgs[i].msg_hdr;
      h.msg_namelen = sizeof(sockaddr_storage);  // in/out: reset each call
      h.msg_control = udpControls[i].bytes;
      h.msg_controllen = sizeof udpControls[i].bytes;
    }
    int n =
        ::recvmmsg(ls.fd, udpMsgs.data(), static_cast<unsigned>(udpBatch), MSG_DONTWAIT, nullptr);
    if (n <= 0) return;  // EAGAIN: drained. Errors: level-triggered epoll brings us back.
    timespec nowTs;
    ::clock_gettime(CLOCK_REALTIME, &nowTs);
    const int64_t nowNs = static_cast<int64_t>(nowTs.tv_sec) * 1'000'000'000 + nowTs.tv_nsec;
    for (int i = 0; i < n; ++i) {
      const mmsghdr& m = udpMsgs[i];
      if (m.msg_hdr.msg_flags & MSG_TRUNC) {
        ++stats.udpTruncated;
        continue;
      }
      const char* data = static_cast<const char*>(udpIovs[i].iov_base);
      const size_t len = m.msg_len;
      if (len == 0) continue;
      if (isCrlfKeepAlive(data, len)) {
        ++stats.keepAlives;
        continue;
      }
      ++stats.udpReceived;
      Flow flow;
      flow.protocol = Protocol::Udp;
      flow.remote = net::SockAddr::fromSockaddr(reinterpret_cast<const sockaddr*>(&udpAddrs[i]));
      flow.local = ls.info.id;
      flow.queuedUs = queuedMicros(m.msg_hdr, nowNs);
      if (!sink.filter(flow, std::string_view(data, len))) continue;
      tap(TapDirection::In, flow, std::string_view(data, len));
      sink.onMessage(flow, std::string(data, len));
      if (ls.fd < 0) return;
    }
    if (static_cast<size_t>(n) < udpBatch) return;  // socket drained
  }
}

Result<Ok, SendError> Transport::Impl::sendUdp(const Flow& flow, std::string_view bytes) {
  const ListenerState* ls = nullptr;
  if (flow.local < states.size()) {
    const ListenerState* s = states[flow.local].get();
    if (s->info.protocol == Protocol::Udp &&
        s->info.address.ip().family() == flow.remote.ip().family()) {
      ls = s;
    }
  }
  if (ls == nullptr) {
    if (const Listener* l = pickListener(Protocol::Udp, flow.remote)) ls = states[l->id].get();
  }
  if (ls == nullptr) {
    ++stats.udpSendErrors;
    return Err(SendError::NoListener);
  }
  if (ls->fd < 0) {
    ++stats.udpSendErrors;
    return Err(SendError::SocketError);
  }
  if (udpDeferSends) {
    if (udpOutCount == kUdpSendBatch) flushUdpSends();
    if (udpOutBytes.size() <= udpOutCount) {
      udpOutBytes.resize(kUdpSendBatch);
      udpOutFds.resize(kUdpSendBatch);
      udpOutAddrs.resize(kUdpSendBatch);
      udpOutAddrLens.resize(kUdpSendBatch);
      udpOutMsgs.resize(kUdpSendBatch);
      udpOutIovs.resize(kUdpSendBatch);
    }
    const size_t i = udpOutCount++;
    udpOutBytes[i].assign(bytes.data(), bytes.size());
    udpOutFds[i] = ls->fd;
    udpOutAddrLens[i] = flow.remote.toSockaddr(&udpOutAddrs[i]);
  } else {
    sockaddr_storage ss;
    socklen_t len = flow.remote.toSockaddr(&ss);
    // Non-blocking: a full socket buffer (EAGAIN) or device queue (ENOBUFS)
    // drops this datagram; SIP over UDP retransmits (RFC 3261 §17.1.1.2).
    ssize_t n = ::sendto(ls->fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                         reinterpret_cast<const sockaddr*>(&ss), len);
    if (n < 0) {
      ++stats.udpSendErrors;
      return Err(SendError::SocketError);
    }
    ++stats.udpSent;
  }
  if (tapSink != nullptr) [[unlikely]] {
    Flow sent = flow;
    sent.local = ls->info.id;
    tapOut(TapDirection::Out, sent, bytes);
  }
  return Ok{};
}

void Transport::Impl::flushUdpSends() {
  size_t i = 0;
  while (i < udpOutCount) {
    // One sendmmsg per run of datagrams leaving the same socket.
    const int fd = udpOutFds[i];
    size_t end = i;
    while (end < udpOutCount && udpOutFds[end] == fd) {
      udpOutIovs[end].iov_base = udpOutBytes[end].data();
      udpOutIovs[end].iov_len = udpOutBytes[end].size();
      msghdr& h = udpOutMsgs[end].msg_hdr;
      h = msghdr{};
      h.msg_name = &udpOutAddrs[end];
      h.msg_namelen = udpOutAddrLens[end];
      h.msg_iov = &udpOutIovs[end];
      h.msg_iovlen = 1;
      ++end;
    }
    while (i < end) {
      int n = ::sendmmsg(fd, &udpOutMsgs[i], static_cast<unsigned>(end - i),
                         MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        stats.udpSent += static_cast<uint64_t>(n);
        i += static_cast<size_t>(n);
      } else {
        // The datagram at i failed (full buffer, closed socket): it is
        // dropped, as a failed sendto would be, and the rest still go.
        ++stats.udpSendErrors;
        ++i;
      }
    }
  }
  udpOutCount = 0;
}

}  // namespace tollgate::transport
