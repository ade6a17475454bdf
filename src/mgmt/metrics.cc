// Prometheus rendering (metrics.h).
#include "mgmt/metrics.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <map>
#include <vector>

#include "admission/call_policy.h"
#include "call/cdr.h"
#include "registrar/peer_bindings.h"
#include "shield/ban.h"
#include "shield/shield.h"

namespace tollgate::mgmt {

std::string escapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Writes families; each family's HELP/TYPE once, then its samples.
class Writer {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(const std::string& name, const Labels& labels, double v) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i) out_ += ',';
        out_ += labels[i].first + "=\"" + escapeLabelValue(labels[i].second) + '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    char buf[64];
    if (v == static_cast<double>(static_cast<int64_t>(v))) {
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    } else {
      std::snprintf(buf, sizeof buf, "%.9g", v);
    }
    out_ += buf;
    out_ += '\n';
  }
  void one(const char* name, const char* type, const char* help, double v) {
    family(name, type, help);
    sample(name, {}, v);
  }
  void histogram(const char* name, const char* help, const char* label,
                 const std::vector<std::pair<std::string, LatencyHistogram::Snapshot>>& series) {
    family(name, "histogram", help);
    for (const auto& [value, h] : series) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
        cumulative += h.buckets[i];
        char le[32];
        std::snprintf(le, sizeof le, "%g", LatencyHistogram::kBounds[i]);
        sample(std::string(name) + "_bucket", {{label, value}, {"le", le}},
               static_cast<double>(cumulative));
      }
      sample(std::string(name) + "_bucket", {{label, value}, {"le", "+Inf"}},
             static_cast<double>(h.count));
      sample(std::string(name) + "_sum", {{label, value}}, h.sumSeconds);
      sample(std::string(name) + "_count", {{label, value}}, static_cast<double>(h.count));
    }
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void gatewayFamily(Writer& w, const char* name, const char* type, const char* help,
                   const call::GatewayStats& g, uint64_t call::GatewayCounters::*field) {
  w.family(name, type, help);
  // Sorted, so scrapes and tests read stably.
  for (const auto* kind : {"mapping", "routing"}) {
    const auto& m = std::string(kind) == "mapping" ? g.mapping : g.routing;
    std::map<std::string, const call::GatewayCounters*> sorted;
    for (const auto& [n, c] : m) sorted.emplace(n, &c);
    for (const auto& [n, c] : sorted) {
      w.sample(name, {{"kind", kind}, {"gateway", n}}, static_cast<double>(c->*field));
    }
  }
}

// The security state a cluster shares through Redis
// (docs/cluster-security.md): nothing without [cluster].
void clusterSecurityMetrics(Writer& w, const NodeStats& s) {
  if (!s.clusterSecurity) return;
  auto v = [](uint64_t x) { return static_cast<double>(x); };
  const auto& b = s.sharedBans;
  w.family("tollgate_cluster_bans_total", "counter",
           "Shield bans shared through Redis, by event: published (this node's bans), "
           "unpublished (its lifts), applied / lifted (other nodes' bans and lifts), "
           "not_shared (changed while Redis was down; re-published when it returns), "
           "not_stored (published, but the shared hash was full).");
  const std::pair<const char*, uint64_t> bans[] = {
      {"published", b.published}, {"unpublished", b.unpublished}, {"applied", b.applied},
      {"lifted", b.lifted},       {"not_shared", b.notShared},    {"not_stored", b.notStored}};
  for (const auto& [k, n] : bans) w.sample("tollgate_cluster_bans_total", {{"event", k}}, v(n));
  const auto& a = s.sharedAuth;
  w.family("tollgate_cluster_auth_failures_total", "counter",
           "Digest failures counted in the cluster's shared counters, by verdict: counted, "
           "suspended (this failure reached a limit), unanswered (Redis did not answer: the "
           "local count decided).");
  w.sample("tollgate_cluster_auth_failures_total", {{"verdict", "counted"}}, v(a.counted));
  w.sample("tollgate_cluster_auth_failures_total", {{"verdict", "suspended"}}, v(a.suspended));
  w.sample("tollgate_cluster_auth_failures_total", {{"verdict", "unanswered"}}, v(a.unanswered));
  w.family("tollgate_cluster_auth_suspensions_total", "counter",
           "Suspensions shared: published (this node's suspensions and clears), applied / "
           "lifted (other nodes' suspensions and clears).");
  w.sample("tollgate_cluster_auth_suspensions_total", {{"event", "published"}}, v(a.published));
  w.sample("tollgate_cluster_auth_suspensions_total", {{"event", "applied"}}, v(a.applied));
  w.sample("tollgate_cluster_auth_suspensions_total", {{"event", "lifted"}}, v(a.lifted));
  const auto& p = s.sharedPolicy;
  w.family("tollgate_cluster_blacklist_total", "counter",
           "Dynamic blacklist entries shared: published (this node's entries), removals "
           "(operator removals/clears published), applied / removed (other nodes'), "
           "counted (malicious-call rule counts added to the shared counters), listed_shared "
           "(numbers listed because the shared count reached a limit), not_stored (published, "
           "but the shared hash was full).");
  const std::pair<const char*, uint64_t> bl[] = {
      {"published", p.published}, {"removals", p.removals}, {"applied", p.applied},
      {"removed", p.removed},     {"counted", p.counted},   {"listed_shared", p.listed},
      {"not_stored", p.notStored}};
  for (const auto& [k, n] : bl) w.sample("tollgate_cluster_blacklist_total", {{"event", k}}, v(n));
  w.family("tollgate_cluster_blacklist_counts_total", "counter",
           "Dynamic blacklist rule counts shared beyond the malicious-call rules: "
           "streaks_ended (answered calls that ended a shared no-answer streak), caller_calls "
           "(calls in progress per caller added to the shared counts), caller_announced "
           "(callers' counts re-announced at link up and every 10 s).");
  w.sample("tollgate_cluster_blacklist_counts_total", {{"event", "streaks_ended"}},
           v(p.streaksEnded));
  w.sample("tollgate_cluster_blacklist_counts_total", {{"event", "caller_calls"}},
           v(p.callerCalls));
  w.sample("tollgate_cluster_blacklist_counts_total", {{"event", "caller_announced"}},
           v(p.callerAnnounced));
  const auto& f = s.sharedFraud;
  w.family("tollgate_cluster_fraud_total", "counter",
           "Fraud threshold counters shared: counted (calls added to the shared counters), "
           "refreshed (views re-read after a refusal the other nodes' share decided), ended "
           "(call ends sent), absorbed (replies applied), unanswered (no reply: the local "
           "counts decided), local_only (calls counted here only: Redis down), announced "
           "(holdings re-announced at link up and every 10 s).");
  const std::pair<const char*, uint64_t> fr[] = {
      {"counted", f.counted},    {"refreshed", f.refreshed},   {"ended", f.ended},
      {"absorbed", f.absorbed},  {"unanswered", f.unanswered}, {"local_only", f.localOnly},
      {"announced", f.announced}};
  for (const auto& [k, n] : fr) w.sample("tollgate_cluster_fraud_total", {{"event", k}}, v(n));
  w.family("tollgate_cluster_payloads_rejected_total", "counter",
           "Shared security payloads read from Redis that did not decode (dropped), by kind.");
  w.sample("tollgate_cluster_payloads_rejected_total", {{"kind", "ban"}}, v(b.rejected));
  w.sample("tollgate_cluster_payloads_rejected_total", {{"kind", "suspension"}}, v(a.rejected));
  w.sample("tollgate_cluster_payloads_rejected_total", {{"kind", "blacklist"}}, v(p.rejected));
  w.family("tollgate_cluster_security_resyncs_total", "counter",
           "Link-up rounds of the shared security state (read back, own state re-published).");
  w.sample("tollgate_cluster_security_resyncs_total", {{"kind", "bans"}}, v(b.resyncs));
  w.sample("tollgate_cluster_security_resyncs_total", {{"kind", "suspensions"}}, v(a.resyncs));
  w.sample("tollgate_cluster_security_resyncs_total", {{"kind", "blacklist"}}, v(p.resyncs));
}

