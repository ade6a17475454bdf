// The Redis link: sockets, TLS, Sentinel and reconnection on the worker's
// loop. See redis_link.h.
//
// Three connections at most: `main` carries commands (and the PINGs that
// measure latency), `sub` the SUBSCRIBEs and the messages they bring, and
// `sentinel` (with Sentinel only) stays subscribed to +switch-master on one
// Sentinel so a failover moves the link at once. The link is up when main
// has passed AUTH, SELECT and ROLE (master) and sub has its subscriptions.
#include "cluster/redis_link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <map>

#include "cluster/resp.h"
#include "common/log.h"
#include "common/net.h"

namespace tollgate::cluster {
namespace {

// Bytes read per read(2)/SSL_read call; a loop iteration reads until EAGAIN.
constexpr size_t kReadChunk = 64 * 1024;
// Bytes of unsent commands one connection may hold: with kMaxPendingCommands
// small commands it stays far below; beyond it Redis is not reading and the
// connection is given up.
constexpr size_t kMaxWriteBuffer = 64u << 20;

std::string addressText(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

bool isError(const RedisReply* r, std::string_view prefix) {
  return r != nullptr && r->isError() && r->str.compare(0, prefix.size(), prefix) == 0;
}

// OpenSSL's last error as text (and the queue emptied).
std::string sslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "tls error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

RedisScript::RedisScript(std::string source) : source_(std::move(source)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(source_.data()), source_.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  sha1_.reserve(2 * SHA_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    sha1_.push_back(kHex[b >> 4]);
    sha1_.push_back(kHex[b & 15]);
  }
}

// One RESP connection, plain TCP or TLS, non-blocking on the loop. Replies
// are matched to commands in order (RESP2 answers in order); on a
// subscriber connection, "message" arrays are handed to onMessage instead.
// Every failure (refused, reset, EOF, protocol error, a reply overdue)
// closes it and reports onFail once; pending callbacks then get nullptr.
class RedisConn {
 public:
  struct Pending {
    RedisCallback done;
    MonoTime deadline;
  };

  RedisConn(EventLoop& loop, const ClusterSettings& settings, SSL_CTX* tls, RedisLinkStats& stats)
      : loop_(loop), settings_(settings), tls_(tls), stats_(stats) {
    connectTimer_.setCallback([this] { fail("connect timeout"); });
    replyTimer_.setCallback([this] { checkOverdue(); });
  }
  // Destruction tells nobody: owners of callbacks may be gone already.
  ~RedisConn() {
    pending_.clear();
    close();
  }
  RedisConn(const RedisConn&) = delete;
  RedisConn& operator=(const RedisConn&) = delete;

  std::function<void()> onReady;
  std::function<void(const std::string& why)> onFail;
  std::function<void(std::string_view channel, std::string_view message)> onMessage;

  const std::string& address() const { return address_; }
  bool open() const { return state_ == State::Open; }
  bool closed() const { return state_ == State::Closed; }
  size_t pending() const { return pending_.size(); }
  bool hasOutput() const { return outOff_ < out_.size(); }

  void connect(const std::string& host, uint16_t port) {
    address_ = addressText(host, port);
    host_ = host;
    auto ip = net::IpAddress::parse(host);
    if (!ip) {
      failSoon("not an IP address: " + host);
      return;
    }
    net::SockAddr sa(*ip, port);
    sockaddr_storage ss{};
    socklen_t len = sa.toSockaddr(&ss);
    fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      failSoon(std::string("socket: ") + strerror(errno));
      return;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    state_ = State::Connecting;
    int rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len);
    if (rc != 0 && errno != EINPROGRESS) {
      failSoon(std::string("connect: ") + strerror(errno));
      return;
    }
    loop_.add(fd_, EPOLLIN | EPOLLOUT, [this](uint32_t ev) { onEvents(ev); });
    registered_ = true;
    events_ = EPOLLIN | EPOLLOUT;
    connectTimer_.start(loop_.timers(), settings_.connectTimeout);
  }

  // Queues one command; it leaves at the next flush (end of the loop
  // iteration) together with every other command queued meanwhile.
  void send(const std::vector<std::string>& argv, RedisCallback done) {
    encodeCommand(argv, &out_);
    pending_.push_back({std::move(done), loop_.clock().now() + settings_.timeout});
    if (!replyTimer_.active()) replyTimer_.start(loop_.timers(), settings_.timeout);
  }

  // Writes what is queued, as far as the socket takes it.
  void flush() {
    if (state_ != State::Open || !hasOutput()) return;
    writeSome();
  }

  // Closes the socket; pending callbacks get nullptr. No onFail.
  void close() {
    if (state_ == State::Closed) return;
    state_ = State::Closed;
    connectTimer_.cancel();
    replyTimer_.cancel();
    if (registered_) loop_.remove(fd_);
    registered_ = false;
    if (ssl_ != nullptr) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    std::deque<Pending> failed;
    failed.swap(pending_);
    for (Pending& p : failed) {
      if (p.done) p.done(nullptr);
    }
  }

 private:
  enum class State : uint8_t { Idle, Connecting, Handshaking, Open, Closed };

  void failSoon(std::string why) {
    // From connect(): report on the next turn of the loop, never from inside
    // the caller's call.
    state_ = State::Connecting;
    connectTimer_.setCallback([this, why = std::move(why)] { fail(why); });
    connectTimer_.start(loop_.timers(), Millis(0));
  }

  void fail(const std::string& why) {
    if (state_ == State::Closed) return;
    close();
    if (onFail) onFail(why);
  }

  void setEvents(uint32_t ev) {
    if (ev == events_ || !registered_) return;
    loop_.modify(fd_, ev);
    events_ = ev;
  }

  void onEvents(uint32_t ev) {
    if (state_ == State::Connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        fail(std::string("connect: ") + strerror(err));
        return;
      }
      if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
      if (tls_ != nullptr) {
        if (!startTls()) return;
      } else {
        becomeOpen();
        return;
      }
    }
    if (state_ == State::Handshaking) {
      handshake();
      return;
    }
    if (state_ != State::Open) return;
    if ((ev & EPOLLOUT) != 0 || wantReadForWrite_) writeSome();
    if (state_ != State::Open) return;
    if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0 || wantWriteForRead_) readSome();
  }

