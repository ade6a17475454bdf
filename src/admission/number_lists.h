// Number lists: named black and white list groups of caller or callee
// numbers (VOS3000 "number groups"), with exact, prefix ("4490*") and simple
// wildcard ("44?0*": `?` is any one character) patterns, and the system white
// list whose numbers the dynamic blacklist never touches. Patterns are kept
// as the operator wrote them and matched in canonical form (number_form.h):
// "+1-900*" matches the canonical "19005551234". A NumberListSet is
// compiled once per provisioning snapshot off the worker and then only read:
// immutable, thread-safe. Lookups cost one hash probe per number length
// (exact and prefix patterns) plus a walk of the wildcard trie, and allocate
// nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "admission/number_form.h"
#include "admission/provisioning.h"

namespace tollgate::admission {

// Bounds of list contents (operator input, but a list can be large: a
// national premium-rate range is a handful of prefixes, a fraud feed can be
// a million numbers).
inline constexpr size_t kMaxPatternLength = 64;
inline constexpr size_t kMaxPatternsPerList = 1'000'000;
inline constexpr size_t kMaxNumberLists = 10'000;
inline constexpr size_t kMaxListDescription = 256;

struct NumberList {
  std::string name;
  ListKind kind = ListKind::Black;
  std::string description;
  std::vector<std::string> patterns;
};

// "" when `pattern` is acceptable, else why not. Patterns are 1-64 visible
// ASCII characters; `?` matches any one character; a `*` at the end matches
// any rest (a prefix); anything else (a `*` or `#` elsewhere included: they
// are dial characters) matches itself.
std::string patternProblem(std::string_view pattern);
// Number list names follow gateway names: 1-64 of A-Z a-z 0-9 . _ -
bool validListName(std::string_view name);

// Transparent string hashing, so lookups take string_views without
// building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};
using StringSet = std::unordered_set<std::string, StringHash, StringEq>;

// One list, compiled. Patterns are matched as given (already canonical);
// with `numbers`, each is first put in canonical form (normalizePattern).
class NumberMatcher {
 public:
  explicit NumberMatcher(const std::vector<std::string>& patterns,
                         const NumberSettings* numbers = nullptr);
  bool matches(std::string_view number) const;
  size_t size() const { return size_; }

 private:
  // Wildcard patterns (those with `?`) in a trie: children by character,
  // plus the `?` child. Bounded by the patterns' total length.
  struct Node {
    std::vector<std::pair<char, uint32_t>> children;  // sorted by character
    uint32_t any = 0;                                 // `?` child; 0 = none
    bool exactEnd = false;                            // a pattern ends here
    bool prefixEnd = false;                           // a pattern ends here with `*`
  };
  bool walk(uint32_t node, std::string_view rest) const;

  StringSet exact_;
  StringSet prefixes_;
  size_t minPrefix_ = SIZE_MAX;  // shortest prefix length, to skip hopeless probes
  size_t maxPrefix_ = 0;
  std::vector<Node> trie_;  // node 0 is the root; empty when there are no wildcards
  size_t size_ = 0;
};

// Every list of a snapshot by name, and the system white list, with the
// patterns in the canonical form of `numbers`.
class NumberListSet {
 public:
  // Patterns that cannot mean what they say in the configured form
  // (patternFormProblem) are reported, at most this many per set: a fraud
  // feed of a million bad patterns must not become a million log lines.
  static constexpr size_t kMaxReportedProblems = 16;

  NumberListSet() = default;
  explicit NumberListSet(const std::vector<NumberList>& lists, const NumberSettings& numbers = {});

  struct Entry {
    ListKind kind = ListKind::Black;
    NumberMatcher matcher;
  };
  const Entry* find(std::string_view name) const;
  bool systemWhite(std::string_view number) const;
  size_t size() const { return lists_.size(); }
  // "number list NAME: ..." for logs; see kMaxReportedProblems.
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::unordered_map<std::string, std::unique_ptr<Entry>, StringHash, StringEq> lists_;
  std::vector<const Entry*> systemWhite_;
  std::vector<std::string> problems_;
};

// The lists attached to one owner (gateway or account), resolved.
struct ListBinding {
  std::vector<const NumberMatcher*> callerBlack, callerWhite, calleeBlack, calleeWhite;
  bool empty() const {
    return callerBlack.empty() && callerWhite.empty() && calleeBlack.empty() && calleeWhite.empty();
  }
};

// Resolves refs against the set; names that are missing (a store edited by
// hand) or of the wrong kind are reported through `missing` and ignored.
ListBinding bindLists(const NumberListSet& set, const NumberListRefs& refs,
                      std::vector<std::string>* missing);

enum class ListVerdict : uint8_t { Pass, CallerBlocked, CalleeBlocked };
// A side is blocked when one of its black lists matches, or when it has
// white lists and none matches. The caller is judged first.
ListVerdict checkLists(const ListBinding& b, std::string_view caller, std::string_view callee);

}  // namespace tollgate::admission