// SIP digest authentication and the registrar (the auth issue).
void authMetrics(Writer& w, const NodeStats& s) {
  const auto& a = s.auth;
  w.one("tollgate_sip_auth_challenges_total", "counter",
        "401/407 digest challenges sent to customers.",
        static_cast<double>(s.calls.challengesSent));
  w.family("tollgate_sip_auth_total", "counter",
           "Digest credentials checked, by result (failed = wrong password, unknown user or "
           "wrong address; uri_mismatch = uri= names another target than the Request-URI; "
           "both counted by the retry limits).");
  const std::pair<const char*, uint64_t> results[] = {{"authenticated", a.authenticated},
                                                      {"failed", a.failures},
                                                      {"uri_mismatch", a.uriMismatches},
                                                      {"stale", a.stale},
                                                      {"replay", a.replays},
                                                      {"invalid_nonce", a.invalidNonces},
                                                      {"unsupported", a.unsupported}};
  for (const auto& [k, v] : results) {
    w.sample("tollgate_sip_auth_total", {{"result", k}}, static_cast<double>(v));
  }
  w.one("tollgate_sip_auth_suspensions_total", "counter",
        "Retry-limit suspensions placed (VOS3000 SS_AUTHENTICATION_MAX_RETRY).",
        static_cast<double>(s.authLimiter.suspensions));
  w.one("tollgate_sip_auth_suspensions_active", "gauge", "Retry-limit suspensions in force.",
        static_cast<double>(s.suspensionsActive));
  w.one("tollgate_sip_auth_suspended_dropped_total", "counter",
        "Requests from suspended sources or (user, source) pairs, not answered usefully.",
        static_cast<double>(s.calls.suspendedDropped));
  w.family("tollgate_registrations", "gauge",
           "Registered contacts by liveness (OPTIONS probes, SS_ENDPOINTTIMETOLIVE).");
  w.sample("tollgate_registrations", {{"state", "online"}}, static_cast<double>(s.bindingsOnline));
  w.sample("tollgate_registrations", {{"state", "offline"}},
           static_cast<double>(s.bindingsOffline));
  w.one("tollgate_registers_total", "counter", "REGISTERs answered 200.",
        static_cast<double>(s.registrar.registers));
}

// Channel and rate limits shared across the nodes of a cluster
// (docs/cluster.md); nothing without [cluster].
void clusterLimitMetrics(Writer& w, const NodeStats& s) {
  if (!s.clusterLimits) return;
  const cluster::SharedLimitStats& c = s.clusterLimitStats;
  w.family("tollgate_cluster_limit_verdicts_total", "counter",
           "Verdicts of the shared limits asked of Redis, by result (admitted, concurrent_limit, "
           "cps_limit, no_reply).");
  w.sample("tollgate_cluster_limit_verdicts_total", {{"result", "admitted"}},
           static_cast<double>(c.admitted));
  w.sample("tollgate_cluster_limit_verdicts_total", {{"result", "concurrent_limit"}},
           static_cast<double>(c.refusedConcurrency));
  w.sample("tollgate_cluster_limit_verdicts_total", {{"result", "cps_limit"}},
           static_cast<double>(c.refusedRate));
  w.sample("tollgate_cluster_limit_verdicts_total", {{"result", "no_reply"}},
           static_cast<double>(c.noReply));
  w.one("tollgate_cluster_limit_carriers_full_total", "counter",
        "Shared verdicts in which every carrier offered was full across the nodes.",
        static_cast<double>(c.carrierFull));
  w.family("tollgate_cluster_limit_fallback_total", "counter",
           "Calls judged by cluster.down_rule while Redis was unreachable, by rule and outcome.");
  w.sample("tollgate_cluster_limit_fallback_total",
           {{"rule", "local_share"}, {"outcome", "admitted"}},
           static_cast<double>(c.fallbackLocalAdmitted));
  w.sample("tollgate_cluster_limit_fallback_total",
           {{"rule", "local_share"}, {"outcome", "refused"}},
           static_cast<double>(c.fallbackLocalRefused));
  w.sample("tollgate_cluster_limit_fallback_total", {{"rule", "refuse"}, {"outcome", "refused"}},
           static_cast<double>(c.fallbackRefused));
  w.one("tollgate_cluster_limit_share", "gauge",
        "Divisor of every limit this node enforces alone: live nodes while Redis is down under "
        "local_share, else 1.",
        static_cast<double>(c.share));
  w.one("tollgate_cluster_limit_announcements_total", "counter",
        "Times this node re-announced its calls per entity (link up, periodic).",
        static_cast<double>(c.announcements));
  w.one("tollgate_cluster_limit_releases_total", "counter",
        "Release exchanges sent (a call's channels given back).", static_cast<double>(c.releases));
  w.one("tollgate_cluster_limit_orphaned_total", "counter",
        "Verdicts that arrived after their call had ended (what they took given back).",
        static_cast<double>(c.orphaned));
  const uint64_t replied = c.admitted + c.refusedConcurrency + c.refusedRate;
  w.one("tollgate_cluster_limit_verdict_seconds_mean", "gauge",
        "Mean round trip of a shared-limit verdict.",
        replied == 0 ? 0.0
                     : static_cast<double>(c.latencyUsSum) / 1e6 / static_cast<double>(replied));
  w.one("tollgate_cluster_limit_verdict_seconds_max", "gauge",
        "Longest round trip of a shared-limit verdict since start.",
        static_cast<double>(c.latencyUsMax) / 1e6);
}