  bool startTls() {
    ssl_ = SSL_new(tls_);
    if (ssl_ == nullptr) {
      fail("tls: " + sslError());
      return false;
    }
    SSL_set_fd(ssl_, fd_);
    const std::string& name = settings_.tlsServerName.empty() ? host_ : settings_.tlsServerName;
    if (!net::IpAddress::parse(name)) SSL_set_tlsext_host_name(ssl_, name.c_str());
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    if (net::IpAddress::parse(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
    }
    SSL_set_verify(ssl_, SSL_VERIFY_PEER, nullptr);
    state_ = State::Handshaking;
    handshake();
    return state_ != State::Closed;
  }

  void handshake() {
    ERR_clear_error();
    int rc = SSL_connect(ssl_);
    if (rc == 1) {
      becomeOpen();
      return;
    }
    int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ) {
      setEvents(EPOLLIN);
    } else if (e == SSL_ERROR_WANT_WRITE) {
      setEvents(EPOLLIN | EPOLLOUT);
    } else {
      long verify = SSL_get_verify_result(ssl_);
      fail("tls handshake: " +
           (verify != X509_V_OK ? std::string(X509_verify_cert_error_string(verify)) : sslError()));
    }
  }

  void becomeOpen() {
    connectTimer_.cancel();
    state_ = State::Open;
    setEvents(EPOLLIN);
    if (onReady) onReady();
    if (state_ == State::Open) flush();
  }

