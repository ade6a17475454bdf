// SIP trace (sip_trace.h).
#include "mgmt/sip_trace.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "common/ascii.h"
#include "common/json_string.h"
#include "sip/message.h"
#include "store/cdr_format.h"

namespace tollgate::mgmt {

bool TraceFilter::matchesPeer(const net::SockAddr& peer) const {
  if (byGateway) {
    bool hit = false;
    for (const auto& c : gatewayCidrs) hit = hit || c.contains(peer.ip());
    for (const auto& a : gatewayAddrs) hit = hit || a == peer;
    if (!hit) return false;
  }
  if (peerCidr && !peerCidr->contains(peer.ip())) return false;
  if (peerAddr && !(*peerAddr == peer)) return false;
  return true;
}

TraceSession::TraceSession(TraceFilter filter, double ratePerSecond)
    : filter_(std::move(filter)), rate_(std::clamp(ratePerSecond, 1.0, kTraceMaxRate)) {}

bool TraceSession::take(std::vector<TraceRecord>& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !queue_.empty(); });
  if (queue_.empty()) return false;
  for (auto& r : queue_) out.push_back(std::move(r));
  queue_.clear();
  queuedBytes_ = 0;
  return true;
}

TraceCounts TraceSession::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

void TraceSession::offer(TraceRecord&& r, std::chrono::steady_clock::time_point now) {
  {
    std::lock_guard lock(mu_);
    ++counts_.matched;
    bucket_.refill(now, rate_, rate_);
    if (!bucket_.hasToken()) {
      ++counts_.droppedRate;
      return;
    }
    if (queue_.size() >= kTraceMaxQueuedMessages ||
        queuedBytes_ + r.bytes.size() > kTraceMaxQueuedBytes) {
      ++counts_.droppedFull;
      return;
    }
    bucket_.take();  // a message the queue had no room for costs no token
    r.seq = nextSeq_++;
    queuedBytes_ += r.bytes.size();
    queue_.push_back(std::move(r));
    ++counts_.delivered;
  }
  cv_.notify_one();
}

int& TraceSession::challenges(const std::string& callId) {
  if (challenges_.size() >= kTraceMaxCallIds && !challenges_.count(callId)) challenges_.clear();
  return challenges_[callId];
}

std::shared_ptr<TraceSession> SipTrace::open(TraceFilter filter, double ratePerSecond,
                                             bool* first) {
  std::lock_guard lock(mu_);
  if (sessions_.size() >= kTraceMaxSessions) return nullptr;
  auto s = std::make_shared<TraceSession>(std::move(filter), ratePerSecond);
  *first = sessions_.empty();
  sessions_.push_back(s);
  return s;
}

bool SipTrace::close(const std::shared_ptr<TraceSession>& s) {
  std::lock_guard lock(mu_);
  sessions_.erase(std::remove(sessions_.begin(), sessions_.end(), s), sessions_.end());
  return sessions_.empty();
}

size_t SipTrace::sessions() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

namespace {

bool containsNumber(std::string_view user, const std::string& number) {
  return !user.empty() && sip::unescape(user).find(number) != std::string::npos;
}

std::string startLine(std::string_view bytes) {
  size_t end = bytes.find_first_of("\r\n");
  return std::string(bytes.substr(0, std::min<size_t>(end, 200)));
}

}  // namespace

SipTrace::SipTrace() : carrierLegs_(kTraceMaxCarrierLegs, admission::StringHash{}) {}

void SipTrace::onCarrierLeg(std::string_view callerCallId, std::string_view carrierCallId) {
  if (carrierCallId.empty()) return;
  std::string* caller = carrierLegs_.touch(carrierCallId.substr(0, kTraceMaxLegCallId));
  if (caller != nullptr) caller->assign(callerCallId.substr(0, kTraceMaxLegCallId));
}

