// OPTIONS keep-alive of routing gateways. See carrier_monitor.h.
#include "call/carrier_monitor.h"

#include "common/log.h"
#include "sip/serialize.h"

namespace tollgate::call {

CarrierMonitor::CarrierMonitor(EventLoop& loop, txn::TransactionLayer& txns, Random& random,
                               CarrierMonitorSettings settings,
                               std::function<std::string(transport::ListenerId)> hostPort)
    : loop_(loop),
      txns_(txns),
      random_(random),
      settings_(std::move(settings)),
      hostPort_(std::move(hostPort)) {
  if (settings_.failureLimit < 1) settings_.failureLimit = 1;
  timer_.setCallback([this] { tick(); });
}

CarrierMonitor::~CarrierMonitor() {
  for (auto& [id, idx] : byTxn_) txns_.detach(id);
}

void CarrierMonitor::configure(const RouteTable& routes) {
  std::vector<Carrier> next;
  next.reserve(routes.size());
  for (size_t i = 0; i < routes.size(); ++i) {
    const RouteTarget& t = routes.target(i);
    Carrier c;
    c.target = t;
    if (auto it = byName_.find(t.name); it != byName_.end()) {
      const Carrier& old = carriers_[it->second];
      if (old.target.address == t.address && old.target.protocol == t.protocol) {
        c.up = old.up;
        c.misses = old.misses;
        c.probes = old.probes;
        c.cseq = old.cseq;
        c.callId = old.callId;
      }
    }
    if (settings_.period.count() <= 0 || !t.optionsCheck) {
      c.up = true;
      c.misses = 0;
    }
    next.push_back(std::move(c));
  }
  // Probes in flight belong to the old list: stop listening to them.
  for (auto& [id, idx] : byTxn_) txns_.detach(id);
  byTxn_.clear();
  carriers_ = std::move(next);
  byName_.clear();
  for (size_t i = 0; i < carriers_.size(); ++i) byName_.emplace(carriers_[i].target.name, i);
  if (settings_.period.count() > 0 && !timer_.active()) {
    timer_.start(loop_.timers(), Millis(0));  // first probes at once
  }
}

bool CarrierMonitor::available(std::string_view name) const {
  auto it = byName_.find(name);
  return it == byName_.end() || carriers_[it->second].up;
}

std::vector<CarrierStatus> CarrierMonitor::status() const {
  std::vector<CarrierStatus> out;
  for (const Carrier& c : carriers_) {
    CarrierStatus s;
    s.name = c.target.name;
    s.address = c.target.address.toString();
    s.monitored = settings_.period.count() > 0 && c.target.optionsCheck;
    s.up = c.up;
    s.misses = c.misses;
    s.probes = c.probes;
    out.push_back(std::move(s));
  }
  return out;
}

void CarrierMonitor::tick() {
  for (Carrier& c : carriers_) {
    if (!c.target.optionsCheck) continue;
    if (c.outstanding != 0) {
      // No answer within a whole period. The transaction keeps running
      // (absorbing a late answer) but no longer counts.
      txns_.detach(c.outstanding);
      byTxn_.erase(c.outstanding);
      c.outstanding = 0;
      miss(c, "no answer");
    }
    probe(c);
  }
  timer_.start(loop_.timers(), settings_.period);
}

void CarrierMonitor::probe(Carrier& c) {
  transport::Transport& tp = txns_.transport();
  const transport::Listener* l = tp.pickListener(c.target.protocol, c.target.address);
  if (l == nullptr) {
    miss(c, "no listener for the carrier's transport");
    return;
  }
  if (c.callId.empty()) c.callId = random_.token(20);
  const std::string host = hostPort_(l->id);
  const std::string branch = txns_.newBranch();
  const std::string ruri = "sip:" + c.target.address.toString() +
                           (c.target.protocol == transport::Protocol::Tcp ? ";transport=tcp" : "");
  txn::OutgoingRequest out;
  out.method = sip::Method::Options;
  out.branch = branch;
  out.requestUri = ruri;
  out.via = "SIP/2.0/" + std::string(transport::protocolName(c.target.protocol)) + " " + host +
            ";branch=" + branch + ";rport";
  out.from = "<sip:keepalive@" + host + ">;tag=" + random_.token(12);
  out.to = "<" + ruri + ">";
  out.callId = c.callId;
  out.cseq = ++c.cseq;
  sip::MessageWriter w(512);
  w.requestLine("OPTIONS", ruri);
  w.header("Via", out.via);
  w.header("Max-Forwards", "70");
  w.header("From", out.from);
  w.header("To", out.to);
  w.header("Call-ID", out.callId);
  w.header("CSeq", std::to_string(out.cseq) + " OPTIONS");
  w.header("Accept", "application/sdp");
  if (!settings_.userAgent.empty()) w.header("User-Agent", settings_.userAgent);
  out.bytes = w.finish();
  const size_t idx = static_cast<size_t>(&c - carriers_.data());
  transport::Flow flow{c.target.protocol, c.target.address, l->id, 0};
  txn::TxnId id = txns_.sendRequest(std::move(out), flow, this);
  ++c.probes;
  ++stats_.probesSent;
  if (id == 0) {
    miss(c, "send failed");
    return;
  }
  c.outstanding = id;
  byTxn_[id] = idx;
}

void CarrierMonitor::miss(Carrier& c, std::string_view why) {
  ++stats_.missed;
  ++c.misses;
  if (c.up && c.misses >= settings_.failureLimit) {
    c.up = false;
    ++stats_.wentDown;
    log::warn("carrier.down")
        .kv("gateway", c.target.name)
        .kv("address", c.target.address.toString())
        .kv("misses", c.misses)
        .kv("why", why);
  }
}

CarrierMonitor::Carrier* CarrierMonitor::byTxn(txn::TxnId id) {
  auto it = byTxn_.find(id);
  if (it == byTxn_.end() || it->second >= carriers_.size()) return nullptr;
  return &carriers_[it->second];
}

void CarrierMonitor::onResponse(txn::TxnId id, const sip::Message& response) {
  Carrier* c = byTxn(id);
  if (c == nullptr) return;
  if (response.status() < 200) return;  // wait for the final answer (it is alive, though)
  byTxn_.erase(id);
  c->outstanding = 0;
  ++stats_.answered;
  c->misses = 0;
  if (!c->up) {
    c->up = true;
    ++stats_.cameUp;
    log::info("carrier.up")
        .kv("gateway", c->target.name)
        .kv("address", c->target.address.toString())
        .kv("status", response.status());
  }
}

void CarrierMonitor::onTimeout(txn::TxnId id) {
  Carrier* c = byTxn(id);
  if (c == nullptr) return;
  byTxn_.erase(id);
  c->outstanding = 0;
  miss(*c, "timeout");
}

void CarrierMonitor::onTransportError(txn::TxnId id) {
  Carrier* c = byTxn(id);
  if (c == nullptr) return;
  byTxn_.erase(id);
  c->outstanding = 0;
  miss(*c, "transport error");
}

}  // namespace tollgate::call
