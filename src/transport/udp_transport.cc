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

int64_t clockNs(clockid_t clock) {
  timespec ts;
  ::clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

void Transport::Impl::setupUdp() {
  udpNewWorkTimer.setCallback([this] {
    SendBatch batch(*this);
    deliverUdpNewWork(kUdpNewWorkPerTurn);
  });
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
  SendBatch batch(*this);
  readUdpRounds(ls);
  deliverUdpNewWork(kUdpNewWorkPerTurn);
}

void Transport::Impl::readUdpRounds(ListenerState& ls) {
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
    // The kernel stamps datagrams with the wall clock; the wait for new work
    // is kept on the monotonic one, so a clock step cannot make it due
    // never or at once.
    const int64_t nowNs = clockNs(CLOCK_REALTIME);
    const int64_t readAtNs = clockNs(CLOCK_MONOTONIC);
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
      const std::string_view bytes(data, len);
      const Turn turn = sink.turnOf(flow, bytes);
      if (turn != Turn::Now) {
        // Its turn comes after what continues existing work. A full wait
        // hands over its oldest now, however late that one is.
        while (!udpNewWork.empty() && (udpNewWork.size() >= kMaxUdpNewWork ||
                                       udpNewWorkBytes + len > kMaxUdpNewWorkBytes)) {
          ++stats.udpNewWorkOverflow;
          deliverOneNewWork(/*newest=*/false, readAtNs);
        }
        if (ls.fd < 0) return;
        const int64_t receivedNs = readAtNs - static_cast<int64_t>(flow.queuedUs) * 1000;
        udpNewWork.push_back({flow, receivedNs, turn == Turn::InOrder, std::string(bytes)});
        udpNewWorkBytes += len;
        stats.udpNewWorkWaiting = udpNewWork.size();
        continue;
      }
      if (!sink.filter(flow, bytes)) continue;
      tap(TapDirection::In, flow, bytes);
      sink.onMessage(flow, std::string(bytes));
      if (ls.fd < 0) return;
    }
    if (static_cast<size_t>(n) < udpBatch) return;  // socket drained
  }
}

void Transport::Impl::deliverOneNewWork(bool newest, int64_t nowNs) {
  const auto micros = [nowNs](int64_t sinceNs) -> uint32_t {
    return static_cast<uint32_t>(std::clamp<int64_t>((nowNs - sinceNs) / 1000, 1, UINT32_MAX));
  };
  const uint32_t backlogUs = micros(udpNewWork.front().receivedNs);
  NewWork w = std::move(newest ? udpNewWork.back() : udpNewWork.front());
  if (newest) {
    udpNewWork.pop_back();
  } else {
    udpNewWork.pop_front();
  }
  udpNewWorkBytes -= w.bytes.size();
  stats.udpNewWorkWaiting = udpNewWork.size();
  if (w.flow.local >= states.size() || states[w.flow.local]->fd < 0) return;  // listener closed
  w.flow.queuedUs = micros(w.receivedNs);
  w.flow.backlogUs = backlogUs;
  if (!sink.filter(w.flow, w.bytes)) return;
  tap(TapDirection::In, w.flow, w.bytes);
  sink.onMessage(w.flow, std::move(w.bytes));
}

void Transport::Impl::deliverUdpNewWork(size_t most) {
  const auto until = std::chrono::steady_clock::now() + kUdpNewWorkSlice;
  const int64_t dueNs =
      std::chrono::duration_cast<std::chrono::nanoseconds>(limits.udpNewWorkDue).count();
  for (size_t i = 0; i < most && !udpNewWork.empty() && !closed; ++i) {
    const int64_t nowNs = clockNs(CLOCK_MONOTONIC);
    // Newest first while nothing waits past due (a CANCEL at the back waits
    // for everything older: it must not overtake its INVITE); the oldest
    // once it is due.
    const bool due = nowNs - udpNewWork.front().receivedNs >= dueNs;
    deliverOneNewWork(!due && !udpNewWork.back().inOrder, nowNs);
    if (std::chrono::steady_clock::now() >= until) break;
  }
  if (!udpNewWork.empty() && !closed && !udpNewWorkTimer.active()) {
    udpNewWorkTimer.start(loop.timers(), Millis{0});
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