  void writeSome() {
    wantReadForWrite_ = false;
    while (hasOutput()) {
      const char* p = out_.data() + outOff_;
      size_t n = out_.size() - outOff_;
      ssize_t w;
      if (ssl_ != nullptr) {
        ERR_clear_error();
        int rc = SSL_write(ssl_, p, static_cast<int>(std::min<size_t>(n, 1 << 30)));
        if (rc <= 0) {
          int e = SSL_get_error(ssl_, rc);
          if (e == SSL_ERROR_WANT_WRITE) break;
          if (e == SSL_ERROR_WANT_READ) {
            wantReadForWrite_ = true;
            break;
          }
          fail("tls write: " + sslError());
          return;
        }
        w = rc;
      } else {
        w = ::send(fd_, p, n, MSG_NOSIGNAL);
        if (w < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          if (errno == EINTR) continue;
          fail(std::string("write: ") + strerror(errno));
          return;
        }
      }
      outOff_ += static_cast<size_t>(w);
    }
    if (!hasOutput()) {
      out_.clear();
      outOff_ = 0;
    } else if (out_.size() - outOff_ > kMaxWriteBuffer) {
      fail("write buffer full (Redis is not reading)");
      return;
    }
    setEvents(hasOutput() && !wantReadForWrite_ ? (EPOLLIN | EPOLLOUT) : EPOLLIN);
  }

  void readSome() {
    wantWriteForRead_ = false;
    char buf[kReadChunk];
    for (;;) {
      ssize_t n;
      if (ssl_ != nullptr) {
        ERR_clear_error();
        int rc = SSL_read(ssl_, buf, sizeof buf);
        if (rc <= 0) {
          int e = SSL_get_error(ssl_, rc);
          if (e == SSL_ERROR_WANT_READ) break;
          if (e == SSL_ERROR_WANT_WRITE) {
            wantWriteForRead_ = true;
            setEvents(EPOLLIN | EPOLLOUT);
            break;
          }
          fail(e == SSL_ERROR_ZERO_RETURN ? "closed by peer" : "tls read: " + sslError());
          return;
        }
        n = rc;
      } else {
        n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          if (errno == EINTR) continue;
          fail(std::string("read: ") + strerror(errno));
          return;
        }
        if (n == 0) {
          fail("closed by peer");
          return;
        }
      }
      if (!parser_.feed(std::string_view(buf, static_cast<size_t>(n)))) {
        fail("reply too large");
        return;
      }
      if (!deliver()) return;
      if (static_cast<size_t>(n) < sizeof buf && ssl_ == nullptr) break;
    }
  }

  // Hands complete replies to their callbacks; false when the connection
  // closed meanwhile.
  bool deliver() {
    for (;;) {
      bool error = false;
      std::optional<RedisReply> reply = parser_.next(&error);
      if (error) {
        fail("protocol error");
        return false;
      }
      if (!reply) return true;
      if (onMessage && reply->type == RedisReply::Type::Array && reply->elements.size() == 3 &&
          reply->elements[0].str == "message") {
        onMessage(reply->elements[1].str, reply->elements[2].str);
        if (state_ != State::Open) return false;
        continue;
      }
      if (pending_.empty()) {
        fail("reply without a command");
        return false;
      }
      Pending p = std::move(pending_.front());
      pending_.pop_front();
      if (reply->isError()) ++stats_.errors;
      if (p.done) p.done(&*reply);
      if (state_ != State::Open) return false;
    }
  }

  // The oldest command is the first to be overdue (replies come in order).
  void checkOverdue() {
    if (pending_.empty()) return;
    MonoTime now = loop_.clock().now();
    if (pending_.front().deadline <= now) {
      stats_.timeouts += 1;
      fail("no reply within " + std::to_string(settings_.timeout.count()) + " ms");
      return;
    }
    replyTimer_.start(
        loop_.timers(),
        std::chrono::duration_cast<Millis>(pending_.front().deadline - now) + Millis(1));
  }

  EventLoop& loop_;
  const ClusterSettings& settings_;
  SSL_CTX* tls_;
  RedisLinkStats& stats_;
  State state_ = State::Idle;
  int fd_ = -1;
  bool registered_ = false;
  uint32_t events_ = 0;
  SSL* ssl_ = nullptr;
  bool wantReadForWrite_ = false;
  bool wantWriteForRead_ = false;
  std::string host_;
  std::string address_;
  std::string out_;
  size_t outOff_ = 0;
  RespParser parser_;
  std::deque<Pending> pending_;
  Timer connectTimer_;
  Timer replyTimer_;
};

