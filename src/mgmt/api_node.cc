// API resources of the running node: live calls, CDRs (filters, paging,
// CSV export), stats, Prometheus metrics and the SIP trace stream. Worker
// state is read through NodeControl (posted to the worker, bounded wait).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <iterator>

#include "admission/call_policy.h"
#include "admission/number_form.h"
#include "common/log.h"
#include "mgmt/api_internal.h"
#include "mgmt/metrics.h"
#include "mgmt/pcap.h"
#include "store/cdr_format.h"
#include "store/store_factory.h"

namespace tollgate::mgmt {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxLiveCallsListed = 10'000;
// A CSV export without a limit streams every matching row, read from the
// store a page at a time; this bounds one export.
constexpr size_t kMaxCsvRows = 5'000'000;
constexpr size_t kCsvPage = 1000;
constexpr int64_t kMaxTraceSeconds = 3600;
constexpr int64_t kDefaultTraceSeconds = 600;

[[noreturn]] void workerTimeout() {
  fail(503, "worker_busy", "", "the SIP worker did not answer in time; try again");
}

}  // namespace

Json liveCallJson(const call::LiveCall& c, int64_t nowUs) {
  return Json{{"id", c.id},
              {"call_id", c.callId},
              {"carrier_call_id", c.bCallId},
              {"caller", c.caller},
              {"callee", c.callee},
              {"caller_name", c.callerName},
              {"user_agent", c.userAgent},
              {"source", c.source},
              {"transport", c.transport},
              {"mapping_gateway", c.mappingGateway},
              {"routing_gateway", c.routingGateway},
              {"state", c.state},
              {"start", timeOrNull(c.startUs)},
              {"answer", timeOrNull(c.answerUs)},
              {"duration_ms", c.answerUs ? (nowUs - c.answerUs) / 1000 : 0},
              {"max_duration_s", c.maxDurationS}};
}

Json carrierStatusJson(const call::CarrierStatus& c) {
  return Json{{"name", c.name},      {"address", c.address},        {"monitored", c.monitored},
              {"in_rotation", c.up}, {"missed_in_a_row", c.misses}, {"probes", c.probes}};
}

namespace {

void listCalls(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  size_t limit = static_cast<size_t>(queryInt(req, "limit", 1, kMaxLiveCallsListed, 100));
  auto stats = ctx.api.node.stats();
  auto calls = ctx.api.node.liveCalls(limit);
  if (!calls || !stats) workerTimeout();
  const int64_t now = ctx.api.clock.wallMicros();
  Json arr = Json::array();
  for (const auto& c : *calls) arr.push_back(liveCallJson(c, now));
  sendJson(res, 200, Json{{"calls", arr}, {"total", stats->activeCalls}});
}

void endCall(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  uint64_t id = 0;
  const std::string& s = ctx.params[0];
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || p != s.data() + s.size()) fail(404, "not_found", "id", "no such call");
  auto calls = ctx.api.node.liveCalls(kMaxLiveCallsListed);
  Json before = nullptr;
  if (calls) {
    for (const auto& c : *calls) {
      if (c.id == id) before = liveCallJson(c, ctx.api.clock.wallMicros());
    }
  }
  auto ended = ctx.api.node.endCall(id);
  if (!ended) workerTimeout();
  if (!*ended) fail(404, "not_found", "id", "no call " + s + " in progress");
  ctx.audit("call.end", s, "ok", before, nullptr);
  sendJson(res, 200, Json{{"id", id}, {"ended", true}});
}

store::CdrQuery cdrQuery(RequestContext& ctx, const httplib::Request& req) {
  store::CdrQuery q;
  q.startFromUs = queryTime(req, "from");
  q.startBeforeUs = queryTime(req, "to");
  q.gateway = queryString(req, "gateway", 64);
  q.mappingGateway = queryString(req, "mapping_gateway", 64);
  q.routingGateway = queryString(req, "routing_gateway", 64);
  // caller and callee are stored in canonical form: search in that form.
  q.number = queryString(req, "number", 128);
  if (!q.number.empty()) {
    q.number = admission::normalizeNumber(q.number, ctx.api.settings.numbers).canonical;
  }
  q.reason = queryString(req, "reason", 32);
  if (!q.reason.empty() && !call::reasonFromName(q.reason)) {
    fail(400, "invalid_parameter", "reason", "unknown termination reason (see docs/cdr.md)");
  }
  q.beforeId = queryInt(req, "before_id", 1, INT64_MAX, 0);
  return q;
}

