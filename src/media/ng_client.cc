#include "media/ng_client.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace tollgate::media {
namespace {

// An ng reply holding a `query` of a call with several streams fits well
// inside one datagram; rtpengine never sends more than 64 KiB.
constexpr size_t kMaxReply = 65'535;
// Cookies: 16 characters of [0-9a-z] (~82 bits), unique per request.
constexpr size_t kCookieLength = 16;

NgReply failure(NgError e, std::string_view reason) {
  NgReply r;
  r.error = e;
  r.reason = std::string(reason);
  return r;
}

}  // namespace

NgClient::NgClient(const MediaSettings& settings, EventLoop& loop, Random& random)
    : settings_(settings), loop_(loop), random_(random) {
  for (const EngineSettings& e : settings.engines) {
    Engine en;
    en.settings = e;
    en.stats.address = e.address.toString();
    engines_.push_back(std::move(en));
  }
  pingTimer_.setCallback([this] { ping(); });
}

NgClient::~NgClient() {
  // Shutdown: callbacks still waiting run now with a failure (a relayed
  // call's CDR waits in one: it is written without figures rather than
  // lost), and every session we still hold gets one fire-and-forget delete,
  // so a stopped node leaves nothing on the engines.
  closing_ = true;
  std::vector<std::unique_ptr<Request>> pending;
  for (auto& [id, r] : requests_) pending.push_back(std::move(r));
  requests_.clear();
  byCookie_.clear();
  for (auto& r : pending) {
    r->timer.cancel();
    if (r->cb) r->cb(failure(NgError::Timeout, "shutting down"));
  }
  for (const auto& [key, engine] : affinity_) {
    Bencode cmd;
    cmd.set("command", "delete");
    cmd.set("call-id", key);
    cmd.set("delete delay", 0);
    const std::string datagram = random_.token(kCookieLength) + " " + cmd.encode();
    sockaddr_storage ss{};
    socklen_t len = engines_[engine].settings.address.toSockaddr(&ss);
    (void)::sendto(socketFor(engine), datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                   reinterpret_cast<const sockaddr*>(&ss), len);
  }
  for (int fd : {fd4_, fd6_}) {
    if (fd < 0) continue;
    loop_.remove(fd);
    ::close(fd);
  }
}

Result<Ok, std::string> NgClient::start() {
  if (engines_.empty()) return Ok{};
  for (const Engine& e : engines_) {
    const bool v6 = e.settings.address.ip().family() == AF_INET6;
    int& fd = v6 ? fd6_ : fd4_;
    if (fd >= 0) continue;
    fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Err(std::string("media: socket: ") + std::strerror(errno));
    const int f = fd;
    loop_.add(fd, EPOLLIN, [this, f](uint32_t) { onReadable(f); });
  }
  ping();
  return Ok{};
}

int NgClient::socketFor(int engine) const {
  return engines_[engine].settings.address.ip().family() == AF_INET6 ? fd6_ : fd4_;
}

int NgClient::pickEngine(const Request& r) const {
  if (!r.key.empty()) {
    auto it = affinity_.find(r.key);
    if (it != affinity_.end()) return it->second;
  }
  // Weighted random choice among the healthy engines this request has not
  // timed out on; when none is healthy, among the down ones: an engine that
  // missed a reply under load is still better than refusing every call
  // until its next ping.
  for (bool wantUp : {true, false}) {
    auto eligible = [&](size_t i) {
      if (engines_[i].stats.up != wantUp || engines_[i].settings.weight <= 0) return false;
      return std::find(r.tried.begin(), r.tried.end(), static_cast<int>(i)) == r.tried.end();
    };
    int64_t total = 0;
    for (size_t i = 0; i < engines_.size(); ++i) {
      if (eligible(i)) total += engines_[i].settings.weight;
    }
    if (total == 0) continue;
    int64_t pick = static_cast<int64_t>(random_.next64() % static_cast<uint64_t>(total));
    for (size_t i = 0; i < engines_.size(); ++i) {
      if (!eligible(i)) continue;
      pick -= engines_[i].settings.weight;
      if (pick < 0) return static_cast<int>(i);
    }
  }
  return -1;
}

NgClient::RequestId NgClient::send(std::string_view key, Bencode command, Callback cb,
                                   bool endsSession) {
  if (closing_) return 0;  // shutting down: nothing new starts
  auto r = std::make_unique<Request>();
  r->id = nextId_++;
  r->key = std::string(key);
  r->payload = command.encode();
  r->endsSession = endsSession;
  r->cb = std::move(cb);
  const RequestId id = r->id;
  Request& req = *r;
  requests_.emplace(id, std::move(r));
  req.timer.setCallback([this, id] { onTimer(id); });
  req.engine = pickEngine(req);
  if (req.engine < 0) {
    // Reported from the loop, never inside send(): the caller may not be
    // ready to be called back yet.
    ++noEngine_;
    req.tries = settings_.tries;
    req.timer.start(loop_.timers(), Millis(0));
    return id;
  }
  transmit(req);
  return id;
}

