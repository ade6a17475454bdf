// Node settings: the one TOML file a tollgate node starts from (listen
// addresses, SIP timers, failover rules, store path, CDR and log settings).
// Policy (gateways, limits, lists) is not here: it lives in the store, see
// provisioning_file.h. Every key is documented in docs/configuration.md and
// shown with its default in examples/tollgate.toml. Loading checks every key's
// type and range, rejects unknown keys and tables (a typo must never silently
// fall back to a default), and names file, line and dotted key in the error.
// Plain values; no threading rule applies.
//
// Classic include guards instead of #pragma once: the internal section at the
// bottom must still be reachable when this header was already included
// without it (see TOLLGATE_APP_TOML_READER).
#ifndef TOLLGATE_APP_CONFIG_H_
#define TOLLGATE_APP_CONFIG_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "common/result.h"
#include "transport/transport.h"

namespace tollgate::app {

using Seconds = std::chrono::seconds;

// What to do with a request from a source that matches no mapping gateway.
// VOS3000 SS_REPLY_UNAUTHORIZED: silence gives scanners nothing to learn.
enum class UnknownSourcePolicy { Drop, Reject403 };
std::string_view unknownSourcePolicyName(UnknownSourcePolicy p);  // "drop", "403"

struct SipConfig {
  std::vector<transport::ListenSpec> listen;  // required, >= 1, no duplicates
  std::string domain = "tollgate.local";      // our SIP domain; later the digest realm
  UnknownSourcePolicy unknownSource = UnknownSourcePolicy::Drop;
  std::string userAgent = "tollgate";  // Server/User-Agent value; "" = send none
  std::string advertisedAddress;       // host[:port] for Via/Contact (NAT); "" = listen address
  Millis t1Ms{500};                    // RFC 3261 §17.1.1.1 T1
  Millis t2Ms{4000};                   // RFC 3261 §17.1.2.2 T2
  Millis t4Ms{5000};                   // RFC 3261 §17.1.2.2 T4
  Seconds ringTimeout{120};            // no answer this long -> no_answer
  Seconds tcpIdleTimeout{300};         // no bytes either way -> close
  size_t tcpMaxConnections = 4096;
  size_t tcpMaxConnectionsPerIp = 64;
};

struct RoutingConfig {
  int switchLimit = 3;        // routing gateways tried per call (SS_GATEWAY_SWITCH_LIMIT)
  bool stopAfterBusy = true;  // 486/600 ends failover (SS_GATEWAY_SWITCH_STOP_AFTER_USER_BUSY)
  Seconds setupTimeout{5};    // no response at all from a carrier -> next gateway
  int noRouteCode = 404;      // final response when no routing gateway matches
};

struct StoreConfig {
  std::string path;                 // required; SQLite file, relative to the cwd
  Millis provisioningPollMs{1000};  // how often the node looks for store changes
};

struct CdrConfig {
  bool illegalCalls = true;  // CDRs for unknown sources (SERVER_BILLING_RECORD_ILLEGAL_CALL)
  double illegalRate = 20;   // token bucket: CDRs per second for those
  int illegalBurst = 100;    // token bucket depth
};

struct LogConfig {
  log::Level level = log::Level::Info;
  log::Format format = log::Format::Logfmt;
};

struct NodeConfig {
  Seconds drainTimeout{30};  // on SIGTERM: refuse new calls, wait this long for calls to end
};

struct Config {
  SipConfig sip;
  RoutingConfig routing;
  StoreConfig store;
  CdrConfig cdr;
  LogConfig log;
  NodeConfig node;
  std::string sourcePath;  // file (or source name) it was parsed from
};

// One problem in a TOML file. line is 1-based; 0 when there is no line (the
// file cannot be read). key is dotted ("sip.t1_ms", "sip.listen[1]",
// "mapping_gateway[cust-a].addresses"); empty for whole-file problems.
struct ConfigError {
  std::string file;
  int line = 0;
  std::string key;
  std::string message;
  // "examples/tollgate.toml:12: sip.unknown_source: must be \"drop\" or \"403\" (got \"reject\")"
  std::string format() const;
};

// Reads and checks a node settings file. On error, the reported problem is
// the one nearest the top of the file, so fixing errors top-down converges.
Result<Config, ConfigError> loadConfig(const std::string& path);
// Same, from text already in memory; sourceName is used in errors.
Result<Config, ConfigError> parseConfig(std::string_view text, const std::string& sourceName);

// Files larger than this are refused before parsing: a config or
// provisioning file is operator input, but a wrong path (a log, a database)
// must not be read into memory whole.
inline constexpr size_t kMaxTomlFileBytes = 64u << 20;

// Reads a whole file of at most kMaxTomlFileBytes (used by both loaders).
Result<std::string, ConfigError> readTomlFile(const std::string& path);

}  // namespace tollgate::app