// The call policy (issue 5) and the carriers' keep-alive.
void policyMetrics(Writer& w, const NodeStats& s) {
  const auto& p = s.policy;
  w.family("tollgate_policy_refused_total", "counter",
           "Calls refused by the call policy, by CDR reason (limits, number lists, dynamic "
           "blacklist, fraud thresholds).");
  const std::pair<const char*, admission::Refusal> kinds[] = {
      {"cps_limit", admission::Refusal::CpsLimit},
      {"concurrent_limit", admission::Refusal::ConcurrentLimit},
      {"caller_blacklisted", admission::Refusal::CallerBlacklisted},
      {"callee_blacklisted", admission::Refusal::CalleeBlacklisted},
      {"fraud_threshold", admission::Refusal::FraudThreshold}};
  for (const auto& [k, r] : kinds) {
    w.sample("tollgate_policy_refused_total", {{"reason", k}},
             static_cast<double>(p.refused[static_cast<size_t>(r)]));
  }
  w.one("tollgate_policy_would_refuse_total", "counter",
        "Calls a count-only rule would have refused.", static_cast<double>(p.wouldRefuseCountOnly));
  w.one("tollgate_policy_calls_cut_total", "counter",
        "Live calls ended because their number was just blacklisted.",
        static_cast<double>(p.cutCalls));
  w.one("tollgate_max_duration_ended_total", "counter", "Calls ended at their max_duration.",
        static_cast<double>(p.maxDurationEnded));
  w.family("tollgate_carrier_skipped_total", "counter",
           "Routing gateways skipped without an attempt, by why (full: channels or rate).");
  w.sample("tollgate_carrier_skipped_total", {{"why", "full"}}, static_cast<double>(p.carrierFull));
  w.sample("tollgate_carrier_skipped_total", {{"why", "number_list"}},
           static_cast<double>(p.carrierListed));
  w.one("tollgate_fraud_blocked_shared_total", "counter",
        "Calls refused by a fraud rule only because of the other cluster nodes' counts (this "
        "node's own were below every critical level).",
        static_cast<double>(s.fraud.blockedShared));
  w.one("tollgate_fraud_warnings_total", "counter",
        "Calls admitted above a fraud rule's warning level.",
        static_cast<double>(s.fraud.warnings));
  w.one("tollgate_blacklist_entries", "gauge", "Numbers on the dynamic blacklist.",
        static_cast<double>(s.blacklistEntries));
  w.family("tollgate_blacklist_listed_total", "counter",
           "Numbers put on the dynamic blacklist, by rule.");
  for (size_t i = 0; i < std::size(s.blacklist.listed); ++i) {
    w.sample("tollgate_blacklist_listed_total",
             {{"rule", std::string(admission::ruleName(static_cast<admission::BlacklistRule>(i)))}},
             static_cast<double>(s.blacklist.listed[i]));
  }
  w.family("tollgate_carrier_in_rotation", "gauge",
           "1 while a monitored routing gateway answers its OPTIONS keep-alive, 0 while it is "
           "out of rotation.");
  std::vector<const call::CarrierStatus*> monitored;
  for (const auto& c : s.carriers) {
    if (c.monitored) monitored.push_back(&c);
  }
  std::sort(monitored.begin(), monitored.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });
  for (const auto* c : monitored) {
    w.sample("tollgate_carrier_in_rotation", {{"gateway", c->name}}, c->up ? 1 : 0);
  }
}

