// Number list patterns and matching. See number_lists.h.
#include "admission/number_lists.h"

#include <algorithm>

namespace tollgate::admission {

std::string patternProblem(std::string_view pattern) {
  if (pattern.empty()) return "a pattern must not be empty";
  if (pattern.size() > kMaxPatternLength) {
    return "a pattern is at most " + std::to_string(kMaxPatternLength) + " characters";
  }
  for (char c : pattern) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return "patterns are visible ASCII characters (no spaces)";
  }
  return "";
}

bool validListName(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

NumberMatcher::NumberMatcher(const std::vector<std::string>& patterns,
                             const NumberSettings* numbers) {
  std::string canonical;
  for (const std::string& written : patterns) {
    if (!patternProblem(written).empty()) continue;  // validated on the way in; never match junk
    // Normalising never lengthens a pattern, so it stays within bounds.
    if (numbers != nullptr) canonical = normalizePattern(written, *numbers);
    const std::string& p = numbers != nullptr ? canonical : written;
    const bool prefix = p.back() == '*';
    std::string_view body(p.data(), prefix ? p.size() - 1 : p.size());
    ++size_;
    if (body.find('?') == std::string_view::npos) {
      if (prefix) {
        prefixes_.emplace(body);
        minPrefix_ = std::min(minPrefix_, body.size());
        maxPrefix_ = std::max(maxPrefix_, body.size());
      } else {
        exact_.emplace(body);
      }
      continue;
    }
    if (trie_.empty()) trie_.emplace_back();
    uint32_t node = 0;
    for (char c : body) {
      uint32_t next = 0;
      if (c == '?') {
        next = trie_[node].any;
        if (next == 0) {
          next = static_cast<uint32_t>(trie_.size());
          trie_.emplace_back();
          trie_[node].any = next;
        }
      } else {
        auto& ch = trie_[node].children;
        auto it = std::lower_bound(ch.begin(), ch.end(), c,
                                   [](const auto& e, char k) { return e.first < k; });
        if (it != ch.end() && it->first == c) {
          next = it->second;
        } else {
          next = static_cast<uint32_t>(trie_.size());
          ch.insert(it, {c, next});
          trie_.emplace_back();
        }
      }
      node = next;
    }
    if (prefix) {
      trie_[node].prefixEnd = true;
    } else {
      trie_[node].exactEnd = true;
    }
  }
}

bool NumberMatcher::walk(uint32_t node, std::string_view rest) const {
  // Depth is bounded by kMaxPatternLength (the trie is no deeper), and each
  // level branches at most in two (the character, or `?`).
  for (;;) {
    const Node& n = trie_[node];
    if (n.prefixEnd) return true;
    if (rest.empty()) return n.exactEnd;
    const char c = rest.front();
    rest.remove_prefix(1);
    auto it = std::lower_bound(n.children.begin(), n.children.end(), c,
                               [](const auto& e, char k) { return e.first < k; });
    const bool hasChar = it != n.children.end() && it->first == c;
    if (hasChar && n.any != 0) {
      if (walk(it->second, rest)) return true;
      node = n.any;
    } else if (hasChar) {
      node = it->second;
    } else if (n.any != 0) {
      node = n.any;
    } else {
      return false;
    }
  }
}

bool NumberMatcher::matches(std::string_view number) const {
  if (!exact_.empty() && exact_.find(number) != exact_.end()) return true;
  if (!prefixes_.empty() && number.size() >= minPrefix_) {
    const size_t longest = std::min(maxPrefix_, number.size());
    for (size_t len = minPrefix_; len <= longest; ++len) {
      if (prefixes_.find(number.substr(0, len)) != prefixes_.end()) return true;
    }
  }
  return !trie_.empty() && walk(0, number);
}

NumberListSet::NumberListSet(const std::vector<NumberList>& lists, const NumberSettings& numbers) {
  for (const NumberList& l : lists) {
    for (const std::string& p : l.patterns) {
      if (problems_.size() >= kMaxReportedProblems) break;
      std::string problem = patternFormProblem(p, numbers);
      if (!problem.empty()) problems_.push_back("number list " + l.name + ": " + problem);
    }
    auto e = std::make_unique<Entry>(Entry{l.kind, NumberMatcher(l.patterns, &numbers)});
    if (l.kind == ListKind::SystemWhite) systemWhite_.push_back(e.get());
    lists_[l.name] = std::move(e);
  }
}

const NumberListSet::Entry* NumberListSet::find(std::string_view name) const {
  auto it = lists_.find(name);
  return it == lists_.end() ? nullptr : it->second.get();
}

bool NumberListSet::systemWhite(std::string_view number) const {
  for (const Entry* e : systemWhite_) {
    if (e->matcher.matches(number)) return true;
  }
  return false;
}

ListBinding bindLists(const NumberListSet& set, const NumberListRefs& refs,
                      std::vector<std::string>* missing) {
  ListBinding b;
  auto bind = [&](const std::vector<std::string>& names, std::vector<const NumberMatcher*>& black,
                  std::vector<const NumberMatcher*>& white) {
    for (const std::string& name : names) {
      const NumberListSet::Entry* e = set.find(name);
      if (e == nullptr || e->kind == ListKind::SystemWhite) {
        if (missing) missing->push_back(name);
        continue;
      }
      (e->kind == ListKind::Black ? black : white).push_back(&e->matcher);
    }
  };
  bind(refs.caller, b.callerBlack, b.callerWhite);
  bind(refs.callee, b.calleeBlack, b.calleeWhite);
  return b;
}

namespace {
bool blocked(const std::vector<const NumberMatcher*>& black,
             const std::vector<const NumberMatcher*>& white, std::string_view number) {
  for (const NumberMatcher* m : black) {
    if (m->matches(number)) return true;
  }
  if (white.empty()) return false;
  for (const NumberMatcher* m : white) {
    if (m->matches(number)) return false;
  }
  return true;
}
}  // namespace

ListVerdict checkLists(const ListBinding& b, std::string_view caller, std::string_view callee) {
  if (blocked(b.callerBlack, b.callerWhite, caller)) return ListVerdict::CallerBlocked;
  if (blocked(b.calleeBlack, b.calleeWhite, callee)) return ListVerdict::CalleeBlocked;
  return ListVerdict::Pass;
}

}  // namespace tollgate::admission
