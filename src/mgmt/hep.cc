// HEPv3 encoder and capture behind hep.h.
#include "mgmt/hep.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mgmt/sip_trace.h"
#include "shield/raw_scan.h"

namespace tollgate::mgmt {
namespace {

// HEP3 rev12 §3: generic chunk types (vendor 0).
enum ChunkType : uint16_t {
  kIpFamily = 0x0001,
  kIpProtocol = 0x0002,
  kIpv4Source = 0x0003,
  kIpv4Destination = 0x0004,
  kIpv6Source = 0x0005,
  kIpv6Destination = 0x0006,
  kSourcePort = 0x0007,
  kDestinationPort = 0x0008,
  kSeconds = 0x0009,
  kMicroseconds = 0x000a,
  kProtocolType = 0x000b,
  kCaptureId = 0x000c,
  kAuthKey = 0x000e,
  kPayload = 0x000f,
  kCorrelationId = 0x0011,
};
constexpr uint8_t kProtocolSip = 1;  // protocol type 1: SIP
constexpr size_t kChunkHeader = 6;   // vendor, type, length: 16 bits each
constexpr size_t kHepHeader = 6;     // "HEP3", total length

void put16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}
void put32(std::string& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v & 0xffff));
}
void chunkHeader(std::string& out, uint16_t type, size_t valueSize) {
  put16(out, 0);  // vendor: generic
  put16(out, type);
  put16(out, static_cast<uint16_t>(kChunkHeader + valueSize));
}
void chunk(std::string& out, uint16_t type, std::string_view value) {
  chunkHeader(out, type, value.size());
  out.append(value);
}
void chunk8(std::string& out, uint16_t type, uint8_t v) {
  chunkHeader(out, type, 1);
  out += static_cast<char>(v);
}
void chunk16(std::string& out, uint16_t type, uint16_t v) {
  chunkHeader(out, type, 2);
  put16(out, v);
}
void chunk32(std::string& out, uint16_t type, uint32_t v) {
  chunkHeader(out, type, 4);
  put32(out, v);
}
std::string_view ipBytes(const net::IpAddress& ip) {
  return {reinterpret_cast<const char*>(ip.bytes()), ip.size()};
}

// Whether maskCredentials() may have anything to mask (it copies the
// message): any mention of "authorization" (folded header values
// included); a false alarm costs only the copy.
bool hasCredentials(std::string_view bytes) {
  return shield::containsLowered(bytes, "authorization");
}