// Media anchoring through rtpengine (docs/media.md).
void mediaMetrics(Writer& w, const NodeStats& s) {
  const call::CallStats& c = s.calls;
  w.one("tollgate_media_relayed_total", "counter",
        "Call attempts whose media went through rtpengine.", static_cast<double>(c.mediaRelayed));
  w.one("tollgate_media_sessions", "gauge", "Calls holding an rtpengine session now.",
        static_cast<double>(c.mediaActive));
  w.one("tollgate_media_failures_total", "counter",
        "Calls failed because no rtpengine answered their offer/answer (media_unavailable).",
        static_cast<double>(c.mediaFailures));
  w.one("tollgate_media_timeouts_total", "counter",
        "Answered calls ended for lack of RTP (media_timeout).",
        static_cast<double>(c.mediaTimeouts));
  w.one("tollgate_media_setup_timeouts_total", "counter",
        "Of those, calls that never sent RTP after the answer (media.setup_timeout).",
        static_cast<double>(c.mediaSetupTimeouts));
  w.one("tollgate_media_rejected_total", "counter",
        "SDP offers rtpengine refused, answered 488 (initial ones: media_rejected).",
        static_cast<double>(c.mediaRejected));
  w.one("tollgate_media_no_engine_total", "counter",
        "New media sessions no rtpengine could take (all down or none answered).",
        static_cast<double>(s.media.noEngine));
  w.one("tollgate_media_bad_replies_total", "counter",
        "ng replies dropped: undecodable, late, or from an address we did not ask.",
        static_cast<double>(s.media.badReplies));
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    uint64_t media::NgEngineStats::*field;
  };
  static const Family kFamilies[] = {
      {"tollgate_media_engine_requests_total", "counter", "ng requests sent to the engine.",
       &media::NgEngineStats::requests},
      {"tollgate_media_engine_retransmits_total", "counter", "ng requests sent again.",
       &media::NgEngineStats::retransmits},
      {"tollgate_media_engine_timeouts_total", "counter", "ng requests the engine never answered.",
       &media::NgEngineStats::timeouts},
      {"tollgate_media_engine_errors_total", "counter", "ng replies with result error.",
       &media::NgEngineStats::errors},
      {"tollgate_media_engine_down_total", "counter", "Times the engine went down.",
       &media::NgEngineStats::downs},
      {"tollgate_media_engine_sessions", "gauge", "Sessions this node holds on the engine.",
       &media::NgEngineStats::sessions},
  };
  w.family("tollgate_media_engine_up", "gauge",
           "1 while the rtpengine answers (ng ping, requests), 0 while it is skipped.");
  for (const auto& e : s.media.engines) {
    w.sample("tollgate_media_engine_up", {{"engine", e.address}}, e.up ? 1 : 0);
  }
  for (const Family& f : kFamilies) {
    w.family(f.name, f.type, f.help);
    for (const auto& e : s.media.engines) {
      w.sample(f.name, {{"engine", e.address}}, static_cast<double>(e.*f.field));
    }
  }
}

// The shield (issue 4) and its kernel offload.
void shieldMetrics(Writer& w, const NodeStats& s) {
  const auto& sh = s.shield;
  w.one("tollgate_shield_received_total", "counter", "Messages the shield inspected.",
        static_cast<double>(sh.received));
  w.family("tollgate_shield_dropped_total", "counter",
           "Messages the shield dropped, by reason (trusted_excess: answered 503).");
  w.family("tollgate_shield_would_drop_total", "counter",
           "Messages a count-only check would have dropped, by reason.");
  for (size_t i = 0; i < sh.dropped.size(); ++i) {
    const std::string r(shield::shieldReasonName(static_cast<shield::ShieldReason>(i)));
    w.sample("tollgate_shield_dropped_total", {{"reason", r}}, static_cast<double>(sh.dropped[i]));
  }
  for (size_t i = 0; i < sh.wouldDrop.size(); ++i) {
    const std::string r(shield::shieldReasonName(static_cast<shield::ShieldReason>(i)));
    w.sample("tollgate_shield_would_drop_total", {{"reason", r}},
             static_cast<double>(sh.wouldDrop[i]));
  }
  w.one("tollgate_shield_connections_refused_total", "counter",
        "SIP TCP connections refused by the shield (banned source, concurrency).",
        static_cast<double>(sh.connectionsRefused));
  w.family("tollgate_bans_total", "counter", "Bans placed, by reason.");
  for (size_t i = 0; i < sh.bansByReason.size(); ++i) {
    w.sample("tollgate_bans_total",
             {{"reason", std::string(shield::banReasonName(static_cast<shield::BanReason>(i)))}},
             static_cast<double>(sh.bansByReason[i]));
  }
  w.one("tollgate_bans_active", "gauge", "Bans in force.", static_cast<double>(sh.bansActive));
  w.one("tollgate_shield_sources", "gauge", "Sources the shield tracks.",
        static_cast<double>(sh.sources));
  w.one("tollgate_shield_vouched", "gauge",
        "Sources vouched for by digest authentication (treated as trusted).",
        static_cast<double>(sh.vouched));
  w.one("tollgate_kernel_offload_active", "gauge",
        "1 while bans are pushed into the kernel's nftables set.", s.firewall.active ? 1 : 0);
  w.one("tollgate_kernel_drops_total", "counter", "Packets the kernel ban set dropped.",
        static_cast<double>(s.firewall.kernelDrops));
}

// Overload control (docs/overload.md).
void overloadMetrics(Writer& w, const NodeStats& s) {
  const auto& o = s.overload;
  w.one("tollgate_overload_active", "gauge",
        "1 while the node is overloaded and sheds new requests.", o.overloaded ? 1 : 0);
  w.one("tollgate_overload_admit_rate", "gauge",
        "New requests per second admitted while overloaded (0 when not).", o.admitRate);
  w.one("tollgate_overload_queue_delay_seconds", "gauge",
        "Standing socket queue of the last control interval (least wait of a datagram).",
        o.queueDelayMs / 1000.0);
  w.one("tollgate_overload_loop_lag_seconds", "gauge",
        "How late the overload control timer fired in the last interval.", o.loopLagMs / 1000.0);
  w.one("tollgate_overload_episodes_total", "counter", "Times the node went into overload.",
        static_cast<double>(o.episodes));
  w.one("tollgate_overload_admitted_total", "counter",
        "New requests (INVITE, REGISTER, OPTIONS, ...) overload control admitted.",
        static_cast<double>(o.admitted));
  w.family("tollgate_overload_shed_total", "counter",
           "New requests shed by overload control, by reason (dropped: unanswered; the rest "
           "503).");
  for (size_t i = 0; i < o.shed.size(); ++i) {
    w.sample("tollgate_overload_shed_total",
             {{"reason", std::string(shield::shedReasonName(static_cast<shield::ShedReason>(i)))}},
             static_cast<double>(o.shed[i]));
  }
  w.one("tollgate_overload_oc_responses_total", "counter",
        "Responses that carried RFC 7339 overload feedback in their Via.",
        static_cast<double>(o.ocResponses));
  w.one("tollgate_overload_shed_acks_total", "counter",
        "ACKs of stateless 503s absorbed before parsing.",
        static_cast<double>(s.shield.shedAcksAbsorbed));
}