class RedisLink::Impl {
 public:
  Impl(EventLoop& loop, const ClusterSettings& settings)
      : loop_(loop), settings_(settings), alive_(std::make_shared<Impl*>(this)) {
    retryTimer_.setCallback([this] { attempt(); });
    pingTimer_.setCallback([this] { ping(); });
    sentinelTimer_.setCallback([this] { watchSentinel(); });
    std::weak_ptr<Impl*> weak = alive_;
    // Commands queued during this iteration leave in one write per connection.
    loop_.addFlushHook([weak] {
      if (auto p = weak.lock()) (*p)->flushAll();
    });
    if (settings_.tls) buildTls();
  }

  // Silent: no onDown, no callback (their owners may be destroyed already;
  // stop() is the orderly way down).
  ~Impl() {
    stopped_ = true;
    upFns_.clear();
    downFns_.clear();
    main_.reset();
    sub_.reset();
    sentinel_.reset();
    graveyard_.clear();
    if (tls_ != nullptr) SSL_CTX_free(tls_);
  }

  void start() {
    if (started_) return;
    started_ = true;
    stopped_ = false;
    attempt();
  }

  void stop() {
    stopped_ = true;
    retryTimer_.cancel();
    pingTimer_.cancel();
    sentinelTimer_.cancel();
    bool wasUp = up_;
    up_ = false;
    closeAll();
    if (wasUp) {
      stats_.downs += 1;
      for (auto& fn : downFns_) fn();
    }
  }

  bool up() const { return up_; }

  void command(std::vector<std::string> argv, RedisCallback done) {
    if (!up_ || !main_ || !main_->open() || main_->pending() >= kMaxPendingCommands) {
      refuse(std::move(done));
      return;
    }
    stats_.commands += 1;
    main_->send(argv, std::move(done));
  }

  void eval(const RedisScript& script, std::vector<std::string> keys, std::vector<std::string> args,
            RedisCallback done) {
    scripts_.emplace(script.sha1(), script.source());
    std::vector<std::string> argv;
    argv.reserve(3 + keys.size() + args.size());
    argv.push_back("EVALSHA");
    argv.push_back(script.sha1());
    argv.push_back(std::to_string(keys.size()));
    for (auto& k : keys) argv.push_back(k);
    for (auto& a : args) argv.push_back(a);
    if (!up_ || !main_ || !main_->open() || main_->pending() >= kMaxPendingCommands) {
      refuse(std::move(done));
      return;
    }
    stats_.commands += 1;
    // NOSCRIPT (a Redis restarted or failed over since the script was
    // loaded): the same call again as EVAL, which also caches it there.
    std::string sha = script.sha1();
    main_->send(argv, [this, argv, sha, done = std::move(done)](const RedisReply* r) mutable {
      if (isError(r, "NOSCRIPT")) {
        stats_.errors -= 1;  // answered by the EVAL below
        argv[0] = "EVAL";
        auto it = scripts_.find(sha);
        if (it != scripts_.end()) argv[1] = it->second;
        command(std::move(argv), std::move(done));
        return;
      }
      if (done) done(r);
    });
  }

  void subscribe(std::string channel, std::function<void(std::string_view)> handler) {
    bool fresh = handlers_.find(channel) == handlers_.end();
    handlers_[channel].push_back(std::move(handler));
    if (fresh && up_ && sub_ && sub_->open()) sub_->send({"SUBSCRIBE", channel}, {});
  }

  void onUp(std::function<void()> fn) { upFns_.push_back(std::move(fn)); }
  void onDown(std::function<void()> fn) { downFns_.push_back(std::move(fn)); }

