// logfmt / JSON line writer behind log.h.
#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "common/json_string.h"

namespace tollgate::log {
namespace {

std::atomic<int> gLevel{static_cast<int>(Level::Info)};
std::atomic<int> gFormat{static_cast<int>(Format::Logfmt)};

const char* levelName(Level l) {
  switch (l) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "info";
}

bool needsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) >= 0x7f) {
      return true;
    }
  }
  return false;
}

}  // namespace

void setLevel(Level level) {
  gLevel.store(static_cast<int>(level));
}
void setFormat(Format format) {
  gFormat.store(static_cast<int>(format));
}
bool enabled(Level level) {
  return static_cast<int>(level) >= gLevel.load(std::memory_order_relaxed);
}

bool parseLevel(std::string_view text, Level* out) {
  if (text == "debug")
    *out = Level::Debug;
  else if (text == "info")
    *out = Level::Info;
  else if (text == "warn")
    *out = Level::Warn;
  else if (text == "error")
    *out = Level::Error;
  else
    return false;
  return true;
}

Line::Line(Level level, std::string_view event)
    : on_(enabled(level)), format_(static_cast<Format>(gFormat.load(std::memory_order_relaxed))) {
  if (!on_) return;
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t secs = system_clock::to_time_t(now);
  int ms = static_cast<int>(duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char ts[96];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  buf_.reserve(256);
  if (format_ == Format::Json) {
    buf_ += "{\"ts\":\"";
    buf_ += ts;
    buf_ += "\",\"level\":\"";
    buf_ += levelName(level);
    buf_ += "\",\"event\":";
    appendJsonString(buf_, event);
  } else {
    buf_ += "ts=";
    buf_ += ts;
    buf_ += " level=";
    buf_ += levelName(level);
    buf_ += " event=";
    buf_ += event;
  }
}

Line::~Line() {
  if (!on_) return;
  buf_ += format_ == Format::Json ? "}\n" : "\n";
  ssize_t rc = ::write(STDERR_FILENO, buf_.data(), buf_.size());
  (void)rc;
}

void Line::key(std::string_view k) {
  if (format_ == Format::Json) {
    buf_ += ",\"";
    buf_ += k;
    buf_ += "\":";
  } else {
    buf_ += ' ';
    buf_ += k;
    buf_ += '=';
  }
}

Line& Line::kv(std::string_view k, std::string_view value) {
  if (!on_) return *this;
  key(k);
  if (format_ == Format::Json || needsQuotes(value)) {
    // JSON string escaping for logfmt's quoted values too: control bytes
    // never reach the log verbatim, so a hostile header cannot forge lines.
    appendJsonString(buf_, value);
  } else {
    buf_ += value;
  }
  return *this;
}

Line& Line::kv(std::string_view k, bool value) {
  if (!on_) return *this;
  key(k);
  buf_ += value ? "true" : "false";
  return *this;
}

void Line::number(std::string_view k, int64_t value) {
  key(k);
  buf_ += std::to_string(value);
}

Line& Line::kv(std::string_view k, double value) {
  if (!on_) return *this;
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", value);
  key(k);
  buf_ += b;
  return *this;
}

}  // namespace tollgate::log