// HEP capture (mgmt/hep.h) and the journal (common/log.h).
void captureMetrics(Writer& w, const NodeStats& s) {
  w.one("tollgate_hep_enabled", "gauge", "1 when hep.address is set (HEP capture on).",
        s.hepEnabled ? 1 : 0);
  w.one("tollgate_hep_captured_total", "counter",
        "SIP messages on the captured legs, offered to the HEP queue.",
        static_cast<double>(s.hep.captured));
  w.one("tollgate_hep_sent_total", "counter", "HEP packets sent to the collector.",
        static_cast<double>(s.hep.sent));
  w.family("tollgate_hep_dropped_total", "counter", "Captured messages not sent, by reason.");
  w.sample("tollgate_hep_dropped_total", {{"reason", "queue_full"}},
           static_cast<double>(s.hep.droppedQueueFull));
  w.sample("tollgate_hep_dropped_total", {{"reason", "too_large"}},
           static_cast<double>(s.hep.droppedTooLarge));
  w.sample("tollgate_hep_dropped_total", {{"reason", "send_error"}},
           static_cast<double>(s.hep.sendErrors));
  w.one("tollgate_hep_queue_packets", "gauge", "HEP packets waiting for the sender.",
        static_cast<double>(s.hep.queued));
  w.one("tollgate_log_journal_entries_total", "counter", "Log entries journald took.",
        static_cast<double>(s.log.journalSent));
  w.one("tollgate_log_journal_fallbacks_total", "counter",
        "Log entries written to stderr because journald did not take them at once.",
        static_cast<double>(s.log.journalFallbacks));
}

// Registrations shared through Redis (docs/cluster-registrations.md); only
// with [cluster].
void clusterRegistrationMetrics(Writer& w, const NodeStats& s) {
  if (!s.cluster.enabled) return;
  const cluster::SharedRegistrationStats& r = s.clusterRegistrations;
  w.one("tollgate_cluster_registrations_written_total", "counter",
        "Binding changes written to Redis (new, refreshed, online state).",
        static_cast<double>(r.written));
  w.one("tollgate_cluster_registrations_removed_total", "counter",
        "Bindings this node owned removed from Redis.", static_cast<double>(r.removed));
  w.one("tollgate_cluster_registrations_reannounced_total", "counter",
        "Bindings written again when the Redis link came up.", static_cast<double>(r.reannounced));
  w.one("tollgate_cluster_registrations_skipped_total", "counter",
        "Binding changes not written because Redis was down (re-announced when it returns).",
        static_cast<double>(r.writesSkipped));
  w.one("tollgate_cluster_registrations_write_errors_total", "counter",
        "Binding writes that got no reply or an error.", static_cast<double>(r.writeErrors));
  w.one("tollgate_cluster_registration_lookups_total", "counter",
        "Owner lookups for calls to accounts without a local binding.",
        static_cast<double>(r.lookups));
  w.one("tollgate_cluster_registration_lookups_failed_total", "counter",
        "... that Redis did not answer (down, timeout, error): the call got 480.",
        static_cast<double>(r.lookupsFailed));
  w.one("tollgate_cluster_peer_key_loaded", "gauge",
        "1 once the cluster's peer key is read from Redis (peer INVITEs can be signed and "
        "checked).",
        r.keyLoaded ? 1 : 0);
}

// The cluster's Redis link and membership (docs/cluster.md); the link's
// series only with [cluster].
void clusterMetrics(Writer& w, const NodeStats& s) {
  const cluster::ClusterStatus& c = s.cluster;
  w.one("tollgate_cluster_enabled", "gauge", "1 when [cluster] is configured (redis or sentinels).",
        c.enabled ? 1 : 0);
  if (!c.enabled) return;
  const cluster::RedisLinkStats& r = c.redis;
  w.one("tollgate_cluster_up", "gauge",
        "1 while the link to the Redis master is up (shared state authoritative); 0 while "
        "cluster.down_rule applies.",
        r.up ? 1 : 0);
  w.one("tollgate_cluster_nodes", "gauge",
        "Live nodes (this one included) as of the last heartbeat round.",
        static_cast<double>(std::max<size_t>(1, c.nodes.size())));
  w.one("tollgate_cluster_redis_latency_seconds", "gauge",
        "Round trip of the last PING to the Redis master (one per cluster.heartbeat).",
        static_cast<double>(r.latencyUs.count()) / 1e6);
  w.one("tollgate_cluster_redis_connects_total", "counter",
        "Times the link came up (AUTH, SELECT, ROLE master and subscriptions done).",
        static_cast<double>(r.connects));
  w.one("tollgate_cluster_redis_downs_total", "counter", "Times the link went down.",
        static_cast<double>(r.downs));
  w.one("tollgate_cluster_redis_failovers_total", "counter",
        "Times the link came up on a different master than before (Sentinel failover).",
        static_cast<double>(r.failovers));
  w.one("tollgate_cluster_redis_commands_total", "counter", "Commands sent to Redis.",
        static_cast<double>(r.commands));
  w.one("tollgate_cluster_redis_timeouts_total", "counter",
        "Commands without a reply within cluster.timeout_ms (each takes the link down).",
        static_cast<double>(r.timeouts));
  w.one("tollgate_cluster_redis_errors_total", "counter", "Error replies from Redis.",
        static_cast<double>(r.errors));
  w.one("tollgate_cluster_redis_refused_total", "counter",
        "Commands not sent because the link was down (their owners applied cluster.down_rule).",
        static_cast<double>(r.refused));
  w.one("tollgate_cluster_redis_pending", "gauge", "Commands awaiting a reply now.",
        static_cast<double>(r.pending));
}

