// The management API's connection intake (api_intake.h).
#include "mgmt/api_intake.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "common/ascii.h"
#include "common/log.h"

namespace tollgate::mgmt {
namespace {

// Bytes read per read call while a head or body comes in.
constexpr size_t kReadChunk = 4096;
// Connections accepted per listener wake-up, so one listener cannot starve
// the rest of the loop.
constexpr int kAcceptBurst = 64;
// Deadlines are checked this often: their precision.
constexpr int kSweepIntervalMs = 100;
constexpr int kMaxEvents = 64;
// Out of descriptors: listeners rest this long instead of spinning on a
// listen queue that accept() cannot drain.
constexpr auto kListenPauseOnEmfile = std::chrono::milliseconds(100);

// The connection-limit key: an IPv4 address, or an IPv6 /64 (a host usually
// has a whole /64, so each of its addresses is no separate source).
std::string sourceKey(const net::IpAddress& ip) {
  if (ip.isV4()) return ip.toString();
  const uint8_t* b = ip.bytes();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%x:%x:%x:%x::/64", (b[0] << 8) | b[1], (b[2] << 8) | b[3],
                (b[4] << 8) | b[5], (b[6] << 8) | b[7]);
  return buf;
}

// Index just past the empty line that ends a request head (CRLF, or bare
// LF as cpp-httplib also accepts), or npos.
size_t headEnd(std::string_view in) {
  size_t crlf = in.find("\r\n\r\n");
  size_t lf = in.find("\n\n");
  crlf = crlf == std::string_view::npos ? crlf : crlf + 4;
  lf = lf == std::string_view::npos ? lf : lf + 2;
  return std::min(crlf, lf);
}

using ascii::iequals;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// What the intake needs to know of a head to find the end of the request:
// the body framing (RFC 9112 §6) and whether the client waits for
// 100 Continue (RFC 9110 §10.1.1). Parsing proper is cpp-httplib's.
struct HeadInfo {
  bool chunked = false;     // any Transfer-Encoding: the body's end is not known here
  bool lengthValid = true;  // one well-formed Content-Length (or none)
  size_t contentLength = 0;
  bool expectContinue = false;
};

HeadInfo scanHead(std::string_view head) {
  HeadInfo h;
  bool seenLength = false;
  size_t pos = head.find('\n');  // skip the request line
  while (pos != std::string_view::npos && pos + 1 < head.size()) {
    const size_t start = pos + 1;
    pos = head.find('\n', start);
    std::string_view line =
        head.substr(start, (pos == std::string_view::npos ? head.size() : pos) - start);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Transfer-Encoding")) {
      h.chunked = true;
    } else if (iequals(name, "Content-Length")) {
      size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() ||
          (seenLength && n != h.contentLength)) {
        h.lengthValid = false;
      }
      seenLength = true;
      h.contentLength = n;
    } else if (iequals(name, "Expect") && iequals(value, "100-continue")) {
      h.expectContinue = true;
    }
  }
  return h;
}