void listCdrs(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  store::CdrQuery q = cdrQuery(ctx, req);
  const std::string format = req.has_param("format") ? req.get_param_value("format") : "json";
  if (format != "json" && format != "csv") {
    fail(400, "invalid_parameter", "format", "must be json or csv");
  }
  if (format == "json") {
    q.limit = static_cast<size_t>(queryInt(req, "limit", 1, store::kMaxCdrListLimit, 100));
    const auto t0 = Clock::now();
    auto rows = ctx.store().listCdrs(q);
    ctx.api.counters.storeLatency.record(Clock::now() - t0);
    if (!rows) fail(503, "store_unavailable", "", rows.error().message);
    std::string body = "{\"cdrs\":[";
    for (size_t i = 0; i < rows->size(); ++i) {
      if (i) body += ",\n";
      body += store::cdrToJson((*rows)[i]);
    }
    body += "],\"next_before_id\":";
    body += rows->size() == q.limit && !rows->empty() ? std::to_string(rows->back().id) : "null";
    body += "}\n";
    res.status = 200;
    res.set_content(body, "application/json");
    return;
  }
  // CSV: stream every matching row, newest first, a page at a time.
  const size_t total = static_cast<size_t>(queryInt(req, "limit", 1, kMaxCsvRows, kMaxCsvRows));
  ThreadStores* stores = &ctx.stores;
  ApiState* api = &ctx.api;
  auto sent = std::make_shared<size_t>(0);
  auto cursor = std::make_shared<store::CdrQuery>(q);
  auto header = std::make_shared<bool>(false);
  res.set_header("Content-Disposition", "attachment; filename=\"cdrs.csv\"");
  res.set_chunked_content_provider(
      "text/csv; charset=utf-8",
      [stores, api, sent, cursor, header, total](size_t, httplib::DataSink& sink) {
        if (!*header) {
          *header = true;
          std::string h = store::cdrCsvHeader();
          return sink.write(h.data(), h.size());
        }
        if (*sent >= total) {
          sink.done();
          return true;
        }
        if (!stores->store) {
          auto s = store::openStore(stores->target);
          if (!s) return false;
          stores->store = std::move(s).value();
        }
        cursor->limit = std::min(kCsvPage, total - *sent);
        const auto t0 = Clock::now();
        auto rows = stores->store->listCdrs(*cursor);
        api->counters.storeLatency.record(Clock::now() - t0);
        if (!rows) return false;
        if (rows->empty()) {
          sink.done();
          return true;
        }
        std::string chunk;
        for (const auto& c : *rows) chunk += store::cdrToCsvRow(c);
        *sent += rows->size();
        cursor->beforeId = rows->back().id;
        if (rows->size() < cursor->limit) *sent = total;  // last page
        return sink.write(chunk.data(), chunk.size());
      });
}

// Digest authentication: challenges, results, retry-limit suspensions and
// the bans they became.
Json authStatsJson(const NodeStats& s) {
  const auto& a = s.auth;
  return Json{{"challenges", s.calls.challengesSent},
              {"authenticated", a.authenticated},
              {"failures", a.failures},
              {"uri_mismatches", a.uriMismatches},
              {"stale", a.stale},
              {"replays", a.replays},
              {"invalid_nonces", a.invalidNonces},
              {"unsupported", a.unsupported},
              {"malformed", a.malformed},
              {"suspended_dropped", s.calls.suspendedDropped},
              {"suspensions", s.authLimiter.suspensions},
              {"suspensions_active", s.suspensionsActive},
              {"suspensions_lifted", s.authLimiter.lifted},
              {"bans_placed", s.calls.authBansPlaced},
              {"bans_refused", s.calls.authBansRefused},
              {"registers_refused", s.calls.registersRefused},
              {"carrier_challenges_answered", s.calls.carrierChallenges},
              {"unwanted_streams_closed", s.calls.unwantedStreamsClosed}};
}

Json registrarStatsJson(const NodeStats& s) {
  const auto& r = s.registrar;
  return Json{{"bindings", r.bindings},
              {"online", s.bindingsOnline},
              {"offline", s.bindingsOffline},
              {"registers", r.registers},
              {"added", r.added},
              {"refreshed", r.refreshed},
              {"removed", r.removed},
              {"replaced", r.replaced},
              {"refused_replace", r.refusedReplace},
              {"too_brief", r.tooBrief},
              {"invalid", r.invalid},
              {"expired", r.expired},
              {"probes_sent", r.probesSent},
              {"went_offline", r.wentOffline},
              {"came_online", r.cameOnline}};
}