void nodeMetrics(Writer& w, const NodeStats& s) {
  w.one("tollgate_up", "gauge", "1 when the SIP worker answered this scrape.", 1);
  w.one("tollgate_draining", "gauge", "1 while the node drains (SIGTERM).", s.draining ? 1 : 0);
  w.one("tollgate_calls_active", "gauge", "Calls in progress.", static_cast<double>(s.activeCalls));
  w.one("tollgate_invites_received_total", "counter",
        "New INVITEs from mapping gateways (each one a call attempt with a CDR).",
        static_cast<double>(s.calls.invitesReceived));
  w.one("tollgate_calls_answered_total", "counter", "Calls answered.",
        static_cast<double>(s.calls.callsAnswered));
  w.one("tollgate_calls_failed_total", "counter", "Call attempts that ended unanswered.",
        static_cast<double>(s.calls.callsFailed));
  w.family("tollgate_calls_ended_total", "counter",
           "Ended call attempts by CDR termination reason (docs/cdr.md).");
  for (size_t i = 0; i < call::kTerminationReasonCount; ++i) {
    w.sample("tollgate_calls_ended_total",
             {{"reason", std::string(call::reasonName(static_cast<call::TerminationReason>(i)))}},
             static_cast<double>(i < s.calls.byReason.size() ? s.calls.byReason[i] : 0));
  }
  w.family("tollgate_requests_refused_total", "counter",
           "SIP requests refused before a call existed, by reason.");
  w.sample("tollgate_requests_refused_total", {{"reason", "unknown_source_dropped"}},
           static_cast<double>(s.calls.unknownSourceDropped));
  w.sample("tollgate_requests_refused_total", {{"reason", "unknown_source_403"}},
           static_cast<double>(s.calls.unknownSourceRejected));
  w.sample("tollgate_requests_refused_total", {{"reason", "malformed_dropped"}},
           static_cast<double>(s.calls.malformedDropped));
  w.sample("tollgate_requests_refused_total", {{"reason", "malformed_answered"}},
           static_cast<double>(s.calls.malformedAnswered));
  w.sample("tollgate_requests_refused_total", {{"reason", "no_dialog"}},
           static_cast<double>(s.calls.noDialog));
  // In-dialog requests, ACKs and CANCELs from another address than the
  // leg's peer: dropped, never relayed (docs/security.md).
  w.sample("tollgate_requests_refused_total", {{"reason", "in_dialog_foreign_source"}},
           static_cast<double>(s.calls.inDialogForeign));
  w.sample("tollgate_requests_refused_total", {{"reason", "ack_foreign_source"}},
           static_cast<double>(s.calls.ackForeign + s.txn.foreignAcks));
  w.sample("tollgate_requests_refused_total", {{"reason", "cancel_foreign_source"}},
           static_cast<double>(s.txn.foreignCancels));
  // Requests carrying the cluster's peer header that did not prove they
  // come from a live peer node (docs/cluster-registrations.md): 403.
  for (size_t i = 1; i < s.calls.peerRefused.size(); ++i) {
    w.sample("tollgate_requests_refused_total",
             {{"reason", "peer_" + std::string(registrar::peerVerdictName(
                                       static_cast<registrar::PeerVerdict>(i)))}},
             static_cast<double>(s.calls.peerRefused[i]));
  }
  w.sample("tollgate_requests_refused_total", {{"reason", "in_dialog_challenged"}},
           static_cast<double>(s.calls.inDialogChallenged));
  w.sample("tollgate_requests_refused_total", {{"reason", "in_dialog_not_relayed"}},
           static_cast<double>(s.calls.inDialogRejected));
  w.one("tollgate_untyped_bodies_dropped_total", "counter",
        "Message bodies without a Content-Type not relayed across the B2BUA (RFC 3261 7.4.1).",
        static_cast<double>(s.calls.untypedBodiesDropped));
  w.one("tollgate_illegal_cdrs_suppressed_total", "counter",
        "Unknown-source CDRs not written because of cdr.illegal_rate.",
        static_cast<double>(s.calls.illegalCdrsSuppressed));
  w.one("tollgate_failovers_total", "counter", "Calls moved to the next routing gateway.",
        static_cast<double>(s.calls.failovers));
  w.one("tollgate_options_answered_total", "counter", "OPTIONS answered 200.",
        static_cast<double>(s.calls.optionsAnswered));
  // Peer delivery between cluster nodes (docs/cluster-registrations.md).
  w.one("tollgate_peer_lookups_total", "counter",
        "Calls to a registered account without a local binding that asked the cluster.",
        static_cast<double>(s.calls.peerLookups));
  w.one("tollgate_peer_routed_total", "counter",
        "... of them, sent through another node that holds a binding.",
        static_cast<double>(s.calls.peerRouted));
  w.one("tollgate_peer_invites_total", "counter",
        "Authentic INVITEs from peer nodes for an account registered here.",
        static_cast<double>(s.calls.peerInvitesIn));
  w.one("tollgate_peer_invites_no_binding_total", "counter",
        "... of them answered 480: no reachable binding here any more.",
        static_cast<double>(s.calls.peerInvitesNoBinding));

  gatewayFamily(w, "tollgate_gateway_call_attempts_total", "counter",
                "Call attempts per gateway (mapping: INVITEs from it; routing: INVITEs sent to "
                "it). CPS = rate() of this.",
                s.gateways, &call::GatewayCounters::attempts);
  gatewayFamily(w, "tollgate_gateway_calls_answered_total", "counter",
                "Answered calls per gateway.", s.gateways, &call::GatewayCounters::answered);
  gatewayFamily(w, "tollgate_gateway_calls_failed_total", "counter",
                "Unanswered call attempts per gateway (routing: every carrier that failed one).",
                s.gateways, &call::GatewayCounters::failed);
  w.family("tollgate_gateway_calls_active", "gauge", "Calls in progress per gateway (channels).");
  for (const auto* kind : {"mapping", "routing"}) {
    const auto& m = std::string(kind) == "mapping" ? s.gateways.mapping : s.gateways.routing;
    std::map<std::string, size_t> sorted;
    for (const auto& [n, c] : m) sorted.emplace(n, c.active);
    for (const auto& [n, a] : sorted) {
      w.sample("tollgate_gateway_calls_active", {{"kind", kind}, {"gateway", n}},
               static_cast<double>(a));
    }
  }

  const auto& t = s.transport;
  w.family("tollgate_sip_messages_received_total", "counter", "SIP messages received.");
  w.sample("tollgate_sip_messages_received_total", {{"transport", "udp"}},
           static_cast<double>(t.udpReceived));
  w.sample("tollgate_sip_messages_received_total", {{"transport", "tcp"}},
           static_cast<double>(t.tcpReceived));
  w.family("tollgate_sip_messages_sent_total", "counter", "SIP messages sent.");
  w.sample("tollgate_sip_messages_sent_total", {{"transport", "udp"}},
           static_cast<double>(t.udpSent));
  w.sample("tollgate_sip_messages_sent_total", {{"transport", "tcp"}},
           static_cast<double>(t.tcpSent));
  w.family("tollgate_transport_errors_total", "counter", "Transport problems by kind.");
  const std::pair<const char*, uint64_t> errs[] = {{"udp_truncated", t.udpTruncated},
                                                   {"udp_send", t.udpSendErrors},
                                                   {"tcp_send", t.tcpSendErrors},
                                                   {"tcp_rejected_limit", t.tcpRejectedLimit},
                                                   {"tcp_closed_idle", t.tcpClosedIdle},
                                                   {"tcp_framing", t.tcpFramingErrors},
                                                   {"tcp_connect_failed", t.tcpConnectFailed},
                                                   {"tcp_slow_reader", t.tcpClosedSlowReader}};
  for (const auto& [k, v] : errs) {
    w.sample("tollgate_transport_errors_total", {{"kind", k}}, static_cast<double>(v));
  }
  w.one("tollgate_udp_new_work_waiting", "gauge",
        "New requests read from UDP and waiting for their turn behind answers and in-dialog "
        "requests (docs/overload.md).",
        static_cast<double>(t.udpNewWorkWaiting));
  w.one("tollgate_udp_new_work_overflow_total", "counter",
        "Times the wait of new UDP requests was full, so its oldest was judged at once.",
        static_cast<double>(t.udpNewWorkOverflow));
  w.one("tollgate_tcp_connections", "gauge", "Open SIP TCP connections.",
        static_cast<double>(t.tcpOpen));
  w.one("tollgate_tcp_untrusted_connections", "gauge",
        "Open SIP TCP/TLS connections accepted from untrusted sources (they never take the "
        "reserved share).",
        static_cast<double>(t.tcpOpenUntrusted));
  w.family("tollgate_tcp_connections_refused_total", "counter",
           "SIP TCP/TLS connections refused at accept, by reason.");
  for (size_t i = 0; i < t.tcpRefused.size(); ++i) {
    w.sample("tollgate_tcp_connections_refused_total",
             {{"reason", std::string(transport::connectionRefusalName(
                             static_cast<transport::ConnectionRefusal>(i)))}},
             static_cast<double>(t.tcpRefused[i]));
  }
  w.family("tollgate_tcp_connections_closed_total", "counter",
           "SIP TCP/TLS connections closed by tollgate, by reason (peer closes and errors are "
           "not counted here).");
  const std::pair<const char*, uint64_t> closes[] = {
      {"idle", t.tcpClosedIdle},
      {"message_timeout", t.tcpClosedMessageTimeout},
      {"tls_handshake_timeout", t.tlsHandshakeTimeouts},
      {"buffer_budget", t.tcpClosedBufferBudget},
      {"tls_handshake_failed", t.tlsHandshakeFailed},
      {"framing", t.tcpFramingErrors},
      {"slow_reader", t.tcpClosedSlowReader},
      {"unwanted", t.tcpClosedUnwanted}};
  for (const auto& [k, v] : closes) {
    w.sample("tollgate_tcp_connections_closed_total", {{"reason", k}}, static_cast<double>(v));
  }
  w.one("tollgate_tcp_accepted_total", "counter", "SIP TCP connections accepted.",
        static_cast<double>(t.tcpAccepted));
  w.one("tollgate_sip_keepalives_total", "counter", "CRLF keep-alives received.",
        static_cast<double>(t.keepAlives));

  const auto& x = s.txn;
  w.one("tollgate_transactions_created_total", "counter",
        "SIP transactions created (server + client).",
        static_cast<double>(x.serverCreated + x.clientCreated));
  w.family("tollgate_transactions", "gauge", "Live SIP transactions.");
  w.sample("tollgate_transactions", {{"side", "server"}}, static_cast<double>(x.serverLive));
  w.sample("tollgate_transactions", {{"side", "client"}}, static_cast<double>(x.clientLive));
  w.one("tollgate_retransmissions_absorbed_total", "counter",
        "Request retransmissions answered from transaction state.",
        static_cast<double>(x.retransmissionsAbsorbed));
  w.one("tollgate_retransmissions_sent_total", "counter", "Our retransmissions.",
        static_cast<double>(x.retransmissionsSent));
  w.one("tollgate_transaction_timeouts_total", "counter", "Client transactions timed out.",
        static_cast<double>(x.clientTimeouts));

  authMetrics(w, s);
  policyMetrics(w, s);
  clusterLimitMetrics(w, s);
  shieldMetrics(w, s);
  mediaMetrics(w, s);
  overloadMetrics(w, s);
  clusterSecurityMetrics(w, s);

  w.one("tollgate_provisioning_version", "gauge", "Provisioning version the worker runs.",
        static_cast<double>(s.provisioningVersion));
  w.one("tollgate_cdrs_written_total", "counter", "CDRs committed to the store.",
        static_cast<double>(s.cdrWriter.written));
  w.family("tollgate_cdrs_lost_total", "counter", "CDRs not written, by reason.");
  w.sample("tollgate_cdrs_lost_total", {{"reason", "queue_full"}},
           static_cast<double>(s.cdrWriter.droppedQueueFull));
  w.sample("tollgate_cdrs_lost_total", {{"reason", "write_error"}},
           static_cast<double>(s.cdrWriter.writeErrors));
  w.one("tollgate_cdrs_spooled_total", "counter",
        "CDRs written to the local spool because the database did not take them.",
        static_cast<double>(s.cdrWriter.spooled));
  w.one("tollgate_cdrs_replayed_total", "counter",
        "CDRs replayed from the spool into the database.",
        static_cast<double>(s.cdrWriter.replayed));
  w.one("tollgate_cdr_spool_records", "gauge", "CDRs waiting in the local spool.",
        static_cast<double>(s.cdrWriter.spoolRecords));
  w.one("tollgate_cdr_spool_bytes", "gauge", "Bytes of CDRs waiting in the local spool.",
        static_cast<double>(s.cdrWriter.spoolBytes));
  w.one("tollgate_cdr_spool_oldest_age_seconds", "gauge",
        "How long the oldest CDR in the spool has waited (0 when empty).",
        s.cdrWriter.spoolOldestUs == 0
            ? 0.0
            : std::max(0.0,
                       static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count() -
                                           s.cdrWriter.spoolOldestUs) /
                           1e6));
  w.one("tollgate_cdr_store_up", "gauge",
        "1 when the last CDR write or replay reached the store, 0 while CDRs go to the spool.",
        s.cdrWriter.storeUp ? 1.0 : 0.0);
  captureMetrics(w, s);
  clusterMetrics(w, s);
  clusterRegistrationMetrics(w, s);
}

