// Wiring of one running node. See node.h.
#include "app/node.h"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "app/auth_state.h"
#include "app/ban_sync.h"
#include "app/node_control.h"
#include "app/shield_cli.h"
#include "app/systemd_notify.h"
#include "call/call_layer.h"
#include "cluster/cluster.h"
#include "cluster/shared_auth.h"
#include "cluster/shared_bans.h"
#include "cluster/shared_fraud.h"
#include "cluster/shared_limits.h"
#include "cluster/shared_policy.h"
#include "cluster/shared_registrations.h"
#include "common/event_loop.h"
#include "common/log.h"
#include "common/private_files.h"
#include "common/random.h"
#include "firewall/kernel_offload.h"
#include "mgmt/api_server.h"
#include "mgmt/hep.h"
#include "mgmt/secrets.h"
#include "shield/shield.h"
#include "store/cdr_retention.h"
#include "store/cdr_writer.h"
#include "store/pg_listener.h"
#include "store/pg_migrations.h"
#include "store/policy_store.h"
#include "store/policy_sync.h"
#include "store/sqlite_backend.h"
#include "store/store.h"
#include "store/store_factory.h"
#include "store/store_lock.h"
#include "transport/forwarding_sink.h"
#include "transport/transport.h"
#include "txn/transaction_layer.h"

namespace tollgate::app {
namespace {

// Names of the saved policy counters (policy_counters table).
constexpr const char* kBlacklistCounters = "dynamic_blacklist";
constexpr const char* kFraudCounters = "fraud_thresholds";

// The CDR writer's PostgreSQL statements fail after this long without an
// answer, and the batch goes to the spool: a stalled database must not hold
// finished calls' CDRs only in memory.
constexpr int kCdrWriteTimeoutMs = 3000;

// Requests refused for their X-Tollgate-Peer header, "verdict:n,...".
std::string peerRefusals(const call::CallStats& s) {
  std::string out;
  for (size_t i = 1; i < s.peerRefused.size(); ++i) {
    if (s.peerRefused[i] == 0) continue;
    if (!out.empty()) out += ',';
    out += std::string(registrar::peerVerdictName(static_cast<registrar::PeerVerdict>(i))) + ":" +
           std::to_string(s.peerRefused[i]);
  }
  return out;
}

// The node's name in CDR uids when store.node_id is not set.
std::string hostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "node";
  return buf;
}

// Applies operator changes to the dynamic blacklist (made by `tollgate
// blacklist` in another process) on the worker.
// `shared` (null on a single node) spreads them to the other nodes.
void applyBlacklistChanges(call::CallLayer& layer,
                           const std::vector<store::BlacklistChange>& changes,
                           cluster::SharedPolicy* shared) {
  admission::DynamicBlacklist& bl = layer.policy.blacklist();
  for (const store::BlacklistChange& c : changes) {
    switch (c.action) {
      case store::BlacklistChange::Action::Add:
        bl.put(c.entry);
        log::info("blacklist.operator_add")
            .kv("number", c.entry.number)
            .kv("side", admission::sideName(c.entry.side))
            .kv("enforced", c.entry.enforced)
            .kv("cut_calls", c.cutCalls);
        if (c.cutCalls && c.entry.enforced) layer.calls.cutCalls(c.entry.number, c.entry.side);
        if (shared != nullptr) {
          if (const admission::BlacklistEntry* e = bl.find(c.entry.number, c.entry.side)) {
            shared->publish(*e);
          }
        }
        break;
      case store::BlacklistChange::Action::Remove: {
        std::optional<admission::NumberSide> side;
        if (!c.bothSides) side = c.entry.side;
        size_t n = bl.remove(c.entry.number, side, /*persist=*/true);
        log::info("blacklist.operator_remove").kv("number", c.entry.number).kv("entries", n);
        if (shared != nullptr) shared->publishRemoval(c.entry.number, side);
        break;
      }
      case store::BlacklistChange::Action::Clear:
        log::info("blacklist.operator_clear").kv("entries", bl.size());
        bl.clear(/*persist=*/true);
        if (shared != nullptr) shared->publishRemoval("", std::nullopt);
        break;
    }
  }
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
  // A cluster's shared ban list (null on a single node).
  void setShared(cluster::SharedBans* shared) { shared_ = shared; }
  void onBanAdded(const shield::BanInfo& ban, bool fromStore) override {
    // Another node's ban is kept in this node's store too (`ban why`,
    // restarts), but not published again.
    const bool remote = shared_ != nullptr && shared_->applyingRemote();
    if (!fromStore || remote) sync_.put(ban);
    if (shared_ != nullptr) shared_->onBanAdded(ban, fromStore);
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
    if (shared_ != nullptr) {
      if (shared_->applyingRemote()) sync_.remove(prefix);
      shared_->onBanRemoved(prefix);
    }
    if (offload_ == nullptr) return;
    if (auto cidr = net::Cidr::parse(shield::toString(prefix))) offload_->unban(*cidr);
  }
  void onBanHits(const std::vector<shield::BanHits>& hits) override { sync_.hits(hits); }

 private:
  app::BanSync& sync_;
  firewall::KernelOffload* offload_;
  const Clock& clock_;
  cluster::SharedBans* shared_ = nullptr;
};

// RFC 7339 feedback from overload control into the transaction layer's
// responses. Called on the worker.
class OverloadFeedback final : public txn::ViaFeedback {
 public:
  explicit OverloadFeedback(shield::OverloadControl& control) : control_(control) {}
  std::string viaParams(const net::IpAddress& client) override {
    std::string params = control_.ocParams(shield::keyOf(client));
    if (!params.empty()) control_.countOcResponse();
    return params;
  }