void SipTrace::onPacket(transport::TapDirection dir, const transport::Flow& flow,
                        const net::SockAddr& local, std::string_view bytes) {
  std::lock_guard lock(mu_);
  if (sessions_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  const int64_t wallUs = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  // Parsed at most once per message, and only when some session's peer
  // criteria matched.
  bool parsed = false;
  sip::MessagePtr msg;
  for (const auto& s : sessions_) {
    const TraceFilter& f = s->filter();
    if (!f.matchesPeer(flow.remote)) continue;
    if (!parsed) {
      parsed = true;
      auto r = sip::Message::parse(std::string(bytes));
      if (r.ok()) msg = std::move(r).value();
    }
    std::string callId = msg ? std::string(msg->callId()) : std::string();
    if (!f.callId.empty() && callId != f.callId) continue;
    if (!f.number.empty()) {
      if (!msg) continue;
      bool hit = containsNumber(msg->from().uri.user, f.number) ||
                 containsNumber(msg->to().uri.user, f.number) ||
                 (msg->isRequest() && containsNumber(msg->requestUri().user, f.number));
      if (!hit) continue;
    }
    TraceRecord rec;
    rec.timeUs = wallUs;
    rec.dir = dir;
    rec.protocol = flow.protocol;
    rec.local = local;
    rec.remote = flow.remote;
    rec.summary = startLine(bytes);
    rec.callId = callId;
    if (!callId.empty()) {
      const std::string* caller =
          carrierLegs_.find(std::string_view(callId).substr(0, kTraceMaxLegCallId));
      if (caller != nullptr) rec.callerCallId = *caller;
    }
    if (!msg) {
      rec.mark = "malformed";
    } else if (!msg->isRequest() && (msg->status() == 401 || msg->status() == 407)) {
      int& n = s->challenges(callId);
      ++n;
      rec.mark = "challenge #" + std::to_string(n);
      if (n >= 3) rec.mark += " (auth loop?)";
    } else if (msg->isRequest() && (msg->header(sip::HeaderId::Authorization) ||
                                    msg->header(sip::HeaderId::ProxyAuthorization))) {
      rec.mark = "credentials #" + std::to_string(s->challenges(callId));
    }
    rec.bytes = maskCredentials(bytes);
    s->offer(std::move(rec), now);
  }
}

namespace {

using ascii::iequals;

// Appends one header line (or folded continuation) of a credentials header
// with every `response` value masked.
void appendMaskedLine(std::string& out, std::string_view line) {
  constexpr std::string_view kParam = "response";
  size_t i = 0;
  while (i < line.size()) {
    const bool boundary = i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t' ||
                          line[i - 1] == ',' || line[i - 1] == ':';
    if (!boundary || i + kParam.size() > line.size() ||
        !iequals(line.substr(i, kParam.size()), kParam)) {
      out += line[i++];
      continue;
    }
    size_t j = i + kParam.size();
    while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
    if (j >= line.size() || line[j] != '=') {
      out += line[i++];
      continue;
    }
    ++j;
    while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
    out.append(line.substr(i, j - i));  // response =
    size_t end = j;
    if (end < line.size() && line[end] == '"') {
      ++end;
      while (end < line.size() && line[end] != '"') end += line[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, line.size());
      out += "\"***\"";
    } else {
      while (end < line.size() && line[end] != ',' && line[end] != ' ' && line[end] != '\t' &&
             line[end] != '\r') {
        ++end;
      }
      out += "***";
    }
    i = end;
  }
}

}  // namespace

std::string maskCredentials(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  size_t pos = 0;
  bool inCredentials = false;
  while (pos < message.size()) {
    size_t nl = message.find('\n', pos);
    const size_t next = nl == std::string_view::npos ? message.size() : nl + 1;
    std::string_view line = message.substr(pos, next - pos);
    if (line == "\r\n" || line == "\n") {  // end of the header: the body as is
      out.append(message.substr(pos));
      return out;
    }
    if (line.front() != ' ' && line.front() != '\t') {  // not a folded continuation
      size_t colon = line.find(':');
      std::string_view name = line.substr(0, colon == std::string_view::npos ? 0 : colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      inCredentials = iequals(name, "Authorization") || iequals(name, "Proxy-Authorization");
    }
    if (inCredentials) {
      appendMaskedLine(out, line);
    } else {
      out.append(line);
    }
    pos = next;
  }
  return out;
}

namespace {

std::string peerLine(const TraceRecord& r) {
  const bool in = r.dir == transport::TapDirection::In;
  std::string line = in ? "IN  " : "OUT ";
  line += std::string(transport::protocolParam(r.protocol)) + " ";
  line += in ? r.remote.toString() + " -> " + r.local.toString()
             : r.local.toString() + " -> " + r.remote.toString();
  return line;
}

void appendSafe(std::string& out, std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
      out += '?';
    } else {
      out += static_cast<char>(c);
    }
  }
}

}  // namespace

std::string traceRecordText(const TraceRecord& r) {
  std::string out = "#" + std::to_string(r.seq) + " " + store::formatUtcMicros(r.timeUs) + " " +
                    peerLine(r) + "  ";
  appendSafe(out, r.summary);
  if (!r.callId.empty()) {
    out += "  call-id=";
    appendSafe(out, r.callId);
  }
  if (!r.callerCallId.empty()) {
    out += "  caller-call-id=";
    appendSafe(out, r.callerCallId);
  }
  if (!r.mark.empty()) out += "  [" + r.mark + "]";
  out += "\n";
  appendSafe(out, r.bytes);
  if (out.back() != '\n') out += '\n';
  out += '\n';
  return out;
}

std::string traceRecordJson(const TraceRecord& r) {
  std::string out = "{\"seq\":" + std::to_string(r.seq) + ",\"time\":\"" +
                    store::formatUtcMicros(r.timeUs) + "\",\"direction\":\"" +
                    (r.dir == transport::TapDirection::In ? "in" : "out") + "\",\"transport\":\"" +
                    std::string(transport::protocolParam(r.protocol)) + "\",\"local\":\"" +
                    r.local.toString() + "\",\"remote\":\"" + r.remote.toString() +
                    "\",\"summary\":";
  appendJsonString(out, r.summary);
  out += ",\"call_id\":";
  appendJsonString(out, r.callId);
  if (!r.callerCallId.empty()) {
    out += ",\"caller_call_id\":";
    appendJsonString(out, r.callerCallId);
  }
  out += ",\"mark\":";
  appendJsonString(out, r.mark);
  out += ",\"message\":";
  appendJsonString(out, r.bytes);
  out += "}\n";
  return out;
}

}  // namespace tollgate::mgmt