// One sample per reason of a counter array indexed by an enum.
template <typename E, size_t N>
void reasonSamples(Writer& w, const std::string& family,
                   const std::array<std::atomic<uint64_t>, N>& counts,
                   std::string_view (*name)(E)) {
  for (size_t i = 0; i < N; ++i) {
    w.sample(family, {{"reason", std::string(name(static_cast<E>(i)))}},
             static_cast<double>(counts[i].load(std::memory_order_relaxed)));
  }
}

}  // namespace

std::string renderMetrics(const MetricsInput& in) {
  Writer w;
  if (in.node) {
    nodeMetrics(w, *in.node);
  } else {
    w.one("tollgate_up", "gauge", "1 when the SIP worker answered this scrape.", 0);
  }
  std::vector<std::pair<std::string, LatencyHistogram::Snapshot>> latency;
  if (in.node) {
    latency.emplace_back("cdr_write", in.node->cdrWriteLatency);
    latency.emplace_back("provisioning_poll", in.node->provisioningPollLatency);
  }
  if (in.api) latency.emplace_back("management", in.api->storeLatency.snapshot());
  if (in.node) {
    w.histogram("tollgate_cdr_commit_delay_seconds",
                "Per CDR, from the call's end to its CDR committed to the store: the window in "
                "which a kill -9 loses a finished call's CDR.",
                "store", {{"sqlite", in.node->cdrCommitDelay}});
  }
  w.histogram("tollgate_store_operation_duration_seconds",
              "Store latency by operation (CDR batch commit, provisioning poll, management API).",
              "operation", latency);
  if (in.api) {
    const ApiCounters& a = *in.api;
    auto v = [](const std::atomic<uint64_t>& x) {
      return static_cast<double>(x.load(std::memory_order_relaxed));
    };
    w.family("tollgate_api_connections_refused_total", "counter",
             "Management connections reset at accept, by reason.");
    w.sample("tollgate_api_connections_refused_total", {{"reason", "not_allowed"}},
             v(a.refusedNotAllowed));
    w.sample("tollgate_api_connections_refused_total", {{"reason", "busy"}}, v(a.refusedBusy));
    w.sample("tollgate_api_connections_refused_total", {{"reason", "tls_handshake"}},
             v(a.tlsHandshakeFailed));
    w.sample("tollgate_api_connections_refused_total", {{"reason", "per_source"}},
             v(a.refusedPerSource));
    w.sample("tollgate_api_connections_refused_total", {{"reason", "table_full"}},
             v(a.refusedTableFull));
    w.family("tollgate_api_connections_closed_total", "counter",
             "Management connections closed by the intake before or between requests, by "
             "reason.");
    reasonSamples(w, "tollgate_api_connections_closed_total", a.intakeClosed, intakeCloseName);
    w.one("tollgate_api_connections_accepted_total", "counter", "Management connections accepted.",
          v(a.connectionsAccepted));
    w.family("tollgate_api_responses_total", "counter", "Management API responses by class.");
    w.sample("tollgate_api_responses_total", {{"class", "4xx"}}, v(a.responses4xx));
    w.sample("tollgate_api_responses_total", {{"class", "5xx"}}, v(a.responses5xx));
    w.one("tollgate_api_requests_total", "counter", "Management API requests.", v(a.requests));
    w.family("tollgate_api_auth_failures_total", "counter",
             "Management authentication failures, by reason.");
    w.sample("tollgate_api_auth_failures_total", {{"reason", "bad_credentials"}}, v(a.loginFailed));
    w.sample("tollgate_api_auth_failures_total", {{"reason", "locked"}}, v(a.loginRefusedLocked));
    w.sample("tollgate_api_auth_failures_total", {{"reason", "bad_token"}}, v(a.unauthenticated));
    w.sample("tollgate_api_auth_failures_total", {{"reason", "forbidden"}}, v(a.forbidden));
    w.sample("tollgate_api_auth_failures_total", {{"reason", "attempts_in_flight"}},
             v(a.loginRefusedInFlight));
    w.family("tollgate_api_privilege_refusals_total", "counter",
             "Management actions refused because they exceed the credential's effective role, "
             "by reason (each is in the audit log as privilege.refused).");
    reasonSamples(w, "tollgate_api_privilege_refusals_total", a.privilegeRefused,
                  privilegeRefusalName);
    w.one("tollgate_api_logins_total", "counter", "Successful management logins.",
          v(a.loginSucceeded));
    w.family("tollgate_api_lockouts_total", "counter", "Login lockouts started, by scope.");
    w.sample("tollgate_api_lockouts_total", {{"scope", "pair"}}, v(a.lockoutsPair));
    w.sample("tollgate_api_lockouts_total", {{"scope", "source"}}, v(a.lockoutsSource));
    w.sample("tollgate_api_lockouts_total", {{"scope", "account"}}, v(a.lockoutsAccount));
    w.one("tollgate_api_lockouts_active", "gauge", "Login locks in force.",
          static_cast<double>(in.activeLocks));
    w.one("tollgate_trace_sessions", "gauge", "Open SIP trace sessions.",
          static_cast<double>(in.traceSessions));
    w.one("tollgate_trace_messages_total", "counter", "SIP messages delivered to trace readers.",
          v(a.traceMessages));
    w.one("tollgate_api_live_streams", "gauge", "Open web console live feeds.",
          static_cast<double>(in.liveStreams));
    w.one("tollgate_api_live_streams_started_total", "counter", "Web console live feeds opened.",
          v(a.liveStreamsStarted));
    w.one("tollgate_api_live_streams_refused_total", "counter",
          "Web console live feeds refused (per-user or total bound reached).",
          v(a.liveStreamsRefused));
  }
  return w.take();
}

}  // namespace tollgate::mgmt