 private:
  shield::OverloadControl& control_;
};

// CDRs of calls shed by overload control (rate-limited by the recorder, like
// illegal calls'). Called on the worker.
class ShedCdrs final : public shield::ShedListener {
 public:
  ShedCdrs(call::CdrRecorder& cdrs, shield::OverloadControl& control)
      : cdrs_(cdrs), control_(control) {}
  void onShedCall(const transport::Flow& from, std::string_view raw, int code) override {
    cdrs_.shedCall(raw, from, std::string(control_.gatewayOf(shield::keyOf(from.remote.ip()))),
                   code);
  }

 private:
  call::CdrRecorder& cdrs_;
  shield::OverloadControl& control_;
};

// Overload control's classes: one per mapping gateway with addresses, with
// its overload_weight (docs/overload.md).
std::shared_ptr<const shield::OverloadClasses> overloadClasses(const admission::Provisioning& p) {
  std::vector<shield::OverloadClassSpec> specs;
  for (const auto& g : p.mappingGateways) {
    shield::OverloadClassSpec spec{.name = g.name,
                                   .weight = static_cast<uint32_t>(g.policy.overloadWeight)};
    for (const std::string& a : g.addresses) {
      if (auto c = net::Cidr::parse(a)) {
        spec.addresses.push_back(*c);
      } else if (auto sa = net::SockAddr::parse(a)) {
        spec.addresses.push_back(*net::Cidr::parse(sa->ip().toString()));
      }
    }
    if (!spec.addresses.empty()) specs.push_back(std::move(spec));
  }
  return std::make_shared<const shield::OverloadClasses>(std::move(specs));
}

// Loads provisioning (and the number lists) from a store and builds the
// call layer's snapshot; null (and a log line) when the store cannot be read.
// *gateways receives every gateway address (the shield's trusted sources).
std::shared_ptr<const call::Snapshot> loadSnapshot(
    store::Store& st, store::PolicyStore& ps, const std::string& realm,
    const admission::NumberSettings& numbers, std::vector<net::Cidr>* gateways,
    std::shared_ptr<const shield::OverloadClasses>* classes) {
  auto version = st.provisioningVersion();
  auto prov = st.loadProvisioning();
  if (!version.ok() || !prov.ok()) {
    log::error("provisioning.load_failed")
        .kv("error", !prov.ok() ? prov.error().message : version.error().message);
    return nullptr;
  }
  auto lists = ps.loadNumberLists();
  if (!lists.ok()) {
    log::error("provisioning.load_failed").kv("error", lists.error().message);
    return nullptr;
  }
  admission::KnownNames known;
  for (const auto& l : *lists) known.numberLists.emplace(l.name, l.kind);
  auto errors = admission::validateProvisioning(*prov, &known);
  for (const auto& e : errors) {
    // Imports validate, so this means the store was edited by hand; the
    // offending entries are skipped by the matcher and the route table.
    log::warn("provisioning.invalid_entry")
        .kv("gateway", e.gateway)
        .kv("key", e.key)
        .kv("error", e.message);
  }
  auto snap = std::make_shared<const call::Snapshot>(*prov, *version, realm, *lists, numbers);
  *gateways = admission::gatewayPrefixes(*prov);
  *classes = overloadClasses(*prov);
  log::info("provisioning.loaded")
      .kv("version", *version)
      .kv("mapping_gateways", prov->mappingGateways.size())
      .kv("routing_gateways", prov->routingGateways.size())
      .kv("accounts", prov->accounts.size())
      .kv("fraud_rules", prov->fraudRules.size())
      .kv("number_lists", lists->size());
  return snap;
}

// Polls the store for provisioning changes on its own thread and posts new
// snapshots to the worker. Thread-safe start/stop; wake() asks for a reload now.
class ProvisioningWatcher {
 public:
  ProvisioningWatcher(const Config& config, EventLoop& loop, call::RequestRouter& router,
                      shield::Shield& shield, firewall::KernelOffload* offload, uint64_t version)
      : config_(config),
        loop_(loop),
        router_(router),
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
  // Looks at the version now instead of at the next poll (a NOTIFY from
  // the shared database: the reload happens only if the version moved).
  void poke() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      poke_ = true;
    }
    cv_.notify_all();
  }
  const LatencyHistogram& pollLatency() const { return pollLatency_; }

 private:
  void run() {
    std::unique_ptr<store::Store> st;
    std::unique_ptr<store::PolicyStore> ps;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, config_.store.provisioningPollMs,
                   [this] { return stop_ || force_ || poke_; });
      if (stop_) break;
      bool force = force_;
      force_ = false;
      poke_ = false;
      lock.unlock();
      if (!st) {
        auto opened = store::openStore(config_.store.target());
        if (opened.ok()) st = std::move(opened).value();
      }
      if (!ps) {
        auto opened = store::openPolicyStore(config_.store.target());
        if (opened.ok()) ps = std::move(opened).value();
      }
      if (st && ps) {
        const auto t0 = std::chrono::steady_clock::now();
        auto v = st->provisioningVersion();
        pollLatency_.record(std::chrono::steady_clock::now() - t0);
        if (v.ok() && (force || *v != version_)) {
          std::vector<net::Cidr> gateways;
          std::shared_ptr<const shield::OverloadClasses> classes;
          auto snap =
              loadSnapshot(*st, *ps, config_.sip.domain, config_.numbers, &gateways, &classes);
          if (snap) {
            version_ = snap->version;
            call::RequestRouter* router = &router_;
            shield::Shield* sh = &shield_;
            auto trusted = shield_.buildTrusted(gateways);  // const: safe off the worker
            if (offload_) offload_->setTrusted(trustedPrefixes(config_, gateways));
            loop_.post([router, sh, snap, trusted, classes] {
              router->setSnapshot(snap);
              sh->setTrusted(trusted);
              sh->overload().setClasses(classes);
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
  call::RequestRouter& router_;
  shield::Shield& shield_;
  firewall::KernelOffload* offload_;
  uint64_t version_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool force_ = false;
  bool poke_ = false;
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
  a.console = c.api.console;
  a.limits = c.api.limits;
  a.store = c.store.target();
  a.localTokenHash = std::move(localTokenHash);
  a.realm = c.sip.domain;
  a.shieldTrusted = c.shield.trusted;
  a.numbers = c.numbers;
  return a;
}

// The store's files are tightened by the opener (store.permissions_tightened);
// an existing directory is only reported: it may be shared (/var/lib), and
// `tollgate doctor` says what to do.
void warnIfStoreDirectoryOpen(const std::string& storePath) {
  const std::string dir = store::sqliteStoreDirectory(storePath);
  auto info = files::inspect(dir);
  if (!info || !*info || !files::openToOthers((*info)->mode)) return;
  log::warn("store.directory_open")
      .kv("path", dir)
      .kv("mode", files::octal((*info)->mode))
      .kv("why",
          "other users can list (or, if writable, replace) the store's files; give the store a "
          "directory of its own, mode 0700 (tollgate doctor)");
}

// What a stop takes after the drain: the management API's threads, the
// last ban, state and CDR flushes (each bounded: banSync.flush waits at
// most 5 s), the nftables table removed. Told to systemd with STOPPING=1.
constexpr std::chrono::seconds kStopAfterDrain{15};

// Descriptors the node needs beside its SIP connection table: listeners,
// the store and its threads, the management API's connections, epoll,
// signalfd, the kernel offload. Generous: running short makes accept fail
// for gateways and strangers alike.
constexpr rlim_t kFdHeadroom = 1024;

// The connection table only holds what the descriptor limit allows. With a
// soft limit below sip.tcp_max_connections (systemd's default is 1024),
// accept fails with EMFILE for everyone before the table's bounds, and its
// share kept for trusted sources, ever come into play. Raise the soft limit
// as far as the hard one allows, and say so when that is not enough.
void raiseFileLimit(size_t tcpMaxConnections) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t want = static_cast<rlim_t>(tcpMaxConnections) + kFdHeadroom;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    log::warn("node.fd_limit_low")
        .kv("limit", static_cast<uint64_t>(rl.rlim_cur))
        .kv("needed", static_cast<uint64_t>(want))
        .kv("note",
            "raise LimitNOFILE (systemd) or ulimit -n: until then accept fails before "
            "sip.tcp_max_connections is reached");
  }
}

bool isWildcard(const net::SockAddr& a) {
  const uint8_t* b = a.ip().bytes();
  for (size_t i = 0; i < a.ip().size(); ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

// The address that stands for a wildcard listener in captures: the
// advertised address when it is an IP (not a host name).
net::IpAddress advertisedIp(const Config& config) {
  auto a = net::SockAddr::parse(config.call.advertisedAddress, 0);
  return a ? a->ip() : net::IpAddress{};
}

// Journal entries under systemd (or when asked), lines on stderr otherwise.
// A journal socket that cannot be created leaves stderr, said on stderr.
void applyLogTarget(const LogConfig& lc) {
  const bool journal =
      lc.target == LogTarget::Journal || (lc.target == LogTarget::Auto && log::stderrIsJournal());
  if (!journal) return;
  if (!log::setJournal(lc.journalSocket)) {
    log::warn("log.journal_unavailable")
        .kv("socket", lc.journalSocket)
        .kv("note", "logging to stderr");
  }
}

// Where peers send SIP to this node (its heartbeat's `sip`): cluster.advertise,
// else the first UDP listener (a wildcard one under sip.advertised_address).
std::string clusterSipAddress(const Config& config, const transport::Transport& transport) {
  if (!config.cluster.advertise.empty()) return config.cluster.advertise;
  for (const auto& l : transport.listeners()) {
    if (l.protocol != transport::Protocol::Udp) continue;
    if (!isWildcard(l.address)) return l.address.toString();
    if (auto a = net::SockAddr::parse(config.call.advertisedAddress, l.address.port())) {
      return net::SockAddr(a->ip(), l.address.port()).toString();
    }
  }
  return "";
}

}  // namespace

int runNode(const Config& config) {
  log::setLevel(config.log.level);
  log::setFormat(config.log.format);
  applyLogTarget(config.log);

  for (const auto& spec : config.sip.listen) {
    if (isWildcard(spec.address) && config.call.advertisedAddress.empty()) {
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
  raiseFileLimit(config.transport.tcpMaxConnections);

  // One node per store, and no `tollgate restore` under a running node
  // (store/store_lock.h); held until the process ends.
  std::optional<store::StoreLock> storeLock;
  if (config.store.path != ":memory:") {
    auto lock = store::StoreLock::acquire(config.store.path);
    if (!lock.ok()) {
      log::error("store.locked").kv("error", lock.error().message);
      return 1;
    }
    storeLock.emplace(std::move(lock).value());
  }

  auto opened = store::openStore(config.store.target());
  if (!opened.ok()) {
    log::error("store.open_failed")
        .kv("path", store::storeDescription(config.store.target()))
        .kv("error", opened.error().message);
    return 1;
  }
  std::unique_ptr<store::Store> mainStore = std::move(opened).value();
  warnIfStoreDirectoryOpen(config.store.path);
  auto openedPolicy = store::openPolicyStore(config.store.target());
  if (!openedPolicy.ok()) {
    log::error("store.open_failed")
        .kv("path", store::storeDescription(config.store.target()))
        .kv("error", openedPolicy.error().message);
    return 1;
  }
  std::unique_ptr<store::PolicyStore> policyStore = std::move(openedPolicy).value();
  std::vector<net::Cidr> gateways;
  std::shared_ptr<const shield::OverloadClasses> overloadClassMap;
  auto snapshot = loadSnapshot(*mainStore, *policyStore, config.sip.domain, config.numbers,
                               &gateways, &overloadClassMap);
  if (!snapshot) return 1;
  mainStore.reset();
  // The dynamic blacklist and the policy counters as the last run left them
  // (the change-log position first: a change made meanwhile is applied
  // twice, harmlessly, rather than missed).
  auto lastChange = policyStore->lastBlacklistChange();
  const int64_t startWallUs = SystemClock().wallMicros();
  auto blacklistEntries = policyStore->loadBlacklist(startWallUs);
  auto blacklistCounters = policyStore->loadCounters(kBlacklistCounters);
  auto fraudCounters = policyStore->loadCounters(kFraudCounters);
  if (!lastChange.ok() || !blacklistEntries.ok() || !blacklistCounters.ok() ||
      !fraudCounters.ok()) {
    log::error("store.policy_load_failed").kv("path", config.store.path);
    return 1;
  }
  policyStore.reset();

  // CDRs: to the store through the writer thread; with PostgreSQL, through
  // the local spool while the database is away (docs/store.md, "Outage").
  store::CdrSpoolSettings spool;
  store::StoreTarget cdrTarget = config.store.target();
  if (config.store.backend == store::Backend::Postgresql) {
    spool.dir =
        config.store.spoolDir.empty() ? config.store.path + ".spool" : config.store.spoolDir;
    spool.node = config.store.nodeId.empty() ? hostName() : config.store.nodeId;
    cdrTarget.pg.queryTimeoutMs = kCdrWriteTimeoutMs;
  }
  store::AsyncCdrWriter cdrWriter([cdrTarget] { return store::openStore(cdrTarget); },
                                  store::AsyncCdrWriter::kDefaultQueueLimit, spool);
  if (!spool.dir.empty() && !cdrWriter.spoolReady()) return 1;  // logged: cdr.spool_open_failed
  std::optional<store::CdrRetention> retention;
  if (config.store.cdrRetentionDays > 0) {
    retention.emplace([target = config.store.target()] { return store::openStore(target); },
                      config.store.cdrRetentionDays);
  }

  SystemClock clock;
  CryptoRandom random;
  EventLoop loop(clock);
  // Cluster membership and the Redis link ([cluster], docs/cluster.md); null
  // on a single node. Declared before everything that uses it (the call
  // layer reaches it through layer.services.cluster; the shield's and
  // registrar's owners here through clusterNode.get()) so it outlives them;
  // stopped explicitly (a clean leave) while they are all still alive.
  std::unique_ptr<cluster::Cluster> clusterNode;
  if (config.cluster.enabled) {
    clusterNode = std::make_unique<cluster::Cluster>(loop, config.cluster);
  }
  // The channel and rate limits shared across the cluster
  // (docs/cluster-limits.md): built once the call layer exists, declared
  // here so it outlives the calls (each gives its channels back as it goes).
  std::unique_ptr<cluster::SharedLimits> sharedLimits;
  // HEP capture ([hep]): declared before the transport and the call layer,
  // which tap it, so it outlives them.
  std::unique_ptr<mgmt::HepCapture> hep;
  if (config.hep.enabled()) {
    hep = std::make_unique<mgmt::HepCapture>(config.hep, clock, advertisedIp(config));
    if (auto r = hep->start(); !r.ok()) {
      log::error("hep.start_failed").kv("error", r.error());
      return 1;
    }
    log::info("hep.started")
        .kv("collector", config.hep.collector.toString())
        .kv("capture_id", static_cast<int64_t>(config.hep.captureId))
        .kv("legs", config.hep.legA && config.hep.legB ? "a,b"
                    : config.hep.legA                  ? "a"
                                                       : "b");
  }
  // Transport -> Shield -> TransactionLayer: the shield decides on the raw
  // bytes before anything is parsed.
  transport::ForwardingSink sink;
  shield::Shield shield(loop, clock, random, config.shield, sink, config.overload);
  transport::Transport transport(loop, shield, config.transport);
  txn::TransactionLayer txns(loop, transport, random, config.timers);
  sink.target = &txns;
  shield.setTransport(&transport);
  shield.setTrusted(shield.buildTrusted(gateways));
  shield.overload().setClasses(overloadClassMap);
  // RFC 7339 feedback in the Via of every response to a client that asked.
  OverloadFeedback overloadFeedback(shield.overload());
  if (config.overload.enabled && config.overload.rfc7339) txns.setViaFeedback(&overloadFeedback);
  txns.setOccupancyObserver(&shield);
  // The call layer and its peers (registrar, call policy, carrier monitor,
  // digest); its request router is the transaction layer's user from here.
  call::CallLayer layer({.call = config.call,
                         .auth = config.auth,
                         .registrar = config.registrar,
                         .policy = config.policy,
                         .carriers = config.carrierMonitor,
                         .media = config.media},
                        loop, txns, cdrWriter, random, clock);
  layer.router.setSnapshot(snapshot);
  layer.calls.setOccupancyObserver(&shield);
  layer.services.legObserver = hep.get();
  layer.services.cluster = clusterNode.get();
  if (clusterNode) {
    sharedLimits = std::make_unique<cluster::SharedLimits>(loop, *clusterNode);
    admission::CallLimits& callLimits = layer.policy.limits();
    sharedLimits->setCounts([&callLimits](const cluster::SharedLimits::CountVisitor& visit) {
      callLimits.forEach(visit);
    });
    sharedLimits->setShareHook(
        [&callLimits, &loop](size_t divisor) { callLimits.setShare(divisor, loop.now()); });
    layer.services.sharedLimits = sharedLimits.get();
    sharedLimits->start();
  }
  if (auto r = layer.media.start(); !r.ok()) {
    log::error("media.start_failed").kv("error", r.error());
    return 1;
  }
  if (layer.media.enabled()) {
    log::info("media.started").kv("engines", static_cast<int64_t>(config.media.engines.size()));
  }
  // With the management API, its SIP trace also hears of carrier legs (set
  // below, once the API exists: before the worker runs).
  call::LegFanout legObservers;
  // Digest authentication feeds the shield: suspensions become bans, good
  // credentials vouch for their source (docs/shield.md). With the shield off
  // there is nothing to feed.
  if (config.shield.enabled) layer.router.setShieldHooks(&shield, &shield);

  // TLS: our certificate for tls: listeners (and as client certificate),
  // the CAs for client certificates and for carriers reached over TLS.
  if (auto r = transport.configureTls(config.tls); !r.ok()) {
    log::error("node.tls_failed").kv("error", r.error());
    return 1;
  }
  // Call policy state: restore, then persist through PolicySync, which also
  // brings operator blacklist changes from other processes.
  admission::CallPolicy& policy = layer.policy;
  policy.blacklist().load(*blacklistEntries, startWallUs);
  if (*blacklistCounters) policy.blacklist().restoreCounters(**blacklistCounters, startWallUs);
  if (*fraudCounters) policy.fraud().restoreCounters(**fraudCounters, startWallUs);
  log::info("blacklist.loaded")
      .kv("entries", policy.blacklist().size())
      .kv("last_change", *lastChange);
  call::CallLayer* layerp = &layer;
  // A cluster shares the blacklist's entries (cluster/shared_policy.h);
  // set below, once the store side exists.
  std::unique_ptr<cluster::SharedPolicy> sharedPolicy;
  auto* sharedPolicyp = &sharedPolicy;
  store::PolicySync policySync(
      [target = config.store.target()] { return store::openPolicyStore(target); },
      config.store.provisioningPollMs, *lastChange,
      [&loop, layerp, sharedPolicyp](std::vector<store::BlacklistChange>&& changes) {
        auto shared = std::make_shared<std::vector<store::BlacklistChange>>(std::move(changes));
        loop.post([layerp, shared, sharedPolicyp] {
          applyBlacklistChanges(*layerp, *shared, sharedPolicyp->get());
        });
      });
  policy.blacklist().setPersistence(&policySync);
  if (clusterNode) {
    sharedPolicy = std::make_unique<cluster::SharedPolicy>(loop, *clusterNode, policy.blacklist(),
                                                           &policySync);
    policy.blacklist().setPersistence(sharedPolicy.get());
    policy.blacklist().setCounterSink(sharedPolicy.get());
    sharedPolicy->start();
  }
  // ... and the fraud thresholds' counters (cluster/shared_fraud.h).
  std::unique_ptr<cluster::SharedFraud> sharedFraud;
  if (clusterNode) {
    sharedFraud = std::make_unique<cluster::SharedFraud>(loop, *clusterNode, policy.fraud());
    policy.fraud().setCounterSink(sharedFraud.get());
    sharedFraud->start();
  }
  auto saveCounters = [&] {
    const int64_t now = clock.wallMicros();
    policySync.saveCounters(kBlacklistCounters, policy.blacklist().saveCounters(now));
    policySync.saveCounters(kFraudCounters, policy.fraud().saveCounters(now));
  };
  Timer policyTick;
  MonoTime nextCounterSave = loop.now() + config.policy.counterSaveInterval;
  policyTick.setCallback([&] {
    policy.blacklist().expire(clock.wallMicros());
    if (loop.now() >= nextCounterSave) {
      saveCounters();
      nextCounterSave = loop.now() + config.policy.counterSaveInterval;
    }
    policyTick.start(loop.timers(), Millis(1000));
  });
  policyTick.start(loop.timers(), Millis(1000));

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
  if (clusterNode) {
    clusterNode->start(clusterSipAddress(config, transport),
                       [&layer] { return static_cast<uint64_t>(layer.calls.activeCalls()); });
  }

  // Registrations and suspensions: restored now, persisted as they change.
  // Each binding is stamped with the node that owns it; on a shared
  // (PostgreSQL) store a node restores only its own.
  const std::string bindingOwner =
      config.cluster.enabled ? config.cluster.nodeId
                             : (config.store.nodeId.empty() ? hostName() : config.store.nodeId);
  StateWriter stateWriter(config.store.target(), bindingOwner);
  if (!restoreAuthState(config.store.target(), clock, layer.registrar,
                        layer.authenticator.limiter(), transport,
                        config.store.backend == store::Backend::Postgresql
                            ? std::optional<std::string>(bindingOwner)
                            : std::nullopt)) {
    return 1;
  }
  layer.registrar.setListener(&stateWriter);
  layer.authenticator.limiter().setListener(&stateWriter);
  // Registrations shared with the other nodes (docs/cluster-registrations.md):
  // each change goes to Redis, then on to the store; calls reach accounts
  // registered through another node, and that node's INVITEs are checked.
  std::unique_ptr<cluster::SharedRegistrations> sharedRegistrations;
  if (clusterNode) {
    sharedRegistrations = std::make_unique<cluster::SharedRegistrations>(
        *clusterNode, loop, clock, random, layer.registrar, &stateWriter);
    if (config.shield.enabled) {
      sharedRegistrations->setVouch(
          [&shield](const net::IpAddress& ip, std::chrono::seconds ttl) { shield.vouch(ip, ttl); });
    }
    layer.registrar.setListener(sharedRegistrations.get());
    layer.services.peers = sharedRegistrations.get();
    sharedRegistrations->start();
  }
  // Bindings of accounts removed from provisioning while the node was down
  // go now (and from the store), not at their expiry.
  layer.router.setSnapshot(snapshot);
  SuspensionClearWatcher clearWatcher(config.store.target(), config.store.provisioningPollMs, loop,
                                      layer.authenticator.limiter());
  // A cluster shares retry counters and suspensions (cluster/shared_auth.h):
  // it sits between the limiter and the store writer, and the router holds
  // a wrong password's answer for its verdict.
  std::unique_ptr<cluster::SharedAuth> sharedAuth;
  if (clusterNode) {
    sharedAuth =
        std::make_unique<cluster::SharedAuth>(loop, *clusterNode, layer.authenticator.limiter());
    sharedAuth->setNext(&stateWriter);
    layer.authenticator.limiter().setListener(sharedAuth.get());
    layer.router.setSharedRetry(sharedAuth.get());
    clearWatcher.setOnCleared(
        [p = sharedAuth.get()](const auth::Suspension& s) { p->onCleared(s); });
    sharedAuth->start();
  }
  clearWatcher.start();

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
  app::BanSync banSync(config.store.target(), config.store.provisioningPollMs,
                       config.shield.banMemory, loop, shield);
  NodeBanListener banListener(banSync, offload.get(), clock);
  shield.setBanListener(&banListener);
  // A cluster shares the ban list (cluster/shared_bans.h).
  std::unique_ptr<cluster::SharedBans> sharedBans;
  if (clusterNode) {
    sharedBans =
        std::make_unique<cluster::SharedBans>(loop, *clusterNode, shield, config.shield.maxBans);
    banListener.setShared(sharedBans.get());
    sharedBans->start();
  }
  ShedCdrs shedCdrs(layer.cdrs, shield.overload());
  shield.setShedListener(&shedCdrs);
  banSync.loadInitial();
  banSync.start();

  ProvisioningWatcher watcher(config, loop, layer.router, shield, offload.get(), snapshot->version);
  watcher.start();
  // PostgreSQL: a change through any node's API or CLI is NOTIFYed; the
  // poll above stays as the fallback while the listener is disconnected.
  std::optional<store::PgChangeListener> changes;
  if (config.store.backend == store::Backend::Postgresql) {
    changes.emplace(config.store.target().pg, std::string(store::kPgProvisioningChannel),
                    [&watcher] { watcher.poke(); });
  }

  // A periodic summary keeps counters visible in logs (also on SIGUSR1 and
  // at exit) beside `tollgate stats` and the metrics endpoint.
  uint64_t hepLostReported = 0;
  auto emitStats = [&] {
    if (hep) {
      // Drops are counted always, said at most once per summary.
      const mgmt::HepStats hs = hep->stats();
      const uint64_t lost = hs.droppedQueueFull + hs.droppedTooLarge + hs.sendErrors;
      if (lost > hepLostReported) {
        log::warn("hep.dropped")
            .kv("since_last", lost - hepLostReported)
            .kv("queue_full", hs.droppedQueueFull)
            .kv("too_large", hs.droppedTooLarge)
            .kv("send_errors", hs.sendErrors)
            .kv("sent", hs.sent);
        hepLostReported = lost;
      }
    }
    const call::CallStats& s = layer.stats;
    const auto& t = transport.stats();
    const shield::ShieldStats& sh = shield.stats();
    const shield::OverloadStats& ol = shield.overload().stats();
    auto byShedReason = [](const auto& counts) {
      std::string out;
      for (size_t i = 0; i < counts.size(); ++i) {
        if (counts[i] == 0) continue;
        if (!out.empty()) out += ',';
        out += std::string(shield::shedReasonName(static_cast<shield::ShedReason>(i))) + ":" +
               std::to_string(counts[i]);
      }
      return out;
    };
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
    std::string tcpRefused;
    for (size_t i = 0; i < t.tcpRefused.size(); ++i) {
      if (t.tcpRefused[i] == 0) continue;
      if (!tcpRefused.empty()) tcpRefused += ',';
      tcpRefused += std::string(transport::connectionRefusalName(
                        static_cast<transport::ConnectionRefusal>(i))) +
                    ":" + std::to_string(t.tcpRefused[i]);
    }
    const firewall::FirewallStats fw = offload ? offload->stats() : firewall::FirewallStats{};
    log::info("node.stats")
        .kv("calls_active", layer.calls.activeCalls())
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
        .kv("tcp_open_untrusted", t.tcpOpenUntrusted)
        .kv("tcp_refused", tcpRefused)
        .kv("tcp_closed_message_timeout", t.tcpClosedMessageTimeout)
        .kv("tls_handshake_timeouts", t.tlsHandshakeTimeouts)
        .kv("tcp_closed_buffer_budget", t.tcpClosedBufferBudget)
        .kv("tcp_closed_deadline_reset", t.tcpClosedDeadlineReset)
        .kv("failovers", s.failovers)
        .kv("no_dialog", s.noDialog)
        .kv("in_dialog_foreign", s.inDialogForeign)
        .kv("ack_foreign", s.ackForeign + txns.stats().foreignAcks)
        .kv("cancel_foreign", txns.stats().foreignCancels)
        .kv("in_dialog_challenged", s.inDialogChallenged)
        .kv("in_dialog_rejected", s.inDialogRejected)
        .kv("illegal_cdrs_suppressed", s.illegalCdrsSuppressed)
        .kv("untyped_bodies_dropped", s.untypedBodiesDropped)
        .kv("peer_lookups", s.peerLookups)
        .kv("peer_routed", s.peerRouted)
        .kv("peer_invites_in", s.peerInvitesIn)
        .kv("peer_invites_no_binding", s.peerInvitesNoBinding)
        .kv("peer_refused", peerRefusals(s))
        .kv("policy_refused_cps", layer.policy.stats().refused[1])
        .kv("policy_refused_concurrent", layer.policy.stats().refused[2])
        .kv("policy_refused_caller_listed", layer.policy.stats().refused[3])
        .kv("policy_refused_callee_listed", layer.policy.stats().refused[4])
        .kv("policy_refused_fraud", layer.policy.stats().refused[5])
        .kv("policy_would_refuse_count_only", layer.policy.stats().wouldRefuseCountOnly)
        .kv("policy_calls_cut", layer.policy.stats().cutCalls)
        .kv("policy_carrier_full", layer.policy.stats().carrierFull)
        .kv("policy_max_duration_ended", layer.policy.stats().maxDurationEnded)
        .kv("fraud_warnings", layer.policy.fraud().stats().warnings)
        .kv("blacklist_entries", layer.policy.blacklist().size())
        .kv("carriers_down", layer.carriers.stats().wentDown - layer.carriers.stats().cameUp)
        .kv("ended_by_reason", reasons)
        .kv("txn_retransmissions_absorbed", txns.stats().retransmissionsAbsorbed)
        .kv("shield_received", sh.received)
        .kv("shield_trusted", sh.trusted)
        .kv("shield_passed", sh.passed)
        .kv("shield_dropped", byShieldReason(sh.dropped))
        .kv("overload_active", ol.overloaded)
        .kv("overload_episodes", ol.episodes)
        .kv("overload_shed", byShedReason(ol.shed))
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
    const auto& a = layer.authenticator.stats();
    const auto l = layer.authenticator.limiter().stats();
    const auto r = layer.registrar.stats();
    log::info("node.auth_stats")
        .kv("challenges", s.challengesSent)
        .kv("authenticated", a.authenticated)
        .kv("failures", a.failures)
        .kv("uri_mismatches", a.uriMismatches)
        .kv("stale", a.stale)
        .kv("replays", a.replays)
        .kv("invalid_nonces", a.invalidNonces)
        .kv("suspended_dropped", s.suspendedDropped)
        .kv("suspensions", l.suspensions)
        .kv("suspensions_active", layer.authenticator.limiter().active().size())
        .kv("bindings", r.bindings)
        .kv("registers", r.registers)
        .kv("register_refused", r.refusedReplace)
        .kv("contacts_offline", r.wentOffline)
        .kv("carrier_challenges", s.carrierChallenges)
        .kv("unwanted_streams_closed", s.unwantedStreamsClosed)
        .kv("auth_bans_placed", s.authBansPlaced)
        .kv("auth_bans_refused", s.authBansRefused);
  };
  Timer statsTick;
  statsTick.setCallback([&] {
    emitStats();
    statsTick.start(loop.timers(), Millis(60'000));
  });
  statsTick.start(loop.timers(), Millis(60'000));

  // The management API (docs/api.md) and the token file the CLI uses.
  WorkerControl control(
      loop, layer, txns, transport, cdrWriter, watcher.pollLatency(),
      [&watcher] { watcher.wake(); }, config.shield.enabled ? &shield : nullptr, offload.get());
  control.setOverload(&shield.overload());
  // API ban and suspension changes reach this node's worker (and through
  // it the cluster) now, not at the next store poll.
  if (clusterNode) {
    control.setClusterSecurityStats([&](mgmt::NodeStats& s) {
      s.clusterSecurity = true;
      s.sharedBans = sharedBans->stats();
      s.sharedAuth = sharedAuth->stats();
      s.sharedPolicy = sharedPolicy->stats();
      s.sharedFraud = sharedFraud->stats();
    });
  }
  control.setSecurityChanged([&banSync, &clearWatcher] {
    banSync.pollNow();
    clearWatcher.pollNow();
  });
  control.setCapture(hep.get());
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
    legObservers.add(hep.get());
    legObservers.add(api->legObserver());
    layer.services.legObserver = &legObservers;
  }

  // Drain: refuse new calls at once, let calls end on their own until the
  // deadline, then hang up the rest and stop.
  bool drainingNow = false;
  MonoTime drainDeadline{};
  Timer drainTick;
  drainTick.setCallback([&] {
    if (layer.calls.activeCalls() == 0 || loop.now() >= drainDeadline) {
      if (layer.calls.activeCalls() > 0) {
        log::warn("node.drain_timeout").kv("calls", layer.calls.activeCalls());
        layer.calls.hangupAll();
      }
      loop.stop();
      return;
    }
    drainTick.start(loop.timers(), Millis(50));
  });

  // systemd (Type=notify): READY once listening, STOPPING while draining,
  // WATCHDOG from this loop, so a stuck worker gets the unit restarted.
  const SystemdNotifier systemd = SystemdNotifier::fromEnvironment();
  Timer watchdogTick;
  watchdogTick.setCallback([&] {
    systemd.notify("WATCHDOG=1");
    watchdogTick.start(loop.timers(), systemd.watchdogInterval());
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
        layer.calls.hangupAll();
        loop.stop();
        continue;
      }
      drainingNow = true;
      drainDeadline = loop.now() + config.node.drainTimeout;
      log::info("node.draining")
          .kv("calls", layer.calls.activeCalls())
          .kv("drain_timeout_s", static_cast<int64_t>(config.node.drainTimeout.count()));
      // The stop may take the drain and the flush after it: systemd waits
      // that long before its SIGKILL, whatever TimeoutStopSec says.
      systemd.notify(
          "STOPPING=1\nSTATUS=draining " + std::to_string(layer.calls.activeCalls()) +
          " calls\nEXTEND_TIMEOUT_USEC=" +
          std::to_string((config.node.drainTimeout + kStopAfterDrain).count() * 1'000'000));
      layer.router.drain();
      transport.stopAccepting();
      drainTick.start(loop.timers(), Millis(0));
    }
  });

  log::info("node.ready")
      .kv("listen", bound)
      .kv("store", config.store.path)
      .kv("pid", static_cast<int64_t>(getpid()));
  systemd.notify("READY=1\nSTATUS=listening on " + bound);
  if (systemd.watchdogInterval().count() > 0) {
    watchdogTick.start(loop.timers(), systemd.watchdogInterval());
  }
  loop.run();
  watchdogTick.cancel();

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
    control.clearTraceTap();  // this thread is the worker; the trace tap dies with the API
    layer.services.legObserver = hep.get();  // and so does its leg table
    ::unlink(tokenPath.c_str());
  }
  changes.reset();
  watcher.stop();
  clearWatcher.stop();
  policyTick.cancel();
  saveCounters();
  policySync.flush();
  policy.blacklist().setPersistence(nullptr);
  policy.blacklist().setCounterSink(nullptr);
  policy.fraud().setCounterSink(nullptr);
  // Give the BYEs/CANCELs of a hang-up a moment on the wire.
  for (int i = 0; i < 5; ++i) loop.runOnce(Millis(10));
  if (sharedLimits) sharedLimits->stop();
  if (clusterNode) clusterNode->stop();  // leaves the node set; closes the link
  transport.close();
  if (hep) {
    hep->stop();  // sends what is queued
    const mgmt::HepStats hs = hep->stats();
    log::info("hep.stopped")
        .kv("sent", hs.sent)
        .kv("dropped_queue_full", hs.droppedQueueFull)
        .kv("dropped_too_large", hs.droppedTooLarge)
        .kv("send_errors", hs.sendErrors);
  }
  shield.reportHits();
  banSync.flush(Millis(5000));
  banSync.stop();
  if (offload) offload->stop();  // deletes the kernel table
  emitStats();
  cdrWriter.flush();
  stateWriter.flush();
  auto ws = cdrWriter.stats();
  log::info("node.stopped")
      .kv("cdrs_written", ws.written)
      .kv("cdr_write_errors", ws.writeErrors)
      .kv("cdrs_dropped", ws.droppedQueueFull)
      .kv("cdrs_spooled", ws.spooled)
      .kv("cdrs_replayed", ws.replayed)
      .kv("cdr_spool_records", ws.spoolRecords)
      .kv("cdr_commit_delay_max_ms", static_cast<double>(ws.commitDelayMaxUs) / 1000.0);
  return 0;
}

}  // namespace tollgate::app
