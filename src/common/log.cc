// logfmt / JSON line writer and journald native-protocol client behind log.h.
#include "common/log.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/json_string.h"

namespace tollgate::log {
namespace {

std::atomic<int> gLevel{static_cast<int>(Level::Info)};
std::atomic<int> gFormat{static_cast<int>(Format::Logfmt)};
// The journal target: the socket (-1 = stderr) and journald's address, set
// once before other threads log (setJournal), read by every line.
std::atomic<int> gJournalFd{-1};
sockaddr_un gJournalAddr{};
socklen_t gJournalAddrLen = 0;
// stderr is the journal's stream too (JOURNAL_STREAM): a line that falls
// back there keeps its priority as an sd-daemon(3) "<N>" prefix.
std::atomic<bool> gStderrIsJournal{false};
std::atomic<uint64_t> gJournalSent{0};
std::atomic<uint64_t> gJournalFallbacks{0};

// Names journald or this writer gives a meaning (systemd.journal-fields(7));
// a key that maps to one gets the prefix "TG_".
constexpr std::string_view kReservedFields[] = {
    "MESSAGE",
    "MESSAGE_ID",
    "PRIORITY",
    "EVENT",
    "CODE_FILE",
    "CODE_LINE",
    "CODE_FUNC",
    "ERRNO",
    "INVOCATION_ID",
    "USER_INVOCATION_ID",
    "SYSLOG_FACILITY",
    "SYSLOG_IDENTIFIER",
    "SYSLOG_PID",
    "SYSLOG_TIMESTAMP",
    "SYSLOG_RAW",
    "DOCUMENTATION",
    "TID",
    "UNIT",
    "USER_UNIT",
    "COREDUMP_UNIT",
    "OBJECT_PID",
    "COREDUMP_USER_UNIT",
    "TS",
    "LEVEL",
};

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

bool setJournal(const std::string& socketPath) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socketPath.empty() || socketPath.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, socketPath.data(), socketPath.size());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  // journald's own clients ask for a large send buffer: an entry is one
  // datagram, and the default may be smaller than a long one.
  int sndbuf = 8 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  gJournalAddr = addr;
  gStderrIsJournal.store(stderrIsJournal());
  gJournalAddrLen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socketPath.size());
  int old = gJournalFd.exchange(fd);
  if (old >= 0) ::close(old);
  return true;
}

void setStderr() {
  int old = gJournalFd.exchange(-1);
  if (old >= 0) ::close(old);
}

bool stderrIsJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

int journalPriority(Level level) {
  switch (level) {
    case Level::Debug:
      return 7;
    case Level::Info:
      return 6;
    case Level::Warn:
      return 4;
    case Level::Error:
      return 3;
  }
  return 6;
}

std::string journalFieldName(std::string_view key) {
  std::string name;
  name.reserve(key.size() + 3);
  for (char c : key) {
    if (c >= 'a' && c <= 'z') {
      name += static_cast<char>(c - 'a' + 'A');
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      name += c;
    } else {
      name += '_';
    }
  }
  if (name.empty() || name[0] == '_' || (name[0] >= '0' && name[0] <= '9')) name.insert(0, "F");
  for (std::string_view r : kReservedFields) {
    if (name == r) {
      name.insert(0, "TG_");
      break;
    }
  }
  if (name.size() > kJournalMaxFieldName) name.resize(kJournalMaxFieldName);
  return name;
}

Stats stats() {
  return {gJournalSent.load(std::memory_order_relaxed),
          gJournalFallbacks.load(std::memory_order_relaxed)};
}

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

namespace {

// "2026-11-26T16:20:00.123Z", now.
std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t secs = system_clock::to_time_t(now);
  int ms = static_cast<int>(duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char ts[96];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return ts;
}

}  // namespace

Line::Line(Level level, std::string_view event)
    : on_(enabled(level)),
      journal_(on_ && gJournalFd.load(std::memory_order_relaxed) >= 0),
      level_(level),
      format_(journal_ ? Format::Logfmt
                       : static_cast<Format>(gFormat.load(std::memory_order_relaxed))) {
  if (!on_) return;
  buf_.reserve(256);
  if (journal_) {
    // The journal keeps time and priority itself: MESSAGE starts at the event.
    buf_ += event;
    fields_.reserve(256);
    fields_ += "EVENT=";
    appendJsonEscaped(fields_, event);
    fields_ += '\n';
    return;
  }
  const std::string ts = timestamp();
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
  if (journal_) {
    sendJournal();
    return;
  }
  buf_ += format_ == Format::Json ? "}\n" : "\n";
  ssize_t rc = ::write(STDERR_FILENO, buf_.data(), buf_.size());
  (void)rc;
}

// One datagram: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, then the event's
// fields, each "NAME=value\n" (values are escaped, so none holds a newline
// and the protocol's binary form is never needed).
void Line::sendJournal() {
  std::string entry;
  entry.reserve(buf_.size() + fields_.size() + 64);
  entry += "MESSAGE=";
  entry += buf_;
  entry += "\nPRIORITY=";
  entry += static_cast<char>('0' + journalPriority(level_));
  entry += "\nSYSLOG_IDENTIFIER=tollgate\n";
  entry += fields_;
  const int fd = gJournalFd.load(std::memory_order_relaxed);
  ssize_t rc = -1;
  if (fd >= 0) {
    rc = ::sendto(fd, entry.data(), entry.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                  reinterpret_cast<const sockaddr*>(&gJournalAddr), gJournalAddrLen);
  }
  if (rc == static_cast<ssize_t>(entry.size())) {
    gJournalSent.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // journald absent, restarting or behind: the line goes to stderr (under
  // systemd, the journal's stream: slower, but not lost).
  gJournalFallbacks.fetch_add(1, std::memory_order_relaxed);
  std::string line;
  if (gStderrIsJournal.load(std::memory_order_relaxed)) {
    line += '<';
    line += static_cast<char>('0' + journalPriority(level_));
    line += '>';
  }
  line += "ts=" + timestamp() + " level=" + levelName(level_);
  line += " event=";
  line += buf_;
  line += '\n';
  ssize_t w = ::write(STDERR_FILENO, line.data(), line.size());
  (void)w;
}

void Line::field(std::string_view k, std::string_view value) {
  fields_ += journalFieldName(k);
  fields_ += '=';
  appendJsonEscaped(fields_, value);
  fields_ += '\n';
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
  if (journal_) field(k, value);
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
  if (journal_) field(k, value ? "true" : "false");
  key(k);
  buf_ += value ? "true" : "false";
  return *this;
}

void Line::number(std::string_view k, int64_t value) {
  const std::string v = std::to_string(value);
  if (journal_) field(k, v);
  key(k);
  buf_ += v;
}

Line& Line::kv(std::string_view k, double value) {
  if (!on_) return *this;
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", value);
  if (journal_) field(k, b);
  key(k);
  buf_ += b;
  return *this;
}

}  // namespace tollgate::log
