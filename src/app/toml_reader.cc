// The TOML reading helpers of toml_reader.h: error collection, typed
// getters with ranges, unknown-key detection with a did-you-mean hint.
#include "app/toml_reader.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "common/json_string.h"

namespace tollgate::app {

namespace toml_reader {

void ErrorList::add(int line, std::string key, std::string message) {
  errors_.push_back(ConfigError{file_, line, std::move(key), std::move(message)});
}

ConfigError ErrorList::first() const {
  auto it =
      std::min_element(errors_.begin(), errors_.end(),
                       [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
  return it == errors_.end() ? ConfigError{file_, 0, "", "unknown error"} : *it;
}

int lineOf(const toml::node& node, int fallback) {
  int line = static_cast<int>(node.source().begin.line);
  return line > 0 ? line : fallback;
}

int lineOf(const toml::key& key, int fallback) {
  int line = static_cast<int>(key.source().begin.line);
  return line > 0 ? line : fallback;
}

std::string_view typeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::array:
      return "array";
    case toml::node_type::table:
      return "table";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    default:
      return "nothing";
  }
}

std::string quoted(std::string_view s) {
  // A JSON string literal is also a TOML basic string (same escapes).
  std::string out;
  appendJsonString(out, s);
  return out;
}

namespace {
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string closestName(std::string_view typo, const std::set<std::string, std::less<>>& known) {
  constexpr size_t kMaxSuggestDistance = 2;  // further away it is a different word, not a typo
  std::string best;
  size_t bestDistance = kMaxSuggestDistance + 1;
  for (const std::string& k : known) {
    size_t d = editDistance(typo, k);
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return best;
}

Result<toml::table, ConfigError> parseToml(std::string_view text, const std::string& sourceName) {
  // toml++ reports syntax errors by exception; this is start-up code, so that
  // is allowed, and it ends here as a value.
  try {
    return toml::parse(text, std::string_view(sourceName));
  } catch (const toml::parse_error& e) {
    int line = static_cast<int>(e.source().begin.line);
    return Err{ConfigError{sourceName, line > 0 ? line : 1, "",
                           "TOML syntax error: " + std::string(e.description())}};
  }
}

TableReader::TableReader(const toml::table* table, std::string path, int line, ErrorList& errors)
    : table_(table), path_(std::move(path)), line_(line > 0 ? line : 1), errors_(errors) {}

std::string TableReader::keyPath(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  if (key.empty()) return path_;
  return path_ + "." + std::string(key);
}

const toml::node* TableReader::take(std::string_view key, bool required) {
  known_.emplace(key);
  const toml::node* node = table_ ? table_->get(key) : nullptr;
  if (!node && required) errors_.add(line_, keyPath(key), "missing required key");
  return node;
}

int TableReader::lineOfKey(std::string_view key) const {
  const toml::node* node = table_ ? table_->get(key) : nullptr;
  return node ? lineOf(*node, line_) : line_;
}

void TableReader::error(std::string_view key, int line, std::string message) {
  errors_.add(line, keyPath(key), std::move(message));
}

bool TableReader::string(std::string_view key, std::string* out, bool required) {
  const toml::node* node = take(key, required);
  if (!node) return false;
  if (const auto* s = node->as_string()) {
    *out = s->get();
    return true;
  }
  error(key, lineOf(*node, line_), "must be a string (got " + std::string(typeName(*node)) + ")");
  return false;
}

bool TableReader::boolean(std::string_view key, bool* out, bool required) {
  const toml::node* node = take(key, required);
  if (!node) return false;
  if (const auto* b = node->as_boolean()) {
    *out = b->get();
    return true;
  }
  error(key, lineOf(*node, line_),
        "must be true or false (got " + std::string(typeName(*node)) + ")");
  return false;
}

bool TableReader::integer(std::string_view key, int64_t lo, int64_t hi, int64_t* out,
                          bool required) {
  const toml::node* node = take(key, required);
  if (!node) return false;
  const auto* i = node->as_integer();
  if (!i) {
    error(key, lineOf(*node, line_),
          "must be an integer (got " + std::string(typeName(*node)) + ")");
    return false;
  }
  int64_t v = i->get();
  if (v < lo || v > hi) {
    error(key, lineOf(*node, line_),
          "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " (got " +
              std::to_string(v) + ")");
    return false;
  }
  *out = v;
  return true;
}

bool TableReader::number(std::string_view key, double lo, double hi, double* out, bool required) {
  const toml::node* node = take(key, required);
  if (!node) return false;
  double v = 0;
  if (const auto* i = node->as_integer()) {
    v = static_cast<double>(i->get());
  } else if (const auto* f = node->as_floating_point()) {
    v = f->get();
  } else {
    error(key, lineOf(*node, line_), "must be a number (got " + std::string(typeName(*node)) + ")");
    return false;
  }
  // !(v > lo) also catches NaN; lo itself is excluded (a rate of 0 is "off",
  // which has its own switch).
  if (!(v > lo) || v > hi || std::isinf(v)) {
    std::ostringstream msg;
    msg << "must be greater than " << lo << " and at most " << hi << " (got " << v << ")";
    error(key, lineOf(*node, line_), msg.str());
    return false;
  }
  *out = v;
  return true;
}

bool TableReader::choice(std::string_view key, std::initializer_list<std::string_view> choices,
                         size_t* out, bool required) {
  std::string s;
  int line = lineOfKey(key);
  if (!string(key, &s, required)) return false;
  size_t idx = 0;
  for (std::string_view c : choices) {
    if (s == c) {
      *out = idx;
      return true;
    }
    ++idx;
  }
  std::string msg = "must be ";
  if (choices.size() == 2) {
    msg += quoted(*choices.begin()) + " or " + quoted(*(choices.begin() + 1));
  } else {
    msg += "one of ";
    bool first = true;
    for (std::string_view c : choices) {
      if (!first) msg += ", ";
      msg += quoted(c);
      first = false;
    }
  }
  msg += " (got " + quoted(s) + ")";
  error(key, line, std::move(msg));
  return false;
}

bool TableReader::stringArray(std::string_view key, size_t maxItems, std::vector<Item>* out,
                              bool required) {
  const toml::node* node = take(key, required);
  if (!node) return false;
  const auto* arr = node->as_array();
  int line = lineOf(*node, line_);
  if (!arr) {
    error(key, line, "must be an array of strings (got " + std::string(typeName(*node)) + ")");
    return false;
  }
  if (arr->size() > maxItems) {
    error(key, line,
          "has " + std::to_string(arr->size()) + " entries; at most " + std::to_string(maxItems) +
              " are allowed");
    return false;
  }
  std::vector<Item> items;
  bool ok = true;
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    int eline = lineOf(e, line);
    if (const auto* s = e.as_string()) {
      items.push_back(Item{s->get(), eline});
    } else {
      errors_.add(eline, keyPath(key) + "[" + std::to_string(i) + "]",
                  "must be a string (got " + std::string(typeName(e)) + ")");
      ok = false;
    }
  }
  if (!ok) return false;
  *out = std::move(items);
  return true;
}

void TableReader::finish() {
  if (!table_) return;
  for (auto&& [k, v] : *table_) {
    if (known_.count(k.str())) continue;
    std::string msg = v.is_table() ? "unknown table" : "unknown key";
    std::string hint = closestName(k.str(), known_);
    if (!hint.empty()) msg += " (did you mean " + quoted(hint) + "?)";
    errors_.add(lineOf(k, lineOf(v, line_)), keyPath(k.str()), std::move(msg));
  }
}

}  // namespace toml_reader

}  // namespace tollgate::app