// Closes with RST: no FIN handshake, nothing left in TIME_WAIT, nothing for
// the peer to read.
void resetAndClose(int fd) {
  linger l{1, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

std::string cannedResponse(int status, const char* reason, const char* code, const char* message) {
  std::string body =
      std::string("{\"error\":\"") + code + "\",\"field\":null,\"message\":\"" + message + "\"}\n";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
         "X-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

ApiIntake::ApiIntake(ApiConnectionLimits limits, const AccessList& access, ApiCounters& counters,
                     SSL_CTX* tls, std::vector<int> listenFds, Dispatch dispatch)
    : limits_(limits),
      access_(access),
      counters_(counters),
      tls_(tls),
      listenFds_(std::move(listenFds)),
      dispatch_(std::move(dispatch)) {
  epollFd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wakeFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

ApiIntake::~ApiIntake() {
  stop();
  closeReturned();
  if (epollFd_ >= 0) ::close(epollFd_);
  if (wakeFd_ >= 0) ::close(wakeFd_);
}

bool ApiIntake::start() {
  if (epollFd_ < 0 || wakeFd_ < 0) return false;
  for (int fd : listenFds_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    (void)::epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wakeFd_;
  (void)::epoll_ctl(epollFd_, EPOLL_CTL_ADD, wakeFd_, &ev);
  thread_ = std::thread([this] { run(); });
  return true;
}

void ApiIntake::stop() {
  if (thread_.joinable()) {
    stopping_ = true;
    uint64_t one = 1;
    (void)::write(wakeFd_, &one, sizeof one);
    thread_.join();
  }
  for (int fd : listenFds_) ::close(fd);
  listenFds_.clear();
  while (!conns_.empty()) closeConn(*conns_.begin()->second, true);
}

void ApiIntake::closeReturned() {
  std::vector<std::unique_ptr<ApiConn>> back;
  {
    std::lock_guard lock(returnedMu_);
    back.swap(returned_);
  }
  for (auto& c : back) {
    if (c->ssl) SSL_free(c->ssl);
    ::close(c->fd);
  }
}

void ApiIntake::handBack(std::unique_ptr<ApiConn> c) {
  {
    std::lock_guard lock(returnedMu_);
    returned_.push_back(std::move(c));
  }
  uint64_t one = 1;
  (void)::write(wakeFd_, &one, sizeof one);
}

void ApiIntake::run() {
  epoll_event events[kMaxEvents];
  auto nextSweep = Clock::now();
  bool listenersPaused = false;
  Clock::time_point resumeListeners{};
  while (!stopping_.load()) {
    int n = ::epoll_wait(epollFd_, events, kMaxEvents, kSweepIntervalMs);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wakeFd_) {
        uint64_t v;
        (void)::read(wakeFd_, &v, sizeof v);
        std::vector<std::unique_ptr<ApiConn>> back;
        {
          std::lock_guard lock(returnedMu_);
          back.swap(returned_);
        }
        for (auto& c : back) adopt(std::move(c));
        continue;
      }
      if (std::find(listenFds_.begin(), listenFds_.end(), fd) != listenFds_.end()) {
        acceptFrom(fd);
        if (emfile_ && !listenersPaused) {
          for (int l : listenFds_) (void)::epoll_ctl(epollFd_, EPOLL_CTL_DEL, l, nullptr);
          listenersPaused = true;
          resumeListeners = Clock::now() + kListenPauseOnEmfile;
        }
        continue;
      }
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;  // dispatched or closed meanwhile
      (void)advance(*it->second);
    }
    const auto now = Clock::now();
    if (listenersPaused && now >= resumeListeners) {
      emfile_ = false;
      listenersPaused = false;
      for (int l : listenFds_) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = l;
        (void)::epoll_ctl(epollFd_, EPOLL_CTL_ADD, l, &ev);
      }
    }
    if (now >= nextSweep) {
      sweep(now);
      nextSweep = now + std::chrono::milliseconds(kSweepIntervalMs);
    }
  }
}

void ApiIntake::logRefused(const net::SockAddr& peer, std::string_view reason) {
  if (auto n = refusedLog_.tick()) {
    log::warn("api.connection_refused")
        .kv("source", peer.toString())
        .kv("reason", reason)
        .kv("refused_since_last_line", *n);
  }
}

void ApiIntake::acceptFrom(int listenFd) {
  for (int k = 0; k < kAcceptBurst; ++k) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd =
        ::accept4(listenFd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        emfile_ = true;
        log::error("api.accept_failed").kv("error", std::strerror(errno));
      }
      return;
    }
    const net::SockAddr peer = net::SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&ss));
    // Web access control, before a byte is read or written.
    if (!access_.allows(peer.ip())) {
      resetAndClose(fd);
      counters_.refusedNotAllowed.fetch_add(1, std::memory_order_relaxed);
      logRefused(peer, "not_allowed");
      continue;
    }
    std::string source = sourceKey(peer.ip());
    auto held = perSource_.find(source);
    if (held != perSource_.end() && held->second >= limits_.maxConnectionsPerSource) {
      resetAndClose(fd);
      counters_.refusedPerSource.fetch_add(1, std::memory_order_relaxed);
      logRefused(peer, "per_source");
      continue;
    }
    if (open_ >= limits_.maxConnections && !makeRoom()) {
      resetAndClose(fd);
      counters_.refusedTableFull.fetch_add(1, std::memory_order_relaxed);
      logRefused(peer, "table_full");
      continue;
    }
    int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<ApiConn>();
    c->fd = fd;
    c->peer = peer;
    c->source = std::move(source);
    sockaddr_storage ls;
    socklen_t llen = sizeof ls;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ls), &llen) == 0) {
      c->local = net::SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&ls));
    }
    ++perSource_[c->source];
    ++open_;
    counters_.connectionsAccepted.fetch_add(1, std::memory_order_relaxed);
    const auto now = Clock::now();
    if (tls_) {
      c->ssl = SSL_new(tls_);
      SSL_set_fd(c->ssl, fd);
      c->stage = ApiConn::Stage::Handshake;
      c->since = now;
      c->deadline = now + std::chrono::milliseconds(limits_.tlsHandshakeTimeoutMs);
    } else {
      startHead(*c, false);
    }
    ApiConn& ref = *c;
    conns_.emplace(fd, std::move(c));
    (void)advance(ref);
  }
}