  RedisLinkStats stats() const {
    RedisLinkStats s = stats_;
    s.up = up_;
    s.address = up_ ? master_ : "";
    s.role = up_ ? RedisRole::Master : RedisRole::None;
    s.pending = main_ ? main_->pending() : 0;
    return s;
  }

 private:
  void buildTls() {
    tls_ = SSL_CTX_new(TLS_client_method());
    if (tls_ == nullptr) {
      tlsProblem_ = sslError();
      return;
    }
    SSL_CTX_set_min_proto_version(tls_, TLS1_2_VERSION);
    bool ok = settings_.tlsCaFile.empty()
                  ? SSL_CTX_set_default_verify_paths(tls_) == 1
                  : SSL_CTX_load_verify_locations(tls_, settings_.tlsCaFile.c_str(), nullptr) == 1;
    if (ok && !settings_.tlsCertFile.empty()) {
      ok = SSL_CTX_use_certificate_chain_file(tls_, settings_.tlsCertFile.c_str()) == 1 &&
           SSL_CTX_use_PrivateKey_file(tls_, settings_.tlsKeyFile.c_str(), SSL_FILETYPE_PEM) == 1;
    }
    if (!ok) {
      tlsProblem_ = sslError();
      SSL_CTX_free(tls_);
      tls_ = nullptr;
    }
  }

  void refuse(RedisCallback done) {
    stats_.refused += 1;
    if (!done) return;
    // Never from inside the caller's call: it may not expect re-entry.
    loop_.post([done = std::move(done)] { done(nullptr); });
  }

  std::unique_ptr<RedisConn> newConn() {
    return std::make_unique<RedisConn>(loop_, settings_, settings_.tls ? tls_ : nullptr, stats_);
  }

  // Connections are destroyed at the end of the loop iteration, never from
  // inside one of their own callbacks.
  void retire(std::unique_ptr<RedisConn>& c) {
    if (!c) return;
    c->onFail = nullptr;
    c->onReady = nullptr;
    c->onMessage = nullptr;
    c->close();
    graveyard_.push_back(std::move(c));
  }

  void closeAll() {
    retire(main_);
    retire(sub_);
    retire(sentinel_);
  }

  void flushAll() {
    graveyard_.clear();
    if (main_) main_->flush();
    if (sub_) sub_->flush();
    if (sentinel_) sentinel_->flush();
  }

  // One try at reaching the master: directly (the next configured address)
  // or through the next Sentinel.
  void attempt() {
    if (stopped_) return;
    if (settings_.tls && tls_ == nullptr) {
      logDown("tls setup failed: " + tlsProblem_);
      scheduleRetry();
      return;
    }
    if (settings_.sentinels.empty()) {
      if (settings_.redis.empty()) return;
      const RedisAddress& a = settings_.redis[nextRedis_++ % settings_.redis.size()];
      connectMaster(a.host, a.port);
      return;
    }
    resolve(0);
  }

  void scheduleRetry() {
    if (stopped_) return;
    retryTimer_.start(loop_.timers(), settings_.reconnectInterval);
  }

  void logDown(const std::string& why) {
    // Said once per outage (and again when the reason changes), not at every
    // reconnect attempt.
    if (why == lastProblem_) return;
    lastProblem_ = why;
    log::warn("cluster.redis_unreachable").kv("error", why);
  }