// Call policy: refusals by reason (the CDR reasons), count-only matches,
// cut calls, carriers skipped, the dynamic blacklist and fraud levels.
Json policyStatsJson(const NodeStats& s) {
  const auto& p = s.policy;
  const auto& b = s.blacklist;
  Json refused = Json::object();
  const std::pair<const char*, admission::Refusal> kinds[] = {
      {"cps_limit", admission::Refusal::CpsLimit},
      {"concurrent_limit", admission::Refusal::ConcurrentLimit},
      {"caller_blacklisted", admission::Refusal::CallerBlacklisted},
      {"callee_blacklisted", admission::Refusal::CalleeBlacklisted},
      {"fraud_threshold", admission::Refusal::FraudThreshold}};
  for (const auto& [name, r] : kinds) refused[name] = p.refused[static_cast<size_t>(r)];
  Json listed = Json::object();
  for (size_t i = 0; i < std::size(b.listed); ++i) {
    listed[std::string(admission::ruleName(static_cast<admission::BlacklistRule>(i)))] =
        b.listed[i];
  }
  return Json{{"refused_by_reason", refused},
              {"would_refuse_count_only", p.wouldRefuseCountOnly},
              {"calls_cut", p.cutCalls},
              {"carrier_full_skipped", p.carrierFull},
              {"carrier_listed_skipped", p.carrierListed},
              {"duration_warnings", p.durationWarnings},
              {"max_duration_ended", p.maxDurationEnded},
              {"fraud_warnings", s.fraud.warnings},
              {"fraud_blocked", s.fraud.blocked},
              {"blacklist",
               {{"entries", s.blacklistEntries},
                {"listed_by_rule", listed},
                {"listed_count_only", b.countOnlyListed},
                {"refused", b.refused},
                {"would_refuse", b.wouldRefuse},
                {"expired", b.expired},
                {"removed_by_operator", b.removedByOperator},
                {"evicted_full", b.evictedFull},
                {"counter_evictions", b.counterEvictions}}}};
}

// The OPTIONS keep-alive of routing gateways (routing.options_check_period).
Json carriersJson(const NodeStats& s) {
  size_t down = 0;
  for (const auto& c : s.carriers) down += c.monitored && !c.up;
  const auto& m = s.carrierMonitor;
  return Json{{"monitored", std::count_if(s.carriers.begin(), s.carriers.end(),
                                          [](const auto& c) { return c.monitored; })},
              {"out_of_rotation", down},
              {"probes_sent", m.probesSent},
              {"answered", m.answered},
              {"missed", m.missed},
              {"went_down", m.wentDown},
              {"came_up", m.cameUp}};
}

Json shieldStatsJson(const NodeStats& s) {
  const auto& sh = s.shield;
  auto byReason = [](const auto& counts) {
    Json out = Json::object();
    for (size_t i = 0; i < counts.size(); ++i) {
      out[std::string(shield::shieldReasonName(static_cast<shield::ShieldReason>(i)))] = counts[i];
    }
    return out;
  };
  Json bansByReason = Json::object();
  for (size_t i = 0; i < sh.bansByReason.size(); ++i) {
    bansByReason[std::string(shield::banReasonName(static_cast<shield::BanReason>(i)))] =
        sh.bansByReason[i];
  }
  const auto& fw = s.firewall;
  return Json{{"enabled", s.shieldEnabled},
              {"received", sh.received},
              {"trusted", sh.trusted},
              {"passed", sh.passed},
              {"dropped_by_reason", byReason(sh.dropped)},
              {"would_drop_by_reason", byReason(sh.wouldDrop)},
              {"connections_refused", sh.connectionsRefused},
              {"connections_closed", sh.connectionsClosed},
              {"bans_placed", sh.bansPlaced},
              {"bans_by_reason", bansByReason},
              {"bans_escalated", sh.bansEscalated},
              {"bans_refused_full", sh.bansRefusedFull},
              {"bans_refused_trusted", sh.bansRefusedTrusted},
              {"bans_lifted", sh.bansLifted},
              {"bans_expired", sh.bansExpired},
              {"sources_evicted", sh.sourcesEvicted},
              {"prefixes_evicted", sh.prefixesEvicted},
              {"tables",
               {{"sources", sh.sources},
                {"prefixes", sh.prefixes},
                {"bans_active", sh.bansActive},
                {"ban_records", sh.banRecords},
                {"trusted_prefixes", sh.trustedPrefixes},
                {"trusted_buckets", sh.trustedBuckets},
                {"vouched", sh.vouched},
                {"open_connections", sh.openConnections},
                {"memory_bound_bytes", sh.memoryBytes}}},
              {"kernel_offload",
               {{"state", !s.kernelOffload ? "off"
                          : fw.active      ? "active"
                          : fw.unavailable ? "unavailable"
                                           : "starting"},
                {"kernel_drops", fw.kernelDrops},
                {"bans_added", fw.bansAdded},
                {"bans_removed", fw.bansRemoved},
                {"elements_failed", fw.elementsFailed},
                {"queue_dropped", fw.queueDropped}}}};
}