// At the cap: closes the oldest unfinished connection (handshake, head,
// body, or idle between requests) of the source that holds the most of
// them, so that a source with few connections (an operator) is never the
// one to go while a source with many (a flood) has any left.
bool ApiIntake::makeRoom() {
  std::unordered_map<std::string_view, std::pair<size_t, ApiConn*>> bySource;
  for (auto& [fd, c] : conns_) {
    if (c->stage == ApiConn::Stage::Flush) continue;
    auto& [count, oldest] = bySource[c->source];
    ++count;
    if (oldest == nullptr || c->since < oldest->since) oldest = c.get();
  }
  ApiConn* victim = nullptr;
  size_t most = 0;
  for (auto& [source, entry] : bySource) {
    if (entry.first > most || (entry.first == most && entry.second->since < victim->since)) {
      most = entry.first;
      victim = entry.second;
    }
  }
  if (victim == nullptr) return false;
  counters_.count(IntakeClose::Evicted);
  logClose(*victim, intakeCloseName(IntakeClose::Evicted));
  closeConn(*victim, true);
  return true;
}

void ApiIntake::adopt(std::unique_ptr<ApiConn> c) {
  if (stopping_.load()) {
    if (c->ssl) SSL_free(c->ssl);
    ::close(c->fd);
    return;
  }
  c->stage = ApiConn::Stage::Flush;
  c->since = Clock::now();
  c->deadline = c->since + std::chrono::seconds(kApiWriteTimeoutSeconds);
  c->events = 0;
  ApiConn& ref = *c;
  conns_.emplace(ref.fd, std::move(c));
  (void)advance(ref);
}

void ApiIntake::startHead(ApiConn& c, bool keepAlive) {
  const auto now = Clock::now();
  c.stage = ApiConn::Stage::Head;
  c.bodyRead = true;
  c.idle = keepAlive && c.in.empty();
  c.since = now;
  c.deadline = c.idle ? now + std::chrono::seconds(kApiKeepAliveSeconds)
                      : now + std::chrono::milliseconds(limits_.requestHeadTimeoutMs);
}

void ApiIntake::answerAndClose(ApiConn& c, int status, const char* reason, const char* code,
                               const char* message) {
  c.out = cannedResponse(status, reason, code, message);
  c.close = true;
  c.stage = ApiConn::Stage::Flush;
  c.since = Clock::now();
  c.deadline = c.since + std::chrono::seconds(kApiWriteTimeoutSeconds);
}