bool isWildcard(const net::IpAddress& ip) {
  for (size_t i = 0; i < ip.size(); ++i) {
    if (ip.bytes()[i] != 0) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> encodeHep(const HepMeta& meta, std::string_view payload) {
  const net::IpAddress& src = meta.source.ip();
  const net::IpAddress& dst = meta.destination.ip();
  if (!src.valid() || src.family() != dst.family()) return std::nullopt;
  const bool v4 = src.isV4();
  // Fixed chunks: family, protocol and type (1 byte), 2 addresses, 2 ports,
  // seconds, microseconds and capture id (4 bytes).
  const size_t fixed = 3 * (kChunkHeader + 1) + 2 * (kChunkHeader + (v4 ? 4 : 16)) +
                       2 * (kChunkHeader + 2) + 3 * (kChunkHeader + 4);
  size_t total = kHepHeader + fixed + kChunkHeader + payload.size();
  if (!meta.password.empty()) total += kChunkHeader + meta.password.size();
  if (!meta.correlation.empty()) total += kChunkHeader + meta.correlation.size();
  if (total > kHepMaxPacket) return std::nullopt;

  std::string out;
  out.reserve(total);
  out += "HEP3";
  put16(out, static_cast<uint16_t>(total));
  chunk8(out, kIpFamily, v4 ? AF_INET : AF_INET6);
  chunk8(out, kIpProtocol, meta.tcp ? IPPROTO_TCP : IPPROTO_UDP);
  chunk(out, v4 ? kIpv4Source : kIpv6Source, ipBytes(src));
  chunk(out, v4 ? kIpv4Destination : kIpv6Destination, ipBytes(dst));
  chunk16(out, kSourcePort, meta.source.port());
  chunk16(out, kDestinationPort, meta.destination.port());
  chunk32(out, kSeconds, static_cast<uint32_t>(meta.timeUs / 1'000'000));
  chunk32(out, kMicroseconds, static_cast<uint32_t>(meta.timeUs % 1'000'000));
  chunk8(out, kProtocolType, kProtocolSip);
  chunk32(out, kCaptureId, meta.captureId);
  if (!meta.password.empty()) chunk(out, kAuthKey, meta.password);
  if (!meta.correlation.empty()) chunk(out, kCorrelationId, meta.correlation);
  chunk(out, kPayload, payload);
  return out;
}

HepCapture::HepCapture(HepSettings settings, const Clock& clock, net::IpAddress localIp)
    : settings_(std::move(settings)),
      clock_(clock),
      localIp_(localIp),
      carrierLegs_(kHepMaxCarrierLegs, admission::StringHash{}) {}

HepCapture::~HepCapture() {
  stop();
}

Result<Ok, std::string> HepCapture::start() {
  if (!settings_.enabled()) return Err(std::string("hep.address is not set"));
  sockaddr_storage ss;
  const socklen_t len = settings_.collector.toSockaddr(&ss);
  int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Err(std::string("socket: ") + std::strerror(errno));
  // Connected: the kernel routes once, and an ICMP refusal from the
  // collector comes back as an error on a later send (counted).
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    std::string e = std::strerror(errno);
    ::close(fd);
    return Err("connect " + settings_.collector.toString() + ": " + e);
  }
  fd_ = fd;
  sender_ = std::thread([this] { run(); });
  return Ok{};
}

void HepCapture::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (sender_.joinable()) sender_.join();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void HepCapture::onCarrierLeg(std::string_view callerCallId, std::string_view carrierCallId) {
  if (carrierCallId.empty()) return;
  std::string* caller = carrierLegs_.touch(carrierCallId.substr(0, kHepMaxCallId));
  if (caller != nullptr) caller->assign(callerCallId.substr(0, kHepMaxCallId));
}

void HepCapture::onPacket(transport::TapDirection dir, const transport::Flow& flow,
                          const net::SockAddr& local, std::string_view bytes) {
  std::string_view callId = shield::findHeader(bytes, "Call-ID", kHepMaxCallId);
  if (callId.empty()) callId = shield::findHeader(bytes, "i", kHepMaxCallId);  // compact form
  std::string_view correlation = callId;
  bool carrierLeg = false;
  if (!callId.empty() && carrierLegs_.find(callId) != nullptr) {
    carrierLeg = true;
    correlation = *carrierLegs_.touch(callId);  // a live call's legs stay recent
  }
  if (carrierLeg ? !settings_.legB : !settings_.legA) return;
  captured_.fetch_add(1, std::memory_order_relaxed);

  net::SockAddr me = local;
  if (isWildcard(me.ip()) && localIp_.valid() && localIp_.family() == me.ip().family()) {
    me = net::SockAddr(localIp_, me.port());
  }
  HepMeta meta;
  meta.timeUs = clock_.wallMicros();
  meta.source = dir == transport::TapDirection::In ? flow.remote : me;
  meta.destination = dir == transport::TapDirection::In ? me : flow.remote;
  meta.tcp = flow.protocol != transport::Protocol::Udp;
  meta.captureId = settings_.captureId;
  meta.password = settings_.password;
  meta.correlation = correlation;
  std::optional<std::string> packet;
  if (settings_.maskCredentials && hasCredentials(bytes)) {
    packet = encodeHep(meta, maskCredentials(bytes));
  } else {
    packet = encodeHep(meta, bytes);
  }
  if (!packet) {
    droppedTooLarge_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= settings_.queueSize ||
        queuedBytes_ + packet->size() > kHepMaxQueuedBytes) {
      droppedQueueFull_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queuedBytes_ += packet->size();
    queue_.push_back(std::move(*packet));
    wake = (senderWaits_ == Wait::FirstPacket && queue_.size() == 1) ||
           (senderWaits_ == Wait::FullBatch && queue_.size() == kHepSendBatch);
  }
  if (wake) cv_.notify_one();
}

void HepCapture::run() {
  std::vector<std::string> batch;
  std::unique_lock lock(mu_);
  while (true) {
    if (queue_.empty()) {
      if (stopping_) return;
      senderWaits_ = Wait::FirstPacket;
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    }
    if (!stopping_ && queue_.size() < kHepSendBatch) {
      senderWaits_ = Wait::FullBatch;
      cv_.wait_for(lock, kHepGatherWindow,
                   [this] { return stopping_ || queue_.size() >= kHepSendBatch; });
    }
    senderWaits_ = Wait::None;
    batch.swap(queue_);
    queuedBytes_ = 0;
    lock.unlock();
    sendBatch(batch);
    batch.clear();
    lock.lock();
  }
}

void HepCapture::sendBatch(std::vector<std::string>& batch) {
  mmsghdr msgs[kHepSendBatch];
  iovec iovs[kHepSendBatch];
  size_t i = 0;
  while (i < batch.size()) {
    const size_t n = std::min(kHepSendBatch, batch.size() - i);
    for (size_t k = 0; k < n; ++k) {
      iovs[k].iov_base = batch[i + k].data();
      iovs[k].iov_len = batch[i + k].size();
      msgs[k] = mmsghdr{};
      msgs[k].msg_hdr.msg_iov = &iovs[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
    }
    int r = ::sendmmsg(fd_, msgs, static_cast<unsigned>(n), MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      // The first packet failed (an ICMP refusal reported late, no route):
      // count it and go on with the rest.
      sendErrors_.fetch_add(1, std::memory_order_relaxed);
      ++i;
      continue;
    }
    sent_.fetch_add(static_cast<uint64_t>(r), std::memory_order_relaxed);
    i += static_cast<size_t>(r);
  }
}

HepStats HepCapture::stats() const {
  HepStats s;
  s.captured = captured_.load(std::memory_order_relaxed);
  s.sent = sent_.load(std::memory_order_relaxed);
  s.droppedQueueFull = droppedQueueFull_.load(std::memory_order_relaxed);
  s.droppedTooLarge = droppedTooLarge_.load(std::memory_order_relaxed);
  s.sendErrors = sendErrors_.load(std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  s.queued = queue_.size();
  return s;
}

}  // namespace tollgate::mgmt