void NgClient::transmit(Request& r) {
  Engine& e = engines_[r.engine];
  if (r.tries == 0) {
    ++e.stats.requests;
    if (!r.cookie.empty()) byCookie_.erase(r.cookie);
    r.cookie = random_.token(kCookieLength);
    byCookie_[r.cookie] = r.id;
  } else {
    ++e.stats.retransmits;
  }
  ++r.tries;
  std::string datagram = r.cookie;
  datagram += ' ';
  datagram += r.payload;
  sockaddr_storage ss{};
  socklen_t len = e.settings.address.toSockaddr(&ss);
  const int fd = socketFor(r.engine);
  // A full socket buffer or an unreachable engine shows as a missing reply:
  // the retransmission timer covers both.
  (void)::sendto(fd, datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&ss), len);
  r.timer.start(loop_.timers(), settings_.retransmit);
}

void NgClient::onTimer(RequestId id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  Request& r = *it->second;
  if (r.engine < 0) {
    complete(id, failure(NgError::NoEngine, "no media engine"));
    return;
  }
  if (r.tries < settings_.tries) {
    transmit(r);
    return;
  }
  // Every try went unanswered: the engine is down for new sessions.
  Engine& e = engines_[r.engine];
  ++e.stats.timeouts;
  setUp(r.engine, false);
  const bool bound = !r.key.empty() && affinity_.count(r.key) != 0;
  if (!r.ping && !bound) {
    // A new session goes to the next healthy engine.
    r.tried.push_back(r.engine);
    r.engine = pickEngine(r);
    r.tries = 0;
    if (r.engine >= 0) {
      transmit(r);
      return;
    }
    ++noEngine_;
    complete(id, failure(NgError::NoEngine, "no media engine"));
    return;
  }
  complete(id, failure(NgError::Timeout, "media engine timeout"));
}

void NgClient::onReadable(int fd) {
  std::vector<char>& buf = recvBuffer_;
  if (buf.size() < kMaxReply) buf.resize(kMaxReply);
  // Bounded per wake-up so a flood on this socket cannot starve the loop.
  for (int n = 0; n < 64; ++n) {
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    ssize_t got =
        ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&ss), &sl);
    if (got < 0) return;
    std::string_view d(buf.data(), static_cast<size_t>(got));
    size_t sp = d.find(' ');
    if (sp == std::string_view::npos) {
      ++badReplies_;
      continue;
    }
    auto c = byCookie_.find(std::string(d.substr(0, sp)));
    if (c == byCookie_.end()) {
      ++badReplies_;  // late (already completed) or foreign
      continue;
    }
    const RequestId id = c->second;
    Request& r = *requests_.at(id);
    // Only the engine we asked may answer.
    if (r.engine < 0 || !(net::SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&ss)) ==
                          engines_[r.engine].settings.address)) {
      ++badReplies_;
      continue;
    }
    auto body = Bencode::decode(d.substr(sp + 1));
    if (!body.ok() || !body->isDict()) {
      ++badReplies_;
      continue;  // retransmission may still bring a good one
    }
    setUp(r.engine, true);
    NgReply reply;
    if (body->strAt("result") == "error") {
      ++engines_[r.engine].stats.errors;
      reply.error = NgError::Rejected;
      reply.reason = std::string(body->strAt("error-reason"));
    } else {
      reply.ok = true;
    }
    if (reply.ok && !r.key.empty() && !r.endsSession && affinity_.count(r.key) == 0) {
      affinity_[r.key] = r.engine;
      ++engines_[r.engine].stats.sessions;
    }
    reply.body = std::move(*body);
    complete(id, std::move(reply));
  }
}

void NgClient::complete(RequestId id, NgReply&& reply) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  std::unique_ptr<Request> r = std::move(it->second);
  requests_.erase(it);
  if (!r->cookie.empty()) byCookie_.erase(r->cookie);
  r->timer.cancel();
  if (r->ping && r->engine >= 0) engines_[r->engine].pingInFlight = false;
  if (r->endsSession) {
    auto a = affinity_.find(r->key);
    if (a != affinity_.end()) {
      uint64_t& s = engines_[a->second].stats.sessions;
      if (s > 0) --s;
      affinity_.erase(a);
    }
  }
  if (r->cb) r->cb(std::move(reply));
}

void NgClient::cancel(RequestId id) {
  auto it = requests_.find(id);
  if (it != requests_.end()) it->second->cb = nullptr;
}

void NgClient::ping() {
  for (size_t i = 0; i < engines_.size(); ++i) {
    Engine& e = engines_[i];
    if (e.pingInFlight) continue;
    e.pingInFlight = true;
    auto r = std::make_unique<Request>();
    r->id = nextId_++;
    r->ping = true;
    r->engine = static_cast<int>(i);
    Bencode cmd;
    cmd.set("command", "ping");
    r->payload = cmd.encode();
    const RequestId id = r->id;
    Request& req = *r;
    requests_.emplace(id, std::move(r));
    req.timer.setCallback([this, id] { onTimer(id); });
    transmit(req);
  }
  pingTimer_.start(loop_.timers(), settings_.pingInterval);
}

void NgClient::setUp(int engine, bool up) {
  Engine& e = engines_[engine];
  if (e.stats.up == up) return;
  e.stats.up = up;
  if (!up) ++e.stats.downs;
  log::warn(up ? "media.engine_up" : "media.engine_down").kv("engine", e.stats.address);
}

NgStats NgClient::stats() const {
  NgStats s;
  for (const Engine& e : engines_) s.engines.push_back(e.stats);
  s.noEngine = noEngine_;
  s.badReplies = badReplies_;
  return s;
}

}  // namespace tollgate::media
