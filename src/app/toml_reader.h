// The TOML reading helpers shared by config.cc and provisioning_file.cc:
// error collection with file:line: key messages, typed getters, unknown-key
// detection. Kept out of config.h so that including it does not pull in
// toml++ (a heavy header). Externally synchronized (single-use, stack-allocated).
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "app/config.h"

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

  // A duration written in Unit (the key's unit: seconds, or milliseconds
  // for *_ms keys), kept in the unit of *out (a layer's Millis, say).
  template <typename Unit, typename Rep, typename Period>
  bool durationIn(std::string_view key, int64_t lo, int64_t hi,
                  std::chrono::duration<Rep, Period>* out, bool required = false) {
    int64_t v = 0;
    if (!integer(key, lo, hi, &v, required)) return false;
    *out = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(Unit(v));
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
