// WorkerControl and the local API token file (node_control.h).
#include "app/node_control.h"

#include "cluster/shared_limits.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <memory>
#include <thread>

#include "common/private_files.h"
#include "mgmt/secrets.h"

namespace tollgate::app {

WorkerControl::WorkerControl(EventLoop& loop, call::CallLayer& layer, txn::TransactionLayer& txns,
                             transport::Transport& transport, store::AsyncCdrWriter& cdrs,
                             const LatencyHistogram& pollLatency, std::function<void()> wakeWatcher,
                             shield::Shield* shield, firewall::KernelOffload* offload)
    : loop_(loop),
      layer_(layer),
      txns_(txns),
      transport_(transport),
      cdrs_(cdrs),
      pollLatency_(pollLatency),
      wakeWatcher_(std::move(wakeWatcher)),
      shield_(shield),
      offload_(offload) {}

template <typename T>
std::optional<T> WorkerControl::onWorker(std::function<T()> fn, std::chrono::milliseconds timeout) {
  // Shared: if we stop waiting, the closure still has its promise when it
  // runs (or is destroyed unrun at shutdown).
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  loop_.post([promise, fn = std::move(fn)] { promise->set_value(fn()); });
  if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return future.get();
}

std::optional<mgmt::NodeStats> WorkerControl::stats() {
  auto s = onWorker<mgmt::NodeStats>(
      [this] {
        mgmt::NodeStats s;
        s.calls = layer_.stats;
        s.activeCalls = layer_.calls.activeCalls();
        s.gateways = layer_.calls.gatewayStats();
        s.txn = txns_.stats();
        s.transport = transport_.stats();
        s.provisioningVersion = layer_.router.snapshotVersion();
        s.draining = layer_.router.draining();
        s.auth = layer_.authenticator.stats();
        s.authLimiter = layer_.authenticator.limiter().stats();
        s.suspensionsActive = layer_.authenticator.limiter().active().size();
        s.registrar = layer_.registrar.stats();
        for (const registrar::Binding& b : layer_.registrar.bindings()) {
          ++(b.online ? s.bindingsOnline : s.bindingsOffline);
        }
        s.policy = layer_.policy.stats();
        s.blacklist = layer_.policy.blacklist().stats();
        s.blacklistEntries = layer_.policy.blacklist().size();
        s.fraud = layer_.policy.fraud().stats();
        s.carrierMonitor = layer_.carriers.stats();
        s.carriers = layer_.carriers.status();
        s.media = layer_.media.stats();
        s.shieldEnabled = shield_ != nullptr;
        if (shield_) s.shield = shield_->stats();
        if (overload_) s.overload = overload_->stats();
        if (layer_.services.cluster) s.cluster = layer_.services.cluster->status();
        if (layer_.services.sharedLimits != nullptr) {
          s.clusterLimits = true;
          s.clusterLimitStats = layer_.services.sharedLimits->stats();
        }
        if (clusterSecurityStats_) clusterSecurityStats_(s);
        // The node wires cluster::SharedRegistrations as the layer's peers.
        if (const auto* shared =
                dynamic_cast<const cluster::SharedRegistrations*>(layer_.services.peers)) {
          s.clusterRegistrations = shared->stats();
        }
        return s;
      },
      mgmt::kWorkerTimeout);
  if (!s) return s;
  s->cdrWriter = cdrs_.stats();
  s->cdrWriteLatency = cdrs_.writeLatency();
  s->cdrCommitDelay = cdrs_.commitDelay();
  s->provisioningPollLatency = pollLatency_.snapshot();
  s->kernelOffload = offload_ != nullptr;
  if (offload_) s->firewall = offload_->stats();  // thread-safe
  s->hepEnabled = capture_ != nullptr;
  if (capture_) s->hep = capture_->stats();  // thread-safe
  s->log = log::stats();
  return s;
}

std::optional<std::vector<registrar::Binding>> WorkerControl::registrations() {
  return onWorker<std::vector<registrar::Binding>>([this] { return layer_.registrar.bindings(); },
                                                   mgmt::kWorkerTimeout);
}

std::optional<size_t> WorkerControl::unregister(const std::string& username,
                                                const std::string& contact) {
  return onWorker<size_t>(
      [this, username, contact] { return layer_.registrar.unregister(username, contact); },
      mgmt::kWorkerTimeout);
}

std::optional<std::vector<auth::Suspension>> WorkerControl::suspensions() {
  return onWorker<std::vector<auth::Suspension>>(
      [this] { return layer_.authenticator.limiter().active(); }, mgmt::kWorkerTimeout);
}

std::optional<std::vector<admission::BlacklistEntry>> WorkerControl::blacklist(size_t limit) {
  return onWorker<std::vector<admission::BlacklistEntry>>(
      [this, limit] {
        std::vector<admission::BlacklistEntry> all = layer_.policy.blacklist().entries();
        std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
          return a.number != b.number ? a.number < b.number : a.side < b.side;
        });
        if (all.size() > limit) all.resize(limit);
        return all;
      },
      mgmt::kWorkerTimeout);
}

std::optional<std::vector<call::LiveCall>> WorkerControl::liveCalls(size_t limit) {
  return onWorker<std::vector<call::LiveCall>>(
      [this, limit] { return layer_.calls.liveCalls(limit); }, mgmt::kWorkerTimeout);
}

std::optional<bool> WorkerControl::endCall(uint64_t id) {
  return onWorker<bool>([this, id] { return layer_.calls.endCall(id); }, mgmt::kWorkerTimeout);
}

bool WorkerControl::applyProvisioning(uint64_t version, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  wakeWatcher_();
  while (std::chrono::steady_clock::now() < deadline) {
    auto v = onWorker<uint64_t>([this] { return layer_.router.snapshotVersion(); }, timeout);
    if (v && *v >= version) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

bool WorkerControl::setTap(transport::PacketTap* tap) {
  return onWorker<bool>(
             [this, tap] {
               transport_.setTap(taps_.set(transport::TapFanout::kTrace, tap));
               return true;
             },
             mgmt::kWorkerTimeout)
      .value_or(false);
}

void WorkerControl::setCapture(mgmt::HepCapture* capture) {
  capture_ = capture;
  transport_.setTap(taps_.set(transport::TapFanout::kCapture, capture));
}

void WorkerControl::clearTraceTap() {
  transport_.setTap(taps_.set(transport::TapFanout::kTrace, nullptr));
}

std::string apiTokenPath(const Config& config) {
  return config.store.path + ".api-token";
}

Result<std::string, std::string> writeApiToken(const std::string& path) {
  std::string token = mgmt::newToken(mgmt::kLocalTokenPrefix);
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  files::kPrivateFileMode);
  if (fd < 0) return Err(tmp + ": " + std::strerror(errno));
  std::string line = token + "\n";
  // fchmod: exactly 0600, whatever the umask took away from open's mode.
  bool ok = ::fchmod(fd, files::kPrivateFileMode) == 0 &&
            ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string e = path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return Err(std::move(e));
  }
  return token;
}

}  // namespace tollgate::app
