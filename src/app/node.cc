// Wiring of one running node. See node.h.
#include "app/node.h"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "app/node_control.h"
#include "call/switch.h"
#include "common/event_loop.h"
#include "common/log.h"
#include "common/random.h"
#include "mgmt/api_server.h"
#include "mgmt/secrets.h"
#include "store/cdr_writer.h"
#include "store/store.h"
#include "transport/transport.h"
#include "txn/transaction_layer.h"

namespace tollgate::app {
namespace {

// The transport is built before the transaction layer it delivers to (the
// layer needs the transport to send); this forwards until the layer exists.
class ForwardingSink final : public transport::MessageSink {
 public:
  void onMessage(const transport::Flow& from, std::string&& bytes) override {
    if (target) target->onMessage(from, std::move(bytes));
  }
  void onConnectionClosed(transport::ConnectionId id) override {
    if (target) target->onConnectionClosed(id);
  }
  transport::MessageSink* target = nullptr;
};

call::SwitchConfig switchConfig(const Config& c) {
  call::SwitchConfig s;
  s.unknownSource = c.sip.unknownSource == UnknownSourcePolicy::Reject403
                        ? call::UnknownSourcePolicy::Reject403
                        : call::UnknownSourcePolicy::Drop;
  s.userAgent = c.sip.userAgent;
  s.advertisedAddress = c.sip.advertisedAddress;
  s.ringTimeout = std::chrono::duration_cast<Millis>(c.sip.ringTimeout);
  s.setupTimeout = std::chrono::duration_cast<Millis>(c.routing.setupTimeout);
  s.switchLimit = c.routing.switchLimit;
  s.stopAfterBusy = c.routing.stopAfterBusy;
  s.noRouteCode = c.routing.noRouteCode;
  s.illegalCallCdrs = c.cdr.illegalCalls;
  s.illegalCdrRate = c.cdr.illegalRate;
  s.illegalCdrBurst = c.cdr.illegalBurst;
  return s;
}

// Loads provisioning from a store and builds the switch's snapshot; null
// (and a log line) when the store cannot be read.
std::shared_ptr<const call::Snapshot> loadSnapshot(store::Store& st) {
  auto version = st.provisioningVersion();
  auto prov = st.loadProvisioning();
  if (!version.ok() || !prov.ok()) {
    log::error("provisioning.load_failed")
        .kv("error", !prov.ok() ? prov.error().message : version.error().message);
    return nullptr;
  }
  auto errors = admission::validateProvisioning(*prov);
  for (const auto& e : errors) {
    // Imports validate, so this means the store was edited by hand; the
    // offending entries are skipped by the matcher and the route table.
    log::warn("provisioning.invalid_entry")
        .kv("gateway", e.gateway)
        .kv("key", e.key)
        .kv("error", e.message);
  }
  auto snap = std::make_shared<const call::Snapshot>(*prov, *version);
  log::info("provisioning.loaded")
      .kv("version", *version)
      .kv("mapping_gateways", prov->mappingGateways.size())
      .kv("routing_gateways", prov->routingGateways.size());
  return snap;
}

// Polls the store for provisioning changes on its own thread and posts new
// snapshots to the worker. Thread-safe start/stop; wake() asks for a reload now.
class ProvisioningWatcher {
 public:
  ProvisioningWatcher(const Config& config, EventLoop& loop, call::Switch& sw, uint64_t version)
      : config_(config), loop_(loop), sw_(sw), version_(version) {}
  ~ProvisioningWatcher() { stop(); }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void wake() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      force_ = true;
    }
    cv_.notify_all();
  }
  const LatencyHistogram& pollLatency() const { return pollLatency_; }

 private:
  void run() {
    std::unique_ptr<store::Store> st;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, config_.store.provisioningPollMs, [this] { return stop_ || force_; });
      if (stop_) break;
      bool force = force_;
      force_ = false;
      lock.unlock();
      if (!st) {
        auto opened = store::openSqliteStore(config_.store.path);
        if (opened.ok()) st = std::move(opened).value();
      }
      if (st) {
        const auto t0 = std::chrono::steady_clock::now();
        auto v = st->provisioningVersion();
        pollLatency_.record(std::chrono::steady_clock::now() - t0);
        if (v.ok() && (force || *v != version_)) {
          auto snap = loadSnapshot(*st);
          if (snap) {
            version_ = snap->version;
            call::Switch* sw = &sw_;
            loop_.post([sw, snap] { sw->setSnapshot(snap); });
            log::info("provisioning.reloaded").kv("version", version_);
          }
        }
      }
      lock.lock();
    }
  }

  const Config& config_;
  EventLoop& loop_;
  call::Switch& sw_;
  uint64_t version_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool force_ = false;
  LatencyHistogram pollLatency_;
  std::thread thread_;
};