void carriers(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto s = ctx.api.node.stats();
  if (!s) workerTimeout();
  Json arr = Json::array();
  for (const auto& c : s->carriers) arr.push_back(carrierStatusJson(c));
  sendJson(res, 200, Json{{"carriers", arr}});
}

Json statsJson(const NodeStats& s, ApiState& api, size_t activeLocks) {
  Json byReason = Json::object();
  for (size_t i = 0; i < call::kTerminationReasonCount; ++i) {
    byReason[std::string(call::reasonName(static_cast<call::TerminationReason>(i)))] =
        s.calls.byReason[i];
  }
  auto gw = [](const std::unordered_map<std::string, call::GatewayCounters>& m) {
    std::map<std::string, Json> sorted;
    for (const auto& [n, c] : m) {
      sorted[n] = Json{{"attempts", c.attempts},
                       {"answered", c.answered},
                       {"failed", c.failed},
                       {"active", c.active}};
    }
    Json out = Json::object();
    for (auto& [n, j] : sorted) out[n] = j;
    return out;
  };
  const auto& t = s.transport;
  Json tcpRefused = Json::object();
  for (size_t i = 0; i < t.tcpRefused.size(); ++i) {
    tcpRefused[std::string(transport::connectionRefusalName(
        static_cast<transport::ConnectionRefusal>(i)))] = t.tcpRefused[i];
  }
  const auto& x = s.txn;
  auto v = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  const ApiCounters& a = api.counters;
  Json j =
      Json{{"node", {{"draining", s.draining}, {"provisioning_version", s.provisioningVersion}}},
           {"tables",
            {{"calls", s.activeCalls},
             {"server_transactions", x.serverLive},
             {"client_transactions", x.clientLive},
             {"tcp_connections", t.tcpOpen},
             {"trace_sessions", api.trace.sessions()},
             {"login_locks", activeLocks}}},
           {"calls",
            {{"active", s.activeCalls},
             {"invites_received", s.calls.invitesReceived},
             {"answered", s.calls.callsAnswered},
             {"failed", s.calls.callsFailed},
             {"failovers", s.calls.failovers},
             {"options_answered", s.calls.optionsAnswered},
             {"unwanted_2xx_hung_up", s.calls.unwanted2xxHungUp},
             {"illegal_cdrs_suppressed", s.calls.illegalCdrsSuppressed},
             {"ended_by_reason", byReason},
             {"refused_by_reason",
              {{"unknown_source_dropped", s.calls.unknownSourceDropped},
               {"unknown_source_403", s.calls.unknownSourceRejected},
               {"malformed_dropped", s.calls.malformedDropped},
               {"malformed_answered", s.calls.malformedAnswered},
               {"no_dialog", s.calls.noDialog},
               {"in_dialog_foreign_source", s.calls.inDialogForeign},
               {"ack_foreign_source", s.calls.ackForeign + s.txn.foreignAcks},
               {"cancel_foreign_source", s.txn.foreignCancels},
               {"in_dialog_challenged", s.calls.inDialogChallenged},
               {"in_dialog_not_relayed", s.calls.inDialogRejected}}}}},
           {"gateways", {{"mapping", gw(s.gateways.mapping)}, {"routing", gw(s.gateways.routing)}}},
           {"transport",
            {{"udp_received", t.udpReceived},
             {"udp_sent", t.udpSent},
             {"udp_truncated", t.udpTruncated},
             {"udp_new_work_waiting", t.udpNewWorkWaiting},
             {"udp_new_work_overflow", t.udpNewWorkOverflow},
             {"udp_send_errors", t.udpSendErrors},
             {"tcp_accepted", t.tcpAccepted},
             {"tcp_connected", t.tcpConnected},
             {"tcp_rejected_limit", t.tcpRejectedLimit},
             {"tcp_closed_idle", t.tcpClosedIdle},
             {"tcp_framing_errors", t.tcpFramingErrors},
             {"tcp_received", t.tcpReceived},
             {"tcp_sent", t.tcpSent},
             {"tcp_send_errors", t.tcpSendErrors},
             {"tcp_connect_failed", t.tcpConnectFailed},
             {"tcp_closed_slow_reader", t.tcpClosedSlowReader},
             {"tcp_closed_message_timeout", t.tcpClosedMessageTimeout},
             {"tls_handshake_timeouts", t.tlsHandshakeTimeouts},
             {"tcp_closed_buffer_budget", t.tcpClosedBufferBudget},
             {"tcp_open_untrusted", t.tcpOpenUntrusted},
             {"tcp_refused", tcpRefused},
             {"keepalives", t.keepAlives}}},
           {"transactions",
            {{"server_created", x.serverCreated},
             {"client_created", x.clientCreated},
             {"retransmissions_absorbed", x.retransmissionsAbsorbed},
             {"retransmissions_sent", x.retransmissionsSent},
             {"stray_responses", x.strayResponses},
             {"malformed", x.malformed},
             {"client_timeouts", x.clientTimeouts},
             {"ack_timeouts", x.ackTimeouts}}},
           {"cdr_writer",
            {{"submitted", s.cdrWriter.submitted},
             {"written", s.cdrWriter.written},
             {"dropped_queue_full", s.cdrWriter.droppedQueueFull},
             {"write_errors", s.cdrWriter.writeErrors},
             {"commit_delay_max_ms", static_cast<double>(s.cdrWriter.commitDelayMaxUs) / 1000.0},
             {"spooled", s.cdrWriter.spooled},
             {"replayed", s.cdrWriter.replayed},
             {"spool_records", s.cdrWriter.spoolRecords},
             {"spool_bytes", s.cdrWriter.spoolBytes},
             {"store_up", s.cdrWriter.storeUp}}},
           {"api",
            {{"connections_accepted", v(a.connectionsAccepted)},
             {"connections_refused_not_allowed", v(a.refusedNotAllowed)},
             {"connections_refused_busy", v(a.refusedBusy)},
             {"tls_handshake_failed", v(a.tlsHandshakeFailed)},
             {"requests", v(a.requests)},
             {"responses_4xx", v(a.responses4xx)},
             {"responses_5xx", v(a.responses5xx)},
             {"logins", v(a.loginSucceeded)},
             {"login_failures", v(a.loginFailed)},
             {"login_refused_locked", v(a.loginRefusedLocked)},
             {"lockouts_pair", v(a.lockoutsPair)},
             {"lockouts_source", v(a.lockoutsSource)},
             {"lockouts_account", v(a.lockoutsAccount)},
             {"bad_tokens", v(a.unauthenticated)},
             {"forbidden", v(a.forbidden)},
             {"connections_refused_per_source", v(a.refusedPerSource)},
             {"connections_refused_table_full", v(a.refusedTableFull)},
             {"login_refused_in_flight", v(a.loginRefusedInFlight)}}}};
  Json closed = Json::object();
  for (size_t i = 0; i < kIntakeCloseCount; ++i) {
    closed[std::string(intakeCloseName(static_cast<IntakeClose>(i)))] = v(a.intakeClosed[i]);
  }
  j["api"]["connections_closed"] = closed;
  Json privilege = Json::object();
  for (size_t i = 0; i < kPrivilegeRefusalCount; ++i) {
    privilege[std::string(privilegeRefusalName(static_cast<PrivilegeRefusal>(i)))] =
        v(a.privilegeRefused[i]);
  }
  j["api"]["privilege_refusals"] = privilege;
  j["auth"] = authStatsJson(s);
  j["registrar"] = registrarStatsJson(s);
  j["policy"] = policyStatsJson(s);
  j["carriers"] = carriersJson(s);
  j["shield"] = shieldStatsJson(s);
  j["hep"] = Json{{"enabled", s.hepEnabled},
                  {"captured", s.hep.captured},
                  {"sent", s.hep.sent},
                  {"dropped_queue_full", s.hep.droppedQueueFull},
                  {"dropped_too_large", s.hep.droppedTooLarge},
                  {"send_errors", s.hep.sendErrors},
                  {"queued", s.hep.queued}};
  j["log"] =
      Json{{"journal_entries", s.log.journalSent}, {"journal_fallbacks", s.log.journalFallbacks}};
  return j;
}