#endif  // TOLLGATE_APP_CONFIG_H_

// ---------------------------------------------------------------------------
// Internal: the TOML reading helpers shared by config.cc and
// provisioning_file.cc. Kept out of the public part of this header so that
// including config.h does not pull in toml++ (a heavy header); a .cc file that
// wants them includes <toml++/toml.h> and defines TOLLGATE_APP_TOML_READER
// first. Externally synchronized (single-use, stack-allocated).
#if defined(TOLLGATE_APP_TOML_READER) && !defined(TOLLGATE_APP_CONFIG_TOML_READER_)
#define TOLLGATE_APP_CONFIG_TOML_READER_
#include <initializer_list>
#include <optional>
#include <set>

namespace tollgate::app::toml_reader {

// Collects every problem found; first() reports the earliest line (ties: the
// first one added), so the caller can keep checking after an error.
class ErrorList {
 public:
  explicit ErrorList(std::string file) : file_(std::move(file)) {}
  void add(int line, std::string key, std::string message);
  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }
  ConfigError first() const;
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

// 1-based line of a node, or fallback when toml++ has none (implicit tables).
int lineOf(const toml::node& node, int fallback);
int lineOf(const toml::key& key, int fallback);
// "string", "integer", "float", "boolean", "array", "table", "date", ...
std::string_view typeName(const toml::node& node);
// The TOML-quoted form of a string for messages: "reject" -> "\"reject\"".
std::string quoted(std::string_view s);
// The known name closest to a typo (edit distance <= 2), or "".
std::string closestName(std::string_view typo, const std::set<std::string, std::less<>>& known);

// Parses TOML text; a syntax error becomes an error at the line toml++ reports.
Result<toml::table, ConfigError> parseToml(std::string_view text, const std::string& sourceName);

// Reads the keys of one table. Every getter names a key this table knows,
// present or not; finish() then reports every key nobody asked for as
// unknown (with a did-you-mean hint). Getters leave *out unchanged when the
// key is absent or wrong, so defaults survive and checking goes on.
class TableReader {
 public:
  // table may be null (the table is absent: every key takes its default).
  // path is the dotted name used in errors ("sip", "mapping_gateway[cust-a]");
  // line is where the table starts (for "missing required key").
  TableReader(const toml::table* table, std::string path, int line, ErrorList& errors);

  std::string keyPath(std::string_view key) const;
  int line() const { return line_; }
  ErrorList& errors() { return errors_; }
  // Marks key as known and returns its node, or null when absent. When
  // required and absent, reports "missing required key".
  const toml::node* take(std::string_view key, bool required = false);
  // Line of a key that is present (its value's line), else the table's line.
  int lineOfKey(std::string_view key) const;
  void error(std::string_view key, int line, std::string message);
  void error(std::string_view key, std::string message) {
    error(key, lineOfKey(key), std::move(message));
  }

  // Each returns true when the key was present and valid (and *out was set).
  bool string(std::string_view key, std::string* out, bool required = false);
  bool boolean(std::string_view key, bool* out, bool required = false);
  bool integer(std::string_view key, int64_t lo, int64_t hi, int64_t* out, bool required = false);
  // Integer or float in [lo, hi]; for rates.
  bool number(std::string_view key, double lo, double hi, double* out, bool required = false);
  // One of the given strings; *out is the index into choices.
  bool choice(std::string_view key, std::initializer_list<std::string_view> choices, size_t* out,
              bool required = false);
  // An array of strings, each with its line; at most maxItems.
  struct Item {
    std::string value;
    int line = 0;
  };
  bool stringArray(std::string_view key, size_t maxItems, std::vector<Item>* out,
                   bool required = false);

  template <typename T>
  bool integerAs(std::string_view key, int64_t lo, int64_t hi, T* out, bool required = false) {
    int64_t v = 0;
    if (!integer(key, lo, hi, &v, required)) return false;
    *out = static_cast<T>(v);
    return true;
  }
  template <typename Rep, typename Period>
  bool duration(std::string_view key, int64_t lo, int64_t hi,
                std::chrono::duration<Rep, Period>* out, bool required = false) {
    int64_t v = 0;
    if (!integer(key, lo, hi, &v, required)) return false;
    *out = std::chrono::duration<Rep, Period>(v);
    return true;
  }

  // Reports every key of the table that no getter asked for.
  void finish();

 private:
  const toml::table* table_;
  std::string path_;
  int line_;
  ErrorList& errors_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace tollgate::app::toml_reader
#endif  // TOLLGATE_APP_TOML_READER