ApiIntake::Io ApiIntake::readSome(ApiConn& c) {
  char buf[kReadChunk];
  if (c.ssl) {
    ERR_clear_error();
    int r = SSL_read(c.ssl, buf, sizeof buf);
    if (r > 0) {
      c.in.append(buf, static_cast<size_t>(r));
      return Io::Done;
    }
    switch (SSL_get_error(c.ssl, r)) {
      case SSL_ERROR_WANT_READ:
        return Io::WantRead;
      case SSL_ERROR_WANT_WRITE:
        return Io::WantWrite;
      case SSL_ERROR_ZERO_RETURN:
        return Io::Eof;
      default:
        return Io::Error;
    }
  }
  while (true) {
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      return Io::Done;
    }
    if (n == 0) return Io::Eof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::WantRead;
    return Io::Error;
  }
}

ApiIntake::Io ApiIntake::flush(ApiConn& c) {
  while (!c.out.empty()) {
    if (c.ssl) {
      ERR_clear_error();
      int r =
          SSL_write(c.ssl, c.out.data(), static_cast<int>(std::min<size_t>(c.out.size(), 1 << 20)));
      if (r > 0) {
        c.out.erase(0, static_cast<size_t>(r));
        continue;
      }
      switch (SSL_get_error(c.ssl, r)) {
        case SSL_ERROR_WANT_READ:
          return Io::WantRead;
        case SSL_ERROR_WANT_WRITE:
          return Io::WantWrite;
        default:
          return Io::Error;
      }
    }
    ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Io::WantWrite;
    return Io::Error;
  }
  return Io::Done;
}