void stats(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto s = ctx.api.node.stats();
  if (!s) workerTimeout();
  sendJson(res, 200, statsJson(*s, ctx.api, ctx.api.logins.activeLocks(ctx.mgmt())));
}

// The cluster as this node sees it (docs/cluster.md): membership, the Redis
// link and the rule in force while it is down.
Json clusterJson(const cluster::ClusterStatus& c, int64_t nowUs) {
  if (!c.enabled) return Json{{"enabled", false}};
  const cluster::RedisLinkStats& r = c.redis;
  Json nodes = Json::array();
  for (const cluster::NodeInfo& n : c.nodes) {
    nodes.push_back(
        Json{{"id", n.id},
             {"sip", n.sipAddress},
             {"started", timeOrNull(n.startedUs)},
             {"seen", timeOrNull(n.seenUs)},
             {"seen_ago_ms", n.seenUs == 0 ? Json(nullptr)
                                           : Json(std::max<int64_t>(0, (nowUs - n.seenUs) / 1000))},
             {"calls", n.calls},
             {"self", n.self}});
  }
  return Json{{"enabled", true},
              {"node_id", c.nodeId},
              {"shared", c.shared},
              {"down_rule", cluster::downRuleName(c.downRule)},
              {"heartbeat_ms", c.heartbeat.count()},
              {"node_ttl_ms", c.nodeTtl.count()},
              {"node_id_conflict", c.idConflict},
              {"redis", Json{{"up", r.up},
                             {"via", c.viaSentinel ? "sentinel" : "direct"},
                             {"master_name", c.viaSentinel ? Json(c.masterName) : Json(nullptr)},
                             {"address", r.up ? Json(r.address) : Json(nullptr)},
                             {"role", r.role == cluster::RedisRole::Master    ? "master"
                                      : r.role == cluster::RedisRole::Replica ? "replica"
                                                                              : "none"},
                             {"latency_ms", static_cast<double>(r.latencyUs.count()) / 1000.0},
                             {"connects", r.connects},
                             {"downs", r.downs},
                             {"failovers", r.failovers},
                             {"commands", r.commands},
                             {"timeouts", r.timeouts},
                             {"errors", r.errors},
                             {"refused", r.refused},
                             {"pending", r.pending}}},
              {"nodes", nodes}};
}