  // Asks Sentinel number `tried` (counting from the one that answered last)
  // for the master's address.
  void resolve(size_t tried) {
    if (tried >= settings_.sentinels.size()) {
      scheduleRetry();
      return;
    }
    retire(sentinel_);
    const RedisAddress& s =
        settings_.sentinels[(sentinelIdx_ + tried) % settings_.sentinels.size()];
    sentinel_ = newConn();
    RedisConn* conn = sentinel_.get();
    conn->onFail = [this, tried, addr = addressText(s.host, s.port)](const std::string& why) {
      logDown("sentinel " + addr + ": " + why);
      retire(sentinel_);
      resolve(tried + 1);
    };
    conn->onReady = [this, conn, tried] {
      conn->send({"SENTINEL", "get-master-addr-by-name", settings_.masterName},
                 [this, conn, tried](const RedisReply* r) {
                   if (r == nullptr) return;  // closed: onFail handles it
                   if (r->type != RedisReply::Type::Array || r->elements.size() != 2) {
                     logDown("sentinel " + conn->address() + " does not know master " +
                             settings_.masterName);
                     conn->onFail = nullptr;
                     retire(sentinel_);
                     resolve(tried + 1);
                     return;
                   }
                   sentinelIdx_ = (sentinelIdx_ + tried) % settings_.sentinels.size();
                   std::string host = r->elements[0].str;
                   uint16_t port =
                       static_cast<uint16_t>(std::strtoul(r->elements[1].str.c_str(), nullptr, 10));
                   followSentinel(conn);
                   connectMaster(host, port);
                 });
    };
    conn->connect(s.host, s.port);
  }

  // Keeps the Sentinel connection that answered subscribed to
  // +switch-master: a failover moves the link at once, not at its next error.
  void followSentinel(RedisConn* conn) {
    conn->onMessage = [this](std::string_view channel, std::string_view message) {
      if (channel != "+switch-master") return;
      // "<name> <old-ip> <old-port> <new-ip> <new-port>"
      std::vector<std::string> f;
      size_t pos = 0;
      while (pos <= message.size() && f.size() < 6) {
        size_t sp = message.find(' ', pos);
        if (sp == std::string_view::npos) sp = message.size();
        f.emplace_back(message.substr(pos, sp - pos));
        pos = sp + 1;
      }
      if (f.size() != 5 || f[0] != settings_.masterName) return;
      uint16_t port = static_cast<uint16_t>(std::strtoul(f[4].c_str(), nullptr, 10));
      if (addressText(f[3], port) == master_ && up_) return;
      log::warn("cluster.redis_switch_master")
          .kv("from", master_)
          .kv("to", addressText(f[3], port));
      linkDown("master switched by sentinel");
      retryTimer_.cancel();
      connectMaster(f[3], port);
    };
    conn->onFail = [this](const std::string& why) {
      // The link itself is unaffected; watch through another Sentinel soon.
      retire(sentinel_);
      sentinelIdx_ = (sentinelIdx_ + 1) % settings_.sentinels.size();
      if (!stopped_ && !sentinelTimer_.active()) {
        sentinelTimer_.start(loop_.timers(), settings_.reconnectInterval);
      }
    };
    conn->send({"SUBSCRIBE", "+switch-master"}, {});
  }

  // While the link is up without a Sentinel watch (the watching Sentinel
  // went away): subscribe on another one.
  void watchSentinel() {
    if (stopped_ || !up_ || sentinel_ || settings_.sentinels.empty()) return;
    const RedisAddress& s = settings_.sentinels[sentinelIdx_ % settings_.sentinels.size()];
    sentinel_ = newConn();
    RedisConn* conn = sentinel_.get();
    conn->onFail = [this](const std::string&) {
      retire(sentinel_);
      sentinelIdx_ = (sentinelIdx_ + 1) % settings_.sentinels.size();
      if (!stopped_) sentinelTimer_.start(loop_.timers(), settings_.reconnectInterval);
    };
    conn->onReady = [this, conn] {
      conn->send(
          {"SENTINEL", "get-master-addr-by-name", settings_.masterName},
          [this](const RedisReply* r) {
            // A failover missed while unwatched: move now.
            if (r == nullptr || r->type != RedisReply::Type::Array || r->elements.size() != 2) {
              return;
            }
            uint16_t port =
                static_cast<uint16_t>(std::strtoul(r->elements[1].str.c_str(), nullptr, 10));
            if (addressText(r->elements[0].str, port) != master_) {
              linkDown("master changed while unwatched");
              connectMaster(r->elements[0].str, port);
            }
          });
      followSentinel(conn);
    };
    conn->connect(s.host, s.port);
  }

