// Structured logs: one logfmt line per event on stderr,
//   ts=2026-11-26T16:20:00.123Z level=info event=call.end call_id=abc reason=busy
// or one JSON object per line when the format is "json"; or, under systemd,
// one journal entry per event sent with journald's native protocol
// (systemd.io/JOURNAL_NATIVE_PROTOCOL): one datagram on a unix socket
// carrying MESSAGE ("call.end call_id=abc reason=busy"), PRIORITY (syslog's
// numbers, see journalPriority), SYSLOG_IDENTIFIER=tollgate, EVENT and one
// field per key in upper case (CALL_ID=abc), so `journalctl -p warning` and
// `journalctl EVENT=auth.suspended` work. Events are dotted
// names ("call.end", "store.reload"); fields are key=value pairs. String
// values are JSON-escaped (common/json_string.h) in both formats (logfmt
// quotes only the values that need it), so bytes that are not UTF-8 are
// written as U+FFFD and no control byte reaches the log. Thread-safe
// (each line is written with one write(2)). Logging is for events, never for
// every packet: per-packet facts go to counters.
//
//   log::info("call.end").kv("call_id", id).kv("code", 486);
//
// The line is emitted when the temporary is destroyed, so nothing is formatted
// when the level is disabled.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace tollgate::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };
enum class Format { Logfmt, Json };

void setLevel(Level level);
void setFormat(Format format);
bool parseLevel(std::string_view text, Level* out);
bool enabled(Level level);

// journald's socket for the native protocol.
inline constexpr const char* kJournalSocket = "/run/systemd/journal/socket";
// Longest journal field name journald accepts (journal-file.h).
inline constexpr size_t kJournalMaxFieldName = 64;

// Sends every line from now on to journald at `socketPath` (a datagram per
// line, without blocking: a line the socket does not take at once, because
// journald is absent or its queue is full, is written to stderr in the
// stderr format instead and counted in Stats::journalFallbacks; when stderr
// is the journal's stream, with an sd-daemon(3) "<N>" priority prefix, so
// it keeps its priority there). Returns
// false, and leaves the target unchanged, when no socket can be created.
// Called at start-up, before other threads log.
bool setJournal(const std::string& socketPath);
// Back to stderr (the default).
void setStderr();
// True when stderr is a stream to the journal: systemd sets JOURNAL_STREAM
// to "device:inode" of the stream it connected (systemd.exec(5)), which a
// redirect changes, so a child with stderr sent elsewhere does not match.
bool stderrIsJournal();
// syslog(3) priorities as journald takes them: debug 7, info 6, warn 4
// (warning), error 3 (err); `journalctl -p warning` shows warn and error.
int journalPriority(Level level);
// The journal field for a key: upper case, [A-Z0-9_] only (others become
// '_'), not starting with a digit or '_' ("F" is put before), at most
// kJournalMaxFieldName characters; a name journald or this writer gives a
// meaning (MESSAGE, PRIORITY, EVENT, SYSLOG_*, CODE_*, ...) gets the prefix
// "TG_", so no key can forge the entry's priority or message.
std::string journalFieldName(std::string_view key);

struct Stats {
  uint64_t journalSent = 0;       // entries journald took
  uint64_t journalFallbacks = 0;  // entries written to stderr because it did not
};
Stats stats();

class Line {
 public:
  Line(Level level, std::string_view event);
  ~Line();
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;

  Line& kv(std::string_view key, std::string_view value);
  Line& kv(std::string_view key, const char* value) { return kv(key, std::string_view(value)); }
  Line& kv(std::string_view key, const std::string& value) {
    return kv(key, std::string_view(value));
  }
  Line& kv(std::string_view key, bool value);
  template <typename T>
  requires std::is_integral_v<T> Line& kv(std::string_view key, T value) {
    if (on_) number(key, static_cast<int64_t>(value));
    return *this;
  }
  Line& kv(std::string_view key, double value);

 private:
  void key(std::string_view k);  // " k=" or ",\"k\":"
  void number(std::string_view key, int64_t value);
  // Journal: the field for key k with this (already escaped) value.
  void field(std::string_view k, std::string_view value);
  void sendJournal();
  bool on_;
  bool journal_;  // journal entry: buf_ is MESSAGE (logfmt without ts and level)
  Level level_;
  Format format_;
  std::string buf_;
  std::string fields_;  // journal: "EVENT=...\nCALL_ID=...\n"
};

inline Line debug(std::string_view event) {
  return Line(Level::Debug, event);
}
inline Line info(std::string_view event) {
  return Line(Level::Info, event);
}
inline Line warn(std::string_view event) {
  return Line(Level::Warn, event);
}
inline Line error(std::string_view event) {
  return Line(Level::Error, event);
}

}  // namespace tollgate::log