void clusterStatus(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto s = ctx.api.node.stats();
  if (!s) workerTimeout();
  const int64_t nowUs = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  sendJson(res, 200, clusterJson(s->cluster, nowUs));
}

void metrics(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto s = ctx.api.node.stats();
  MetricsInput in;
  in.node = s ? &*s : nullptr;
  in.api = &ctx.api.counters;
  // The scrape must keep working while a shared database is away (that is
  // when the CDR spool gauges matter): the lock count is then left out as 0.
  try {
    in.activeLocks = ctx.api.logins.activeLocks(ctx.mgmt());
  } catch (const ApiError&) {
    in.activeLocks = 0;
  }
  in.traceSessions = ctx.api.trace.sessions();
  in.liveStreams = ctx.api.liveStreams.load();
  res.status = 200;
  res.set_content(renderMetrics(in), "text/plain; version=0.0.4; charset=utf-8");
}

// --- trace

TraceFilter traceFilter(RequestContext& ctx, const httplib::Request& req, Json& described) {
  TraceFilter f;
  std::string gw = queryString(req, "gateway", 64);
  if (!gw.empty()) {
    auto p = ctx.store().loadProvisioning();
    if (!p) fail(503, "store_unavailable", "", p.error().message);
    bool found = false;
    for (const auto& g : p->mappingGateways) {
      if (g.name != gw) continue;
      found = true;
      for (const auto& a : g.addresses) {
        if (g.auth == admission::AuthMode::IpPort) {
          if (auto s = net::SockAddr::parse(a)) f.gatewayAddrs.push_back(*s);
        } else if (auto c = net::Cidr::parse(a)) {
          f.gatewayCidrs.push_back(*c);
        }
      }
    }
    for (const auto& g : p->routingGateways) {
      if (g.name != gw) continue;
      found = true;
      if (auto s = net::SockAddr::parse(g.address, 5060)) f.gatewayAddrs.push_back(*s);
    }
    if (!found) fail(404, "not_found", "gateway", "no mapping or routing gateway \"" + gw + "\"");
    f.gateway = gw;
    f.byGateway = true;
    described["gateway"] = gw;
  }
  std::string src = queryString(req, "source", 64);
  if (!src.empty()) {
    if (auto a = net::SockAddr::parse(src); a && a->port() != 0) {
      f.peerAddr = *a;
    } else if (auto c = net::Cidr::parse(src)) {
      f.peerCidr = *c;
    } else {
      fail(400, "invalid_parameter", "source", "must be an IP, a CIDR or IP:port");
    }
    described["source"] = src;
  }
  f.number = queryString(req, "number", 64);
  if (!f.number.empty()) described["number"] = f.number;
  f.callId = queryString(req, "call_id", 256);
  if (!f.callId.empty()) described["call_id"] = f.callId;
  return f;
}