  // AUTH and SELECT as the settings say, then ROLE must say master (a
  // replica promoted back, or a stale Sentinel answer, is not written to).
  void handshake(RedisConn* conn, bool checkRole, std::function<void()> ready) {
    auto failed = std::make_shared<bool>(false);
    auto check = [this, conn, failed](const char* what) {
      return [this, conn, failed, what](const RedisReply* r) {
        if (*failed || r == nullptr) return;
        if (r->isError()) {
          *failed = true;
          std::string why = std::string(what) + ": " + r->str;
          conn->onFail = nullptr;
          linkFailed(conn->address() + ": " + why);
        }
      };
    };
    if (!settings_.password.empty()) conn->send({"AUTH", settings_.password}, check("AUTH"));
    if (settings_.database != 0) {
      conn->send({"SELECT", std::to_string(settings_.database)}, check("SELECT"));
    }
    if (!checkRole) {
      conn->send({"PING"}, [failed, ready = std::move(ready)](const RedisReply* r) {
        if (*failed || r == nullptr || r->isError()) return;
        ready();
      });
      return;
    }
    conn->send({"ROLE"}, [this, conn, failed, ready = std::move(ready)](const RedisReply* r) {
      if (*failed || r == nullptr) return;
      std::string role = r->type == RedisReply::Type::Array && !r->elements.empty()
                             ? r->elements[0].str
                             : (r->isError() ? r->str : "?");
      if (role != "master") {
        conn->onFail = nullptr;
        linkFailed(conn->address() + " is not a master (role " + role + ")");
        return;
      }
      ready();
    });
  }

  void connectMaster(const std::string& host, uint16_t port) {
    if (stopped_) return;
    retire(main_);
    retire(sub_);
    candidate_ = addressText(host, port);
    main_ = newConn();
    RedisConn* conn = main_.get();
    conn->onFail = [this, conn](const std::string& why) {
      linkFailed(conn->address() + ": " + why);
    };
    conn->onReady = [this, conn, host, port] {
      handshake(conn, /*checkRole=*/true, [this, host, port] {
        // Scripts already used are loaded at once on the new master, so
        // calls after a failover do not each pay a NOSCRIPT round trip.
        for (const auto& [sha, source] : scripts_) main_->send({"SCRIPT", "LOAD", source}, {});
        connectSubscriber(host, port);
      });
    };
    conn->connect(host, port);
  }

  void connectSubscriber(const std::string& host, uint16_t port) {
    sub_ = newConn();
    RedisConn* conn = sub_.get();
    conn->onFail = [this, conn](const std::string& why) {
      linkFailed(conn->address() + ": " + why);
    };
    conn->onMessage = [this](std::string_view channel, std::string_view message) {
      auto it = handlers_.find(channel);
      if (it == handlers_.end()) return;
      // A handler may subscribe (adding to the map): iterate over a copy.
      auto fns = it->second;
      for (auto& fn : fns) fn(message);
    };
    conn->onReady = [this, conn] {
      handshake(conn, /*checkRole=*/false, [this, conn] {
        for (const auto& [channel, fns] : handlers_) conn->send({"SUBSCRIBE", channel}, {});
        // Up once the subscriptions are confirmed (they are answered in order,
        // before this PING's reply would be; in subscribed mode PING answers
        // with an array).
        conn->send({"PING"}, [this](const RedisReply* r) {
          if (r == nullptr || r->isError()) return;
          linkUp();
        });
      });
    };
    conn->connect(host, port);
  }

  void linkUp() {
    if (up_) return;
    up_ = true;
    if (!lastMaster_.empty() && lastMaster_ != candidate_) {
      stats_.failovers += 1;
      log::warn("cluster.redis_failover").kv("from", lastMaster_).kv("to", candidate_);
    }
    master_ = candidate_;
    lastMaster_ = candidate_;
    lastProblem_.clear();
    stats_.connects += 1;
    log::info("cluster.redis_up")
        .kv("address", master_)
        .kv("via", settings_.sentinels.empty() ? "direct" : "sentinel")
        .kv("tls", settings_.tls);
    ping();
    if (!settings_.sentinels.empty() && !sentinel_) watchSentinel();
    for (auto& fn : upFns_) {
      if (!up_) break;
      fn();
    }
  }

