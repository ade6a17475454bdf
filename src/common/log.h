// Structured logs: one logfmt line per event on stderr,
//   ts=2026-11-26T16:20:00.123Z level=info event=call.end call_id=abc reason=busy
// or one JSON object per line when the format is "json". Events are dotted
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
  bool on_;
  Format format_;
  std::string buf_;
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