void trace(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json described = Json::object();
  TraceFilter filter = traceFilter(ctx, req, described);
  const std::string format = req.has_param("format") ? req.get_param_value("format") : "text";
  if (format != "text" && format != "pcap" && format != "ndjson") {
    fail(400, "invalid_parameter", "format", "must be text, ndjson or pcap");
  }
  const int64_t count = queryInt(req, "count", 1, 1'000'000, 0);
  const int64_t seconds = queryInt(req, "duration", 1, kMaxTraceSeconds, kDefaultTraceSeconds);
  const double rate =
      static_cast<double>(queryInt(req, "rate", 1, static_cast<int64_t>(kTraceMaxRate),
                                   static_cast<int64_t>(kTraceDefaultRate)));
  ApiState* api = &ctx.api;
  if (api->traceStreams.fetch_add(1) >= kApiMaxTraceStreams) {
    api->traceStreams.fetch_sub(1);
    fail(503, "busy", "", "too many trace streams open; try again later");
  }
  bool first = false;
  auto session = api->trace.open(std::move(filter), rate, &first);
  if (!session) {
    api->traceStreams.fetch_sub(1);
    fail(503, "busy", "", "too many trace sessions open");
  }
  if (first && !api->node.setTap(&api->trace)) {
    api->trace.close(session);
    api->traceStreams.fetch_sub(1);
    workerTimeout();
  }
  api->counters.traceSessionsStarted.fetch_add(1, std::memory_order_relaxed);
  described["format"] = format;
  described["count"] = count;
  described["duration"] = seconds;
  described["rate"] = rate;
  ctx.audit("trace.start", described.value("gateway", std::string("*")), "ok", nullptr, described);
  log::info("api.trace_started").kv("by", ctx.actor()).kv("filter", described.dump());

  struct Stream {
    std::shared_ptr<TraceSession> session;
    PcapWriter pcap;
    bool started = false;
    int64_t delivered = 0;
    TraceCounts reported;
    Clock::time_point deadline;
  };
  auto st = std::make_shared<Stream>();
  st->session = session;
  st->deadline = Clock::now() + std::chrono::seconds(seconds);
  const char* type = format == "pcap"     ? "application/vnd.tcpdump.pcap"
                     : format == "ndjson" ? "application/x-ndjson"
                                          : "text/plain; charset=utf-8";
  auto finish = [st, format](httplib::DataSink& sink) {
    if (format == "text") {
      TraceCounts c = st->session->counts();
      std::string line = "# trace ended: " + std::to_string(st->delivered) + " messages, " +
                         std::to_string(c.droppedRate) + " dropped over the rate, " +
                         std::to_string(c.droppedFull) + " dropped (reader too slow)\n";
      sink.write(line.data(), line.size());
    }
    sink.done();
    return true;
  };
  streamResponseLive();
  res.set_chunked_content_provider(
      type,
      [st, api, format, count, finish](size_t, httplib::DataSink& sink) {
        if (!st->started) {
          st->started = true;
          std::string head = format == "pcap" ? PcapWriter::fileHeader()
                             : format == "text"
                                 ? std::string("# tracing; one block per SIP message\n")
                                 : std::string();
          if (!head.empty()) return sink.write(head.data(), head.size());
        }
        if (api->stopping.load() || Clock::now() >= st->deadline || currentPeerClosed()) {
          return finish(sink);
        }
        std::vector<TraceRecord> recs;
        st->session->take(recs, std::chrono::milliseconds(250));
        std::string out;
        for (auto& r : recs) {
          if (count > 0 && st->delivered >= count) break;
          ++st->delivered;
          if (format == "pcap") {
            const bool in = r.dir == transport::TapDirection::In;
            // A wildcard listener has no address of its own: show loopback.
            net::SockAddr local = r.local;
            out += st->pcap.packet(r.timeUs, in ? r.remote : local, in ? local : r.remote,
                                   r.protocol != transport::Protocol::Udp, r.bytes);
          } else if (format == "ndjson") {
            out += traceRecordJson(r);
          } else {
            out += traceRecordText(r);
          }
        }
        api->counters.traceMessages.fetch_add(recs.size(), std::memory_order_relaxed);
        if (format == "text") {
          TraceCounts c = st->session->counts();
          if (c.droppedRate != st->reported.droppedRate ||
              c.droppedFull != st->reported.droppedFull) {
            out += "# dropped so far: " + std::to_string(c.droppedRate) + " over the rate, " +
                   std::to_string(c.droppedFull) + " (reader too slow)\n";
            st->reported = c;
          }
        }
        if (!out.empty() && !sink.write(out.data(), out.size())) return false;
        if (count > 0 && st->delivered >= count) return finish(sink);
        return true;
      },
      [st, api](bool) {
        if (api->trace.close(st->session)) (void)api->node.setTap(nullptr);
        api->traceStreams.fetch_sub(1);
        log::info("api.trace_ended").kv("messages", st->delivered);
      });
}

}  // namespace