  // The link as a whole is down (both master connections closed, pending
  // callbacks told); no retry scheduled.
  void linkDown(const std::string& why) {
    bool wasUp = up_;
    up_ = false;
    pingTimer_.cancel();
    retire(main_);
    retire(sub_);
    if (wasUp) {
      stats_.downs += 1;
      log::warn("cluster.redis_down").kv("address", master_).kv("error", why);
      lastProblem_ = why;
      for (auto& fn : downFns_) {
        if (up_) break;
        fn();
      }
    } else {
      logDown(why);
    }
  }

  void linkFailed(const std::string& why) {
    linkDown(why);
    // Through Sentinel the master may have moved: ask again (a new watch too).
    if (!settings_.sentinels.empty()) retire(sentinel_);
    scheduleRetry();
  }

  // PING every heartbeat: the latency the status shows. Its loss (no reply
  // within cluster.timeout) takes the link down like any command's.
  void ping() {
    if (!up_ || !main_) return;
    MonoTime sent = loop_.clock().now();
    stats_.commands += 1;
    main_->send({"PING"}, [this, sent](const RedisReply* r) {
      if (r == nullptr || r->isError()) return;
      stats_.latency = std::chrono::duration_cast<Millis>(loop_.clock().now() - sent);
      stats_.latencyUs = std::chrono::duration_cast<Micros>(loop_.clock().now() - sent);
    });
    pingTimer_.start(loop_.timers(), settings_.heartbeat);
  }

 private:
  EventLoop& loop_;
  const ClusterSettings& settings_;
  std::shared_ptr<Impl*> alive_;
  SSL_CTX* tls_ = nullptr;
  std::string tlsProblem_;
  bool started_ = false;
  bool stopped_ = false;
  bool up_ = false;
  std::unique_ptr<RedisConn> main_;
  std::unique_ptr<RedisConn> sub_;
  std::unique_ptr<RedisConn> sentinel_;
  std::vector<std::unique_ptr<RedisConn>> graveyard_;
  size_t nextRedis_ = 0;
  size_t sentinelIdx_ = 0;
  std::string candidate_;   // the master being connected to
  std::string master_;      // the master in use while up
  std::string lastMaster_;  // the last master the link was up with
  std::string lastProblem_;
  Timer retryTimer_;
  Timer pingTimer_;
  Timer sentinelTimer_;
  std::map<std::string, std::string> scripts_;  // sha1 -> source
  std::map<std::string, std::vector<std::function<void(std::string_view)>>, std::less<>> handlers_;
  std::vector<std::function<void()>> upFns_;
  std::vector<std::function<void()>> downFns_;
  RedisLinkStats stats_;
};

RedisLink::RedisLink(EventLoop& loop, const ClusterSettings& settings)
    : impl_(std::make_unique<Impl>(loop, settings)) {}
RedisLink::~RedisLink() = default;
void RedisLink::start() {
  impl_->start();
}
void RedisLink::stop() {
  impl_->stop();
}
bool RedisLink::up() const {
  return impl_->up();
}
void RedisLink::command(std::vector<std::string> argv, RedisCallback done) {
  impl_->command(std::move(argv), std::move(done));
}
void RedisLink::eval(const RedisScript& script, std::vector<std::string> keys,
                     std::vector<std::string> args, RedisCallback done) {
  impl_->eval(script, std::move(keys), std::move(args), std::move(done));
}
void RedisLink::subscribe(std::string channel,
                          std::function<void(std::string_view message)> handler) {
  impl_->subscribe(std::move(channel), std::move(handler));
}
void RedisLink::onUp(std::function<void()> fn) {
  impl_->onUp(std::move(fn));
}
void RedisLink::onDown(std::function<void()> fn) {
  impl_->onDown(std::move(fn));
}
RedisLinkStats RedisLink::stats() const {
  return impl_->stats();
}

}  // namespace tollgate::cluster