void ApiIntake::watch(ApiConn& c, Io wait) {
  const uint32_t events = wait == Io::WantWrite ? EPOLLOUT : EPOLLIN;
  if (c.events == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = c.fd;
  (void)::epoll_ctl(epollFd_, c.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev);
  c.events = events;
}

ApiIntake::Progress ApiIntake::advance(ApiConn& c) {
  // 1. Output first: a served response, a refusal, or 100 Continue.
  if (!c.out.empty()) {
    Io r = flush(c);
    if (r == Io::Error) {
      closeConn(c, true);
      return Progress::Closed;
    }
    if (r != Io::Done) {
      watch(c, r);
      return Progress::Wait;
    }
  }
  if (c.stage == ApiConn::Stage::Flush) {
    if (c.close || c.requests >= kApiMaxRequestsPerConnection) {
      closeConn(c, false);
      return Progress::Closed;
    }
    startHead(c, true);
  }
  // 2. The TLS handshake.
  if (c.stage == ApiConn::Stage::Handshake) {
    ERR_clear_error();
    int r = SSL_accept(c.ssl);
    if (r != 1) {
      const int e = SSL_get_error(c.ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        watch(c, e == SSL_ERROR_WANT_WRITE ? Io::WantWrite : Io::WantRead);
        return Progress::Wait;
      }
      counters_.tlsHandshakeFailed.fetch_add(1, std::memory_order_relaxed);
      log::debug("api.tls_handshake_failed").kv("source", c.peer.toString());
      closeConn(c, true);
      return Progress::Closed;
    }
    startHead(c, false);
  }
  // 3. The head, then a small body.
  while (true) {
    if (c.stage == ApiConn::Stage::Head) {
      const size_t end = headEnd(c.in);
      const bool found = end != std::string_view::npos;
      if ((found && end > kApiMaxHeadBytes) || (!found && c.in.size() > kApiMaxHeadBytes)) {
        counters_.count(IntakeClose::HeadTooLarge);
        logClose(c, intakeCloseName(IntakeClose::HeadTooLarge));
        answerAndClose(c, 431, "Request Header Fields Too Large", "too_large",
                       "the request head is too large");
        return advance(c);
      }
      if (found) {
        const HeadInfo h = scanHead(std::string_view(c.in).substr(0, end));
        const bool small = !h.chunked && h.lengthValid && h.contentLength <= kApiIntakeBodyBytes;
        c.bodyRead = small;
        c.bodyEnd = small ? end + h.contentLength : end;
        if (!small || c.in.size() >= c.bodyEnd) return dispatch(c);
        c.stage = ApiConn::Stage::Body;
        if (h.expectContinue) {
          // RFC 9110 §10.1.1: the client waits for this before the body.
          // cpp-httplib sends its own 100 later; a client must accept any
          // number of 1xx answers (RFC 9110 §15.2).
          c.out = "HTTP/1.1 100 Continue\r\n\r\n";
          return advance(c);
        }
        continue;
      }
    } else if (c.stage == ApiConn::Stage::Body && c.in.size() >= c.bodyEnd) {
      return dispatch(c);
    }
    const size_t before = c.in.size();
    Io r = readSome(c);
    if (r == Io::Eof || r == Io::Error) {
      // The client went away (or broke the stream) between requests or
      // before finishing one.
      closeConn(c, r == Io::Error);
      return Progress::Closed;
    }
    if (r != Io::Done) {
      watch(c, r);
      return Progress::Wait;
    }
    if (c.idle && c.in.size() > before) {
      // The next request starts: its head has its own deadline.
      c.idle = false;
      c.since = Clock::now();
      c.deadline = c.since + std::chrono::milliseconds(limits_.requestHeadTimeoutMs);
    }
  }
}

ApiIntake::Progress ApiIntake::dispatch(ApiConn& c) {
  const int fd = c.fd;
  if (c.events != 0) {
    (void)::epoll_ctl(epollFd_, EPOLL_CTL_DEL, fd, nullptr);
    c.events = 0;
  }
  c.stage = ApiConn::Stage::Served;
  auto it = conns_.find(fd);
  if (dispatch_(it->second)) {
    conns_.erase(it);
    return Progress::Dispatched;
  }
  counters_.refusedBusy.fetch_add(1, std::memory_order_relaxed);
  logRefused(c.peer, "busy");
  answerAndClose(c, 503, "Service Unavailable", "busy",
                 "every connection thread is busy; try again");
  return advance(c);
}

void ApiIntake::sweep(Clock::time_point now) {
  std::vector<std::pair<ApiConn*, IntakeClose>> expired;
  for (auto& [fd, c] : conns_) {
    if (now < c->deadline) continue;
    IntakeClose why = IntakeClose::HeadTimeout;
    switch (c->stage) {
      case ApiConn::Stage::Handshake:
        why = IntakeClose::TlsHandshakeTimeout;
        break;
      case ApiConn::Stage::Flush:
        why = IntakeClose::WriteTimeout;
        break;
      default:
        why = c->idle ? IntakeClose::IdleKeepAlive : IntakeClose::HeadTimeout;
    }
    expired.emplace_back(c.get(), why);
  }
  for (auto [c, why] : expired) {
    counters_.count(why);
    if (why != IntakeClose::IdleKeepAlive) logClose(*c, intakeCloseName(why));
    closeConn(*c, why != IntakeClose::IdleKeepAlive);
  }
}

void ApiIntake::logClose(const ApiConn& c, std::string_view reason) {
  if (auto n = closedLog_.tick()) {
    log::warn("api.connection_closed")
        .kv("source", c.peer.toString())
        .kv("reason", reason)
        .kv("closed_since_last_line", *n);
  }
}

void ApiIntake::closeConn(ApiConn& c, bool reset) {
  const int fd = c.fd;
  if (c.ssl) {
    if (!reset) {
      ERR_clear_error();
      (void)SSL_shutdown(c.ssl);  // one try: close_notify if it fits
    }
    SSL_free(c.ssl);
    ERR_clear_error();
    c.ssl = nullptr;
  }
  if (c.events != 0) (void)::epoll_ctl(epollFd_, EPOLL_CTL_DEL, fd, nullptr);
  auto held = perSource_.find(c.source);
  if (held != perSource_.end() && --held->second == 0) perSource_.erase(held);
  --open_;
  if (reset) {
    resetAndClose(fd);
  } else {
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }
  conns_.erase(fd);  // destroys c
}

}  // namespace tollgate::mgmt