void registerNodeRoutes(std::vector<Route>& r) {
  r.push_back({"GET", "/api/v1/calls", Access::Read, "calls", "Calls in progress", nullptr,
               "LiveCallList", 200, "limit:integer:1-10000, default 100", listCalls});
  r.push_back({"DELETE", "/api/v1/calls/{id}", Access::Operate, "calls",
               "End a call in progress (BYE both legs; CDR reason admin_hangup)", nullptr,
               "CallEnded", 200, nullptr, endCall});
  r.push_back({"GET", "/api/v1/cdrs", Access::Read, "cdrs",
               "CDRs, newest first: filter, page, or export as CSV", nullptr, "CdrList", 200,
               "from:string:start at or after (UTC time or Unix seconds)|to:string:start "
               "before|gateway:string:mapping or routing gateway|mapping_gateway:string:customer "
               "gateway|routing_gateway:string:last carrier tried|number:string:caller or callee "
               "(canonical form, normalised like a call's numbers)|reason:string:termination "
               "reason (docs/cdr.md)|limit:integer:JSON 1-10000 "
               "(default 100); CSV: all rows unless given|before_id:integer:paging: "
               "next_before_id of the previous page|format:string:json (default) or csv",
               listCdrs});
  r.push_back({"GET", "/api/v1/stats", Access::Read, "stats", "Counters by reason and table sizes",
               nullptr, "Stats", 200, nullptr, stats});
  r.push_back({"GET", "/api/v1/carriers", Access::Read, "stats",
               "Routing gateways and their OPTIONS keep-alive state (in or out of rotation)",
               nullptr, "CarrierList", 200, nullptr, carriers});
  r.push_back({"GET", "/api/v1/trace", Access::Operate, "trace",
               "Stream live SIP messages (text, ndjson or pcap)", nullptr, "trace", 200,
               "gateway:string:mapping or routing gateway name|source:string:peer IP, CIDR or "
               "IP:port|number:string:contained in From/To/Request-URI user|call_id:string:exact "
               "Call-ID|format:string:text (default), ndjson or pcap|count:integer:stop after "
               "this many messages|duration:integer:stop after this many seconds (default 600, "
               "at most 3600)|rate:integer:messages per second (default 100, at most 2000)",
               trace});
  r.push_back({"GET", "/api/v1/cluster", Access::Read, "stats",
               "The cluster as this node sees it: live nodes, the Redis link (address, role, "
               "latency, counters) and cluster.down_rule; {\"enabled\": false} without [cluster]",
               nullptr, "Cluster", 200, nullptr, clusterStatus});
  r.push_back({"GET", "/metrics", Access::Read, "metrics",
               "Prometheus metrics (text format 0.0.4); public when api.metrics_auth = false",
               nullptr, "text", 200, nullptr, metrics});
}

}  // namespace tollgate::mgmt
