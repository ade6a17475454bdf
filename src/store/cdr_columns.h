// The CDR's columns in one place: the column list of the cdr table, how a
// Cdr binds to a statement's parameters and reads back from a row. The SQL
// stores (both backends) and the CDR spool (cdr_spool.h, which writes the
// same fields to its file) use these, so a new CDR field is one entry in
// kCdrColumns, one line in bindCdr and one in readCdr (plus a migration per
// backend). Stateless; St is any statement-like type with bind(i, v) and
// text(col)/int64(col) (SqliteStatement, PgStatement, the spool's row). Thread-safe.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "call/cdr.h"

namespace tollgate::store {

// The PostgreSQL table adds `uid` (Store::writeCdrsOnce).
inline constexpr const char* kCdrColumns =
    "call_id, start_us, answer_us, end_us, caller, callee, source_address, transport, "
    "mapping_gateway, routing_gateway, gateways_tried, final_code, duration_ms, hangup, reason, "
    "caller_raw, callee_raw, media_relayed, caller_packets, caller_bytes, caller_loss_pct, "
    "caller_jitter_ms, callee_packets, callee_bytes, callee_loss_pct, callee_jitter_ms";
inline constexpr int kCdrColumnCount = 26;

// Loss and jitter are NULL when rtpengine had no RTCP figures (unknown, not
// 0): every statement type binds an empty optional as NULL and says isNull().
inline std::optional<int64_t> optionalInt(std::optional<uint32_t> v) {
  if (!v) return std::nullopt;
  return static_cast<int64_t>(*v);
}

template <class St>
void bindCdr(St& st, const call::Cdr& c) {
  st.bind(1, c.callId)
      .bind(2, c.startUs)
      .bind(3, c.answerUs)
      .bind(4, c.endUs)
      .bind(5, c.caller)
      .bind(6, c.callee)
      .bind(7, c.sourceAddress)
      .bind(8, c.transport)
      .bind(9, c.mappingGateway)
      .bind(10, c.routingGateway)
      .bind(11, c.gatewaysTried)
      .bind(12, c.finalCode)
      .bind(13, c.durationMs)
      .bind(14, call::hangupName(c.hangup))
      .bind(15, call::reasonName(c.reason))
      .bind(16, c.callerRaw)
      .bind(17, c.calleeRaw)
      .bind(18, c.media.present)
      .bind(19, static_cast<int64_t>(c.media.caller.packets))
      .bind(20, static_cast<int64_t>(c.media.caller.bytes))
      .bind(21, c.media.caller.lossPct)
      .bind(22, optionalInt(c.media.caller.jitterMs))
      .bind(23, static_cast<int64_t>(c.media.callee.packets))
      .bind(24, static_cast<int64_t>(c.media.callee.bytes))
      .bind(25, c.media.callee.lossPct)
      .bind(26, optionalInt(c.media.callee.jitterMs));
}

// Reads the columns of kCdrColumns starting at column `col`.
template <class St>
void readCdr(const St& st, int col, call::Cdr& c) {
  c.callId = st.text(col + 0);
  c.startUs = st.int64(col + 1);
  c.answerUs = st.int64(col + 2);
  c.endUs = st.int64(col + 3);
  c.caller = st.text(col + 4);
  c.callee = st.text(col + 5);
  c.sourceAddress = st.text(col + 6);
  c.transport = st.text(col + 7);
  c.mappingGateway = st.text(col + 8);
  c.routingGateway = st.text(col + 9);
  c.gatewaysTried = st.text(col + 10);
  c.finalCode = static_cast<int>(st.int64(col + 11));
  c.durationMs = st.int64(col + 12);
  // A name this build does not know (a row written by a newer tollgate)
  // must not make the whole list unreadable: fall back to the catch-alls.
  c.hangup = call::hangupFromName(st.text(col + 13)).value_or(call::HangupSide::None);
  c.reason =
      call::reasonFromName(st.text(col + 14)).value_or(call::TerminationReason::InternalError);
  c.callerRaw = st.text(col + 15);
  c.calleeRaw = st.text(col + 16);
  c.media.present = st.int64(col + 17) != 0;
  c.media.caller.packets = static_cast<uint64_t>(st.int64(col + 18));
  c.media.caller.bytes = static_cast<uint64_t>(st.int64(col + 19));
  if (!st.isNull(col + 20)) c.media.caller.lossPct = st.real(col + 20);
  if (!st.isNull(col + 21)) c.media.caller.jitterMs = static_cast<uint32_t>(st.int64(col + 21));
  c.media.callee.packets = static_cast<uint64_t>(st.int64(col + 22));
  c.media.callee.bytes = static_cast<uint64_t>(st.int64(col + 23));
  if (!st.isNull(col + 24)) c.media.callee.lossPct = st.real(col + 24);
  if (!st.isNull(col + 25)) c.media.callee.jitterMs = static_cast<uint32_t>(st.int64(col + 25));
}

// The columns of many CDRs as PostgreSQL array literals, one per column
// ("{1,2}", "{\"a\",\"b\"}"), for one INSERT ... SELECT FROM unnest(...) per
// batch: one statement and one round trip for the whole batch instead of
// one per CDR. Fed by bindCdr, so the column list stays the one above.
class CdrArrays {
 public:
  CdrArrays() : cols_(kCdrColumnCount), types_(kCdrColumnCount, "text") {}
  CdrArrays& bind(int i, int64_t v) { return add(i, std::to_string(v), "bigint"); }
  CdrArrays& bind(int i, int v) { return add(i, std::to_string(v), "bigint"); }
  CdrArrays& bind(int i, bool v) { return add(i, v ? "1" : "0", "bigint"); }
  CdrArrays& bind(int i, double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return add(i, buf, "double precision");
  }
  // An empty optional is a NULL element.
  template <typename T>
  CdrArrays& bind(int i, const std::optional<T>& v) {
    if (v) return bind(i, *v);
    return add(i, "NULL", std::is_floating_point_v<T> ? "double precision" : "bigint");
  }
  CdrArrays& bind(int i, std::string_view v) { return add(i, quote(v), "text"); }
  CdrArrays& bind(int i, const std::string& v) { return add(i, quote(v), "text"); }
  CdrArrays& bind(int i, const char* v) { return add(i, quote(v), "text"); }
  // Column i (from 1) as an array literal, and its SQL element type.
  std::string literal(int i) const { return "{" + cols_[static_cast<size_t>(i - 1)] + "}"; }
  const char* type(int i) const { return types_[static_cast<size_t>(i - 1)]; }

  static std::string quote(std::string_view v) {
    std::string out = "\"";
    for (char ch : v) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    return out + "\"";
  }

 private:
  CdrArrays& add(int i, std::string v, const char* type) {
    std::string& c = cols_[static_cast<size_t>(i - 1)];
    if (!c.empty()) c += ',';
    c += v;
    types_[static_cast<size_t>(i - 1)] = type;
    return *this;
  }
  std::vector<std::string> cols_;
  std::vector<const char*> types_;
};

}  // namespace tollgate::store