mgmt::ApiSettings apiSettings(const Config& c, std::string localTokenHash) {
  mgmt::ApiSettings a;
  a.listen = c.api.listen;
  a.allow = c.api.allow;
  a.certificate = c.api.certificate;
  a.privateKey = c.api.privateKey;
  a.login.accountScope = c.api.lockoutScope == LockoutScope::Account;
  a.login.attempts = c.api.lockoutAttempts;
  a.login.windowUs = c.api.lockoutWindow.count() * 1'000'000;
  a.login.durationUs = c.api.lockoutDuration.count() * 1'000'000;
  a.login.passwordMinLength = c.api.passwordMinLength;
  a.login.sessionLifetimeUs = c.api.sessionLifetime.count() * 1'000'000;
  a.login.sessionIdleUs = c.api.sessionIdleTimeout.count() * 1'000'000;
  a.metricsAuth = c.api.metricsAuth;
  a.storePath = c.store.path;
  a.localTokenHash = std::move(localTokenHash);
  return a;
}

bool isWildcard(const net::SockAddr& a) {
  const uint8_t* b = a.ip().bytes();
  for (size_t i = 0; i < a.ip().size(); ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

}  // namespace

int runNode(const Config& config) {
  log::setLevel(config.log.level);
  log::setFormat(config.log.format);

  for (const auto& spec : config.sip.listen) {
    if (isWildcard(spec.address) && config.sip.advertisedAddress.empty()) {
      log::error("node.config")
          .kv("error", "sip.advertised_address is required when listening on a wildcard address")
          .kv("listen", transport::toString(spec));
      return 2;
    }
  }

  // Signals are taken through a signalfd on the worker; block them in every
  // thread (threads inherit the mask) before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto opened = store::openSqliteStore(config.store.path);
  if (!opened.ok()) {
    log::error("store.open_failed")
        .kv("path", config.store.path)
        .kv("error", opened.error().message);
    return 1;
  }
  std::unique_ptr<store::Store> mainStore = std::move(opened).value();
  auto snapshot = loadSnapshot(*mainStore);
  if (!snapshot) return 1;
  mainStore.reset();

  store::AsyncCdrWriter cdrWriter(
      [path = config.store.path] { return store::openSqliteStore(path); });

  SystemClock clock;
  CryptoRandom random;
  EventLoop loop(clock);
  ForwardingSink sink;
  transport::TransportLimits limits;
  limits.tcpMaxConnections = config.sip.tcpMaxConnections;
  limits.tcpMaxConnectionsPerIp = config.sip.tcpMaxConnectionsPerIp;
  limits.tcpIdleTimeout = std::chrono::duration_cast<Millis>(config.sip.tcpIdleTimeout);
  transport::Transport transport(loop, sink, limits);
  txn::TimerSettings timers{config.sip.t1Ms, config.sip.t2Ms, config.sip.t4Ms};
  txn::TransactionLayer txns(loop, transport, random, timers);
  sink.target = &txns;
  call::Switch sw(loop, txns, cdrWriter, random, clock, switchConfig(config));
  sw.setSnapshot(snapshot);

  for (const auto& spec : config.sip.listen) {
    auto r = transport.listen(spec);
    if (!r.ok()) {
      log::error("node.listen_failed")
          .kv("listen", transport::toString(spec))
          .kv("error", r.error());
      return 1;
    }
  }
  std::string bound;
  for (const auto& l : transport.listeners()) {
    if (!bound.empty()) bound += ',';
    bound += std::string(transport::protocolParam(l.protocol)) + ":" + l.address.toString();
  }

  ProvisioningWatcher watcher(config, loop, sw, snapshot->version);
  watcher.start();

  // The management API (docs/api.md) and the token file the CLI uses.
  WorkerControl control(loop, sw, txns, transport, cdrWriter, watcher.pollLatency(),
                        [&watcher] { watcher.wake(); });
  std::unique_ptr<mgmt::ApiServer> api;
  const std::string tokenPath = apiTokenPath(config);
  if (!config.api.listen.empty()) {
    auto token = writeApiToken(tokenPath);
    if (!token.ok()) {
      log::error("api.token_file_failed").kv("error", token.error());
      return 1;
    }
    api = std::make_unique<mgmt::ApiServer>(apiSettings(config, mgmt::sha256Hex(*token)), control);
    auto started = api->start();
    if (!started.ok()) {
      log::error("api.start_failed").kv("error", started.error());
      ::unlink(tokenPath.c_str());
      return 1;
    }
  }

  // Drain: refuse new calls at once, let calls end on their own until the
  // deadline, then hang up the rest and stop.
  bool drainingNow = false;
  MonoTime drainDeadline{};
  Timer drainTick;
  drainTick.setCallback([&] {
    if (sw.activeCalls() == 0 || loop.now() >= drainDeadline) {
      if (sw.activeCalls() > 0) {
        log::warn("node.drain_timeout").kv("calls", sw.activeCalls());
        sw.hangupAll();
      }
      loop.stop();
      return;
    }
    drainTick.start(loop.timers(), Millis(50));
  });

  int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
  loop.add(sfd, EPOLLIN, [&](uint32_t) {
    signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGHUP) {
        log::info("node.reload_requested");
        watcher.wake();
        continue;
      }
      if (drainingNow) {
        log::warn("node.second_signal_stopping_now");
        sw.hangupAll();
        loop.stop();
        continue;
      }
      drainingNow = true;
      drainDeadline = loop.now() + config.node.drainTimeout;
      log::info("node.draining")
          .kv("calls", sw.activeCalls())
          .kv("drain_timeout_s", static_cast<int64_t>(config.node.drainTimeout.count()));
      sw.drain();
      transport.stopAccepting();
      drainTick.start(loop.timers(), Millis(0));
    }
  });

  // A periodic summary keeps counters visible in logs until `tollgate stats`
  // and the metrics endpoint exist.
  Timer statsTick;
  statsTick.setCallback([&] {
    const auto& s = sw.stats();
    const auto& t = transport.stats();
    std::string reasons;
    for (size_t i = 0; i < s.byReason.size(); ++i) {
      if (s.byReason[i] == 0) continue;
      if (!reasons.empty()) reasons += ',';
      reasons += std::string(call::reasonName(static_cast<call::TerminationReason>(i))) + ":" +
                 std::to_string(s.byReason[i]);
    }
    log::info("node.stats")
        .kv("calls_active", sw.activeCalls())
        .kv("invites", s.invitesReceived)
        .kv("answered", s.callsAnswered)
        .kv("failed", s.callsFailed)
        .kv("unknown_source_dropped", s.unknownSourceDropped)
        .kv("unknown_source_403", s.unknownSourceRejected)
        .kv("malformed_dropped", s.malformedDropped)
        .kv("malformed_answered", s.malformedAnswered)
        .kv("udp_rx", t.udpReceived)
        .kv("udp_tx", t.udpSent)
        .kv("tcp_open", t.tcpOpen)
        .kv("failovers", s.failovers)
        .kv("no_dialog", s.noDialog)
        .kv("illegal_cdrs_suppressed", s.illegalCdrsSuppressed)
        .kv("ended_by_reason", reasons)
        .kv("txn_retransmissions_absorbed", txns.stats().retransmissionsAbsorbed);
    statsTick.start(loop.timers(), Millis(60'000));
  });
  statsTick.start(loop.timers(), Millis(60'000));

  log::info("node.ready")
      .kv("listen", bound)
      .kv("store", config.store.path)
      .kv("pid", static_cast<int64_t>(getpid()));
  loop.run();

  loop.remove(sfd);
  close(sfd);
  if (api) {
    // api->stop() joins threads that may wait on closures posted to this
    // loop (and removes the trace tap there): keep the loop turning.
    std::atomic<bool> apiStopped{false};
    std::thread stopper([&] {
      api->stop();
      apiStopped = true;
    });
    while (!apiStopped.load()) loop.runOnce(Millis(10));
    stopper.join();
    transport.setTap(nullptr);  // this thread is the worker; the tap dies with the API
    ::unlink(tokenPath.c_str());
  }
  watcher.stop();
  // Give the BYEs/CANCELs of a hang-up a moment on the wire.
  for (int i = 0; i < 5; ++i) loop.runOnce(Millis(10));
  transport.close();
  cdrWriter.flush();
  auto ws = cdrWriter.stats();
  log::info("node.stopped")
      .kv("cdrs_written", ws.written)
      .kv("cdr_write_errors", ws.writeErrors)
      .kv("cdrs_dropped", ws.droppedQueueFull);
  return 0;
}

}  // namespace tollgate::app
