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

#include "app/ban_sync.h"
#include "app/shield_cli.h"
#include "call/switch.h"
#include "common/event_loop.h"
#include "common/log.h"
#include "common/random.h"
#include "firewall/kernel_offload.h"
#include "shield/shield.h"
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

// The trusted sources the kernel set holds: shield.trusted plus gateways.
std::vector<net::Cidr> trustedPrefixes(const Config& config,
                                       const std::vector<net::Cidr>& gateways) {
  std::vector<net::Cidr> all = config.shield.trusted;
  all.insert(all.end(), gateways.begin(), gateways.end());
  return all;
}

// The shield's side effects of ban changes: persist the node's own bans,
// push enforced ones into the kernel set. Called on the worker.
class NodeBanListener final : public shield::BanListener {
 public:
  NodeBanListener(app::BanSync& sync, firewall::KernelOffload* offload, const Clock& clock)
      : sync_(sync), offload_(offload), clock_(clock) {}
  void onBanAdded(const shield::BanInfo& ban, bool fromStore) override {
    if (!fromStore) sync_.put(ban);
    if (offload_ == nullptr || !ban.active || !ban.enforced) return;
    auto cidr = net::Cidr::parse(shield::toString(ban.prefix));
    if (!cidr) return;
    int64_t timeout = 0;
    if (ban.expiresUs != 0) {
      // Whole seconds left, rounded up; at least one.
      timeout = std::max<int64_t>(1, (ban.expiresUs - clock_.wallMicros() + 999'999) / 1'000'000);
    }
    offload_->ban(*cidr, timeout);
  }
  void onBanRemoved(const shield::PrefixKey& prefix) override {
    if (offload_ == nullptr) return;
    if (auto cidr = net::Cidr::parse(shield::toString(prefix))) offload_->unban(*cidr);
  }
  void onBanHits(const std::vector<shield::BanHits>& hits) override { sync_.hits(hits); }

 private:
  app::BanSync& sync_;
  firewall::KernelOffload* offload_;
  const Clock& clock_;
};

// Loads provisioning from a store and builds the switch's snapshot; null
// (and a log line) when the store cannot be read. *gateways receives every
// gateway address (the shield's trusted sources).
std::shared_ptr<const call::Snapshot> loadSnapshot(store::Store& st,
                                                   std::vector<net::Cidr>* gateways) {
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
  *gateways = gatewayPrefixes(*prov);
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
  ProvisioningWatcher(const Config& config, EventLoop& loop, call::Switch& sw,
                      shield::Shield& shield, firewall::KernelOffload* offload, uint64_t version)
      : config_(config),
        loop_(loop),
        sw_(sw),
        shield_(shield),
        offload_(offload),
        version_(version) {}
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
        auto v = st->provisioningVersion();
        if (v.ok() && (force || *v != version_)) {
          std::vector<net::Cidr> gateways;
          auto snap = loadSnapshot(*st, &gateways);
          if (snap) {
            version_ = snap->version;
            call::Switch* sw = &sw_;
            shield::Shield* sh = &shield_;
            auto trusted = shield_.buildTrusted(gateways);  // const: safe off the worker
            if (offload_) offload_->setTrusted(trustedPrefixes(config_, gateways));
            loop_.post([sw, sh, snap, trusted] {
              sw->setSnapshot(snap);
              sh->setTrusted(trusted);
            });
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
  shield::Shield& shield_;
  firewall::KernelOffload* offload_;
  uint64_t version_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool force_ = false;
  std::thread thread_;
};

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
  sigaddset(&sigs, SIGUSR1);
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
  std::vector<net::Cidr> gateways;
  auto snapshot = loadSnapshot(*mainStore, &gateways);
  if (!snapshot) return 1;
  mainStore.reset();

  store::AsyncCdrWriter cdrWriter(
      [path = config.store.path] { return store::openSqliteStore(path); });

  SystemClock clock;
  CryptoRandom random;
  EventLoop loop(clock);
  // Transport -> Shield -> TransactionLayer: the shield decides on the raw
  // bytes before anything is parsed.
  ForwardingSink sink;
  shield::Shield shield(loop, clock, random, config.shield, sink);
  transport::TransportLimits limits;
  limits.tcpMaxConnections = config.sip.tcpMaxConnections;
  limits.tcpMaxConnectionsPerIp = config.sip.tcpMaxConnectionsPerIp;
  limits.tcpIdleTimeout = std::chrono::duration_cast<Millis>(config.sip.tcpIdleTimeout);
  transport::Transport transport(loop, shield, limits);
  txn::TimerSettings timers{config.sip.t1Ms, config.sip.t2Ms, config.sip.t4Ms};
  txn::TransactionLayer txns(loop, transport, random, timers);
  sink.target = &txns;
  shield.setTransport(&transport);
  shield.setTrusted(shield.buildTrusted(gateways));
  txns.setOccupancyObserver(&shield);
  call::Switch sw(loop, txns, cdrWriter, random, clock, switchConfig(config));
  sw.setSnapshot(snapshot);
  sw.setOccupancyObserver(&shield);

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

  // Kernel offload of bans, on the ports actually bound.
  std::unique_ptr<firewall::KernelOffload> offload;
  if (config.firewall.kernelOffload) {
    firewall::NftSetup setup;
    setup.table = config.firewall.table;
    for (const auto& l : transport.listeners()) {
      if (std::find(setup.ports.begin(), setup.ports.end(), l.address.port()) ==
          setup.ports.end()) {
        setup.ports.push_back(l.address.port());
      }
    }
    setup.prefixV4 = config.shield.prefixV4;
    setup.prefixV6 = config.shield.prefixV6;
    setup.maxElements = config.shield.maxBans;
    offload = std::make_unique<firewall::KernelOffload>(setup);
    offload->start();
    offload->setTrusted(trustedPrefixes(config, gateways));
  }
  // The ban list: loaded from the store before serving, then kept in step.
  app::BanSync banSync(config.store.path, config.store.provisioningPollMs, config.shield.banMemory,
                       loop, shield);
  NodeBanListener banListener(banSync, offload.get(), clock);
  shield.setBanListener(&banListener);
  banSync.loadInitial();
  banSync.start();

  ProvisioningWatcher watcher(config, loop, sw, shield, offload.get(), snapshot->version);
  watcher.start();

  // A periodic summary keeps counters visible in logs (also on SIGUSR1 and
  // at exit) beside `tollgate stats` and the metrics endpoint.
  auto emitStats = [&] {
    const auto& s = sw.stats();
    const auto& t = transport.stats();
    const shield::ShieldStats& sh = shield.stats();
    std::string reasons;
    for (size_t i = 0; i < s.byReason.size(); ++i) {
      if (s.byReason[i] == 0) continue;
      if (!reasons.empty()) reasons += ',';
      reasons += std::string(call::reasonName(static_cast<call::TerminationReason>(i))) + ":" +
                 std::to_string(s.byReason[i]);
    }
    auto byShieldReason = [](const auto& counts) {
      std::string out;
      for (size_t i = 0; i < counts.size(); ++i) {
        if (counts[i] == 0) continue;
        if (!out.empty()) out += ',';
        out += std::string(shield::shieldReasonName(static_cast<shield::ShieldReason>(i))) + ":" +
               std::to_string(counts[i]);
      }
      return out;
    };
    const firewall::FirewallStats fw = offload ? offload->stats() : firewall::FirewallStats{};
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
        .kv("txn_retransmissions_absorbed", txns.stats().retransmissionsAbsorbed)
        .kv("shield_received", sh.received)
        .kv("shield_trusted", sh.trusted)
        .kv("shield_passed", sh.passed)
        .kv("shield_dropped", byShieldReason(sh.dropped))
        .kv("shield_would_drop", byShieldReason(sh.wouldDrop))
        .kv("shield_connections_refused", sh.connectionsRefused)
        .kv("bans_placed", sh.bansPlaced)
        .kv("bans_active", sh.bansActive)
        .kv("bans_refused_full", sh.bansRefusedFull)
        .kv("shield_sources", sh.sources)
        .kv("shield_prefixes", sh.prefixes)
        .kv("shield_memory_bound_mb", static_cast<int64_t>(sh.memoryBytes >> 20))
        .kv("kernel_offload", fw.active        ? "active"
                              : fw.unavailable ? "unavailable"
                                               : (offload ? "starting" : "off"))
        .kv("kernel_drops", fw.kernelDrops)
        .kv("kernel_bans_added", fw.bansAdded);
  };
  Timer statsTick;
  statsTick.setCallback([&] {
    emitStats();
    statsTick.start(loop.timers(), Millis(60'000));
  });
  statsTick.start(loop.timers(), Millis(60'000));

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
      if (si.ssi_signo == SIGUSR1) {
        emitStats();
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

  log::info("node.ready")
      .kv("listen", bound)
      .kv("store", config.store.path)
      .kv("pid", static_cast<int64_t>(getpid()));
  loop.run();

  loop.remove(sfd);
  close(sfd);
  watcher.stop();
  // Give the BYEs/CANCELs of a hang-up a moment on the wire.
  for (int i = 0; i < 5; ++i) loop.runOnce(Millis(10));
  transport.close();
  shield.reportHits();
  banSync.flush(Millis(5000));
  banSync.stop();
  if (offload) offload->stop();  // deletes the kernel table
  emitStats();
  cdrWriter.flush();
  auto ws = cdrWriter.stats();
  log::info("node.stopped")
      .kv("cdrs_written", ws.written)
      .kv("cdr_write_errors", ws.writeErrors)
      .kv("cdrs_dropped", ws.droppedQueueFull);
  return 0;
}

}  // namespace tollgate::app
