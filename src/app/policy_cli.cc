// `tollgate list ...` and `tollgate blacklist ...`. See policy_cli.h.
#include "app/policy_cli.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "admission/dynamic_blacklist.h"
#include "admission/number_form.h"
#include "admission/number_lists.h"
#include "app/cli_link.h"
#include "store/cdr_format.h"
#include "store/policy_store.h"
#include "store/store.h"
#include "store/store_factory.h"

namespace tollgate::app {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kExitRuntime = 1;
constexpr int kExitBadConfig = 2;
// Longest line read from a list file (a pattern is at most 64 characters;
// anything much longer is not a list file).
constexpr size_t kMaxListFileLine = 4096;

std::unique_ptr<store::PolicyStore> policyStoreOrNull(const Config& c) {
  auto s = store::openPolicyStore(c.store.target());
  if (!s.ok()) {
    std::fprintf(stderr, "store %s: %s\n", c.store.path.c_str(), s.error().message.c_str());
    return nullptr;
  }
  return std::move(s).value();
}

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Every pattern checked before anything is written: one bad line changes nothing.
bool checkPatterns(const std::vector<std::string>& patterns, const std::string& where) {
  for (size_t i = 0; i < patterns.size(); ++i) {
    std::string problem = admission::patternProblem(patterns[i]);
    if (!problem.empty()) {
      std::fprintf(stderr, "%s%s: \"%s\": %s\n", where.c_str(),
                   where.empty() ? "pattern" : (":" + std::to_string(i + 1)).c_str(),
                   patterns[i].c_str(), problem.c_str());
      return false;
    }
  }
  return true;
}

// A refused change through the API: printed, then the exit code the store
// path gives a refused change (1; the input itself was checked here first).
int refused(const mgmt::ApiReply& r, const char* suffix = "") {
  printApiError(r);
  if (*suffix) std::fprintf(stderr, "%s\n", suffix);
  return kExitRuntime;
}

bool ok(const mgmt::ApiReply& r) {
  return r.status >= 200 && r.status < 300;
}

}  // namespace

struct PolicyCommands::Impl {
  std::string configPath;
  std::string token;
  bool json = false;
  std::string name;
  std::string kind = "black";
  std::string description;
  std::vector<std::string> patterns;
  std::string file;
  bool replace = false;
  std::string number;
  std::string side;
  int64_t expire = 3600;
  bool countOnly = false;
  bool cut = false;

  CLI::App* listShow = nullptr;
  CLI::App* listCreate = nullptr;
  CLI::App* listDelete = nullptr;
  CLI::App* listAdd = nullptr;
  CLI::App* listRemove = nullptr;
  CLI::App* listImport = nullptr;
  CLI::App* listTest = nullptr;
  CLI::App* blShow = nullptr;
  CLI::App* blAdd = nullptr;
  CLI::App* blRemove = nullptr;
  CLI::App* blClear = nullptr;

  int cmdListShow();
  int cmdListCreate();
  int cmdListDelete();
  int cmdListEdit(bool add);
  int cmdListImport();
  int cmdListTest();
  int cmdBlacklistShow();
  int cmdBlacklistAdd();
  int cmdBlacklistRemove();
  int cmdBlacklistClear();
};

PolicyCommands::PolicyCommands(CLI::App& app) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  auto addConfig = [&](CLI::App* sub) { addConfigOption(sub, m.configPath); };
  // The changing commands go through the node's API when it runs.
  auto addToken = [&](CLI::App* sub) {
    sub->add_option("--token", m.token,
                    "API token when the node runs (default: $TOLLGATE_API_TOKEN, else the "
                    "node's token file)");
  };

  auto* list = app.add_subcommand("list", "number lists (black/white list groups)");
  list->require_subcommand(1);
  m.listShow = list->add_subcommand("show", "every list, or the patterns of one");
  m.listShow->alias("list");
  addConfig(m.listShow);
  m.listShow->add_option("name", m.name, "a list's name");
  m.listShow->add_flag("--json", m.json, "print JSON");
  m.listCreate = list->add_subcommand("create", "create an empty list");
  addConfig(m.listCreate);
  addToken(m.listCreate);
  m.listCreate->add_option("name", m.name, "1-64 of A-Z a-z 0-9 . _ -")->required();
  m.listCreate->add_option("--kind", m.kind, "black | white | system_white (default black)");
  m.listCreate->add_option("--description", m.description, "free text");
  m.listDelete = list->add_subcommand("delete", "delete a list no gateway or account uses");
  addConfig(m.listDelete);
  addToken(m.listDelete);
  m.listDelete->add_option("name", m.name, "the list")->required();
  m.listAdd = list->add_subcommand("add", "add patterns to a list");
  addConfig(m.listAdd);
  addToken(m.listAdd);
  m.listAdd->add_option("name", m.name, "the list")->required();
  m.listAdd->add_option("patterns", m.patterns, "exact number, prefix* or wildcard (? = one char)")
      ->required();
  m.listRemove = list->add_subcommand("remove", "remove patterns from a list");
  addConfig(m.listRemove);
  addToken(m.listRemove);
  m.listRemove->add_option("name", m.name, "the list")->required();
  m.listRemove->add_option("patterns", m.patterns, "patterns as added")->required();
  m.listImport = list->add_subcommand("import", "add the patterns of a file (one per line)");
  addConfig(m.listImport);
  addToken(m.listImport);
  m.listImport->add_option("name", m.name, "the list")->required();
  m.listImport
      ->add_option("file", m.file, "one pattern per line; blank lines and # comments skipped")
      ->required();
  m.listImport->add_flag("--replace", m.replace, "the file replaces the list's patterns");
  m.listTest = list->add_subcommand("test", "does a number match a list?");
  addConfig(m.listTest);
  m.listTest->add_option("name", m.name, "the list")->required();
  m.listTest->add_option("number", m.number, "the number")->required();

  auto* bl = app.add_subcommand("blacklist", "the dynamic blacklist");
  bl->require_subcommand(1);
  m.blShow = bl->add_subcommand("show", "entries in force, soonest to expire last");
  m.blShow->alias("list");
  addConfig(m.blShow);
  m.blShow->add_flag("--json", m.json, "print JSON");
  m.blAdd = bl->add_subcommand("add", "list a number by hand");
  addConfig(m.blAdd);
  addToken(m.blAdd);
  m.blAdd->add_option("number", m.number, "the number")->required();
  m.blAdd->add_option("--side", m.side, "caller | callee")->required();
  m.blAdd->add_option("--expire", m.expire, "seconds (default 3600)")
      ->check(CLI::Range(int64_t{1}, int64_t{30} * 86400));
  m.blAdd->add_flag("--count-only", m.countOnly, "count calls, do not refuse them");
  m.blAdd->add_flag("--cut", m.cut, "also end the number's live calls");
  m.blRemove = bl->add_subcommand("remove", "take a number off the list");
  addConfig(m.blRemove);
  addToken(m.blRemove);
  m.blRemove->add_option("number", m.number, "the number")->required();
  m.blRemove->add_option("--side", m.side, "caller | callee (default both)");
  m.blClear = bl->add_subcommand("clear", "remove every entry");
  addConfig(m.blClear);
  addToken(m.blClear);
}

PolicyCommands::~PolicyCommands() = default;

std::optional<int> PolicyCommands::run() {
  Impl& m = *impl_;
  if (m.listShow->parsed()) return m.cmdListShow();
  if (m.listCreate->parsed()) return m.cmdListCreate();
  if (m.listDelete->parsed()) return m.cmdListDelete();
  if (m.listAdd->parsed()) return m.cmdListEdit(true);
  if (m.listRemove->parsed()) return m.cmdListEdit(false);
  if (m.listImport->parsed()) return m.cmdListImport();
  if (m.listTest->parsed()) return m.cmdListTest();
  if (m.blShow->parsed()) return m.cmdBlacklistShow();
  if (m.blAdd->parsed()) return m.cmdBlacklistAdd();
  if (m.blRemove->parsed()) return m.cmdBlacklistRemove();
  if (m.blClear->parsed()) return m.cmdBlacklistClear();
  return std::nullopt;
}

int PolicyCommands::Impl::cmdListShow() {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  auto st = policyStoreOrNull(*config);
  if (!st) return kExitRuntime;
  if (!name.empty()) {
    auto l = st->numberList(name);
    if (!l.ok()) {
      std::fprintf(stderr, "%s\n", l.error().message.c_str());
      return kExitRuntime;
    }
    if (json) {
      std::string out = "{\"name\":";
      store::appendJsonString(out, l->name);
      out += ",\"kind\":";
      store::appendJsonString(out, admission::listKindName(l->kind));
      out += ",\"description\":";
      store::appendJsonString(out, l->description);
      out += ",\"patterns\":[";
      for (size_t i = 0; i < l->patterns.size(); ++i) {
        if (i) out += ',';
        store::appendJsonString(out, l->patterns[i]);
      }
      out += "]}\n";
      std::fputs(out.c_str(), stdout);
      return 0;
    }
    std::printf("# %s (%s list, %zu patterns)%s%s\n", l->name.c_str(),
                std::string(admission::listKindName(l->kind)).c_str(), l->patterns.size(),
                l->description.empty() ? "" : ": ", l->description.c_str());
    for (const auto& p : l->patterns) std::printf("%s\n", p.c_str());
    return 0;
  }
  auto lists = st->numberLists();
  if (!lists.ok()) {
    std::fprintf(stderr, "store: %s\n", lists.error().message.c_str());
    return kExitRuntime;
  }
  if (json) {
    std::string out = "[";
    for (size_t i = 0; i < lists->size(); ++i) {
      const auto& l = (*lists)[i];
      out += i ? ",\n" : "\n";
      out += "{\"name\":";
      store::appendJsonString(out, l.name);
      out += ",\"kind\":";
      store::appendJsonString(out, admission::listKindName(l.kind));
      out += ",\"patterns\":" + std::to_string(l.entries);
      out += ",\"description\":";
      store::appendJsonString(out, l.description);
      out += ",\"updated\":";
      store::appendJsonString(out, store::formatUtcMicros(l.updatedUs));
      out += "}";
    }
    out += "]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("%-32s %-13s %9s  %s\n", "NAME", "KIND", "PATTERNS", "DESCRIPTION");
  for (const auto& l : *lists) {
    std::printf("%-32s %-13s %9zu  %s\n", l.name.c_str(),
                std::string(admission::listKindName(l.kind)).c_str(), l.entries,
                l.description.c_str());
  }
  return 0;
}

int PolicyCommands::Impl::cmdListCreate() {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  admission::ListKind k;
  if (!admission::validListName(name)) {
    std::fprintf(stderr, "list name \"%s\": must be 1-64 characters of A-Z a-z 0-9 . _ -\n",
                 name.c_str());
    return kExitBadConfig;
  }
  if (!admission::parseListKind(kind, &k)) {
    std::fprintf(stderr, "--kind: must be black, white or system_white (got \"%s\")\n",
                 kind.c_str());
    return kExitBadConfig;
  }
  if (description.size() > admission::kMaxListDescription ||
      description.find_first_of("\r\n") != std::string::npos) {
    std::fprintf(stderr, "--description: one line of at most %zu bytes\n",
                 admission::kMaxListDescription);
    return kExitBadConfig;
  }
  int rc = 0;
  auto link = NodeLink::forChange(*config, token, &rc);
  if (!link) return rc;
  if (link->viaApi()) {
    Json body{{"name", name}, {"kind", kind}};
    if (!description.empty()) body["description"] = description;
    const mgmt::ApiReply r = link->request("POST", "/api/v1/number-lists", body.dump());
    if (!ok(r)) return refused(r);
    std::printf("created %s list %s\n", kind.c_str(), name.c_str());
    return 0;
  }
  auto st = policyStoreOrNull(*config);
  if (!st) return kExitRuntime;
  if (auto r = st->createNumberList(name, k, description); !r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return kExitRuntime;
  }
  std::printf("created %s list %s\n", kind.c_str(), name.c_str());
  return 0;
}

int PolicyCommands::Impl::cmdListDelete() {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  int rc = 0;
  auto link = NodeLink::forChange(*config, token, &rc);
  if (!link) return rc;
  if (link->viaApi()) {
    const mgmt::ApiReply r = link->request("DELETE", "/api/v1/number-lists/" + urlEncode(name));
    if (!ok(r)) return refused(r);
    std::printf("deleted list %s\n", name.c_str());
    return 0;
  }
  auto st = policyStoreOrNull(*config);
  if (!st) return kExitRuntime;
  if (auto r = st->deleteNumberList(name); !r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return kExitRuntime;
  }
  std::printf("deleted list %s\n", name.c_str());
  return 0;
}

int PolicyCommands::Impl::cmdListEdit(bool add) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  if (add && !checkPatterns(patterns, "")) return kExitBadConfig;
  int rc = 0;
  auto link = NodeLink::forChange(*config, token, &rc);
  if (!link) return rc;
  if (link->viaApi()) {
    const std::string body = Json{{add ? "add" : "remove", patterns}}.dump();
    if (!fitsOneRequest(body)) return kExitBadConfig;
    const mgmt::ApiReply r =
        link->request("PATCH", "/api/v1/number-lists/" + urlEncode(name), body);
    if (!ok(r)) return refused(r, "(nothing changed)");
    const Json j = Json::parse(r.body, nullptr, false);
    std::printf("%s %zu pattern(s) %s %s\n", add ? "added" : "removed",
                j.value(add ? "added" : "removed", size_t{0}), add ? "to" : "from", name.c_str());
    return 0;
  }
  auto st = policyStoreOrNull(*config);
  if (!st) return kExitRuntime;
  auto r = add ? st->addNumbers(name, patterns) : st->removeNumbers(name, patterns);
  if (!r.ok()) {
    std::fprintf(stderr, "%s (nothing changed)\n", r.error().message.c_str());
    return kExitRuntime;
  }
  std::printf("%s %zu pattern(s) %s %s\n", add ? "added" : "removed", *r, add ? "to" : "from",
              name.c_str());
  return 0;
}

int PolicyCommands::Impl::cmdListImport() {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  std::ifstream in(file);
  if (!in) {
    std::fprintf(stderr, "%s: cannot read\n", file.c_str());
    return kExitBadConfig;
  }
  std::vector<std::string> pats;
  std::string line;
  size_t lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    if (line.size() > kMaxListFileLine) {
      std::fprintf(stderr, "%s:%zu: line too long\n", file.c_str(), lineNo);
      return kExitBadConfig;
    }
    // Trim blanks (and a CR from Windows line ends); skip comments.
    size_t a = line.find_first_not_of(" \t\r");
    size_t b = line.find_last_not_of(" \t\r");
    std::string p = a == std::string::npos ? "" : line.substr(a, b - a + 1);
    if (p.empty() || p[0] == '#') continue;
    std::string problem = admission::patternProblem(p);
    if (!problem.empty()) {
      std::fprintf(stderr, "%s:%zu: \"%s\": %s (nothing changed)\n", file.c_str(), lineNo,
                   p.c_str(), problem.c_str());
      return kExitBadConfig;
    }
    pats.push_back(std::move(p));
    if (pats.size() > admission::kMaxPatternsPerList) {
      std::fprintf(stderr, "%s:%zu: more than %zu patterns (nothing changed)\n", file.c_str(),
                   lineNo, admission::kMaxPatternsPerList);
      return kExitBadConfig;
    }
  }
  int rc = 0;
  auto link = NodeLink::forChange(*config, token, &rc);
  if (!link) return rc;
  if (link->viaApi()) {
    // One request, so the file applies whole or not at all, as in the store.
    const std::string body = Json{{replace ? "numbers" : "add", pats}}.dump();
    if (!fitsOneRequest(body)) return kExitBadConfig;
    const std::string path = "/api/v1/number-lists/" + urlEncode(name);
    const mgmt::ApiReply r = replace ? link->request("PUT", path + "/numbers", body)
                                     : link->request("PATCH", path, body);
    if (!ok(r)) return refused(r, "(nothing changed)");
    const Json j = Json::parse(r.body, nullptr, false);
    if (replace) {
      std::printf("list %s now holds %zu pattern(s) from %s\n", name.c_str(),
                  j.value("numbers", Json::array()).size(), file.c_str());
    } else {
      std::printf("added %zu new pattern(s) of %zu to %s\n", j.value("added", size_t{0}),
                  pats.size(), name.c_str());
    }
    return 0;
  }
  auto st = policyStoreOrNull(*config);
  if (!st) return kExitRuntime;
  auto r = replace ? st->replaceNumbers(name, pats) : st->addNumbers(name, pats);
  if (!r.ok()) {
    std::fprintf(stderr, "%s (nothing changed)\n", r.error().message.c_str());
    return kExitRuntime;
  }
  if (replace) {
    std::printf("list %s now holds %zu pattern(s) from %s\n", name.c_str(), *r, file.c_str());
  } else {
    std::printf("added %zu new pattern(s) of %zu to %s\n", *r, pats.size(), name.c_str());
  }
  return 0;
}

int PolicyCommands::Impl::cmdListTest() {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  auto st = policyStoreOrNull(*config);
  if (!st) return kExitRuntime;
  auto l = st->numberList(name);
  if (!l.ok()) {
    std::fprintf(stderr, "%s\n", l.error().message.c_str());
    return kExitRuntime;
  }
  // As the node judges a call: the number and the patterns in canonical form.
  admission::NumberMatcher m(l->patterns, &config->numbers);
  const admission::NormalizedNumber n = admission::normalizeNumber(number, config->numbers);
  const bool hit = m.matches(n.canonical);
  std::string shown = number;
  if (n.canonical != number) shown += " (" + n.canonical + ")";
  if (!n.dialable) shown += " (not dialable)";
  std::printf("%s %s %s\n", shown.c_str(), hit ? "matches" : "does not match", name.c_str());
  return hit ? 0 : kExitRuntime;
}

int PolicyCommands::Impl::cmdBlacklistShow() {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  auto st = policyStoreOrNull(*config);
  if (!st) return kExitRuntime;
  auto entries = st->loadBlacklist(nowUs());
  if (!entries.ok()) {
    std::fprintf(stderr, "store: %s\n", entries.error().message.c_str());
    return kExitRuntime;
  }
  std::sort(entries->begin(), entries->end(),
            [](const auto& a, const auto& b) { return a.expiresUs > b.expiresUs; });
  if (json) {
    std::string out = "[";
    for (size_t i = 0; i < entries->size(); ++i) {
      const auto& e = (*entries)[i];
      out += i ? ",\n" : "\n";
      out += "{\"number\":";
      store::appendJsonString(out, e.number);
      out += ",\"side\":";
      store::appendJsonString(out, admission::sideName(e.side));
      out += ",\"rule\":";
      store::appendJsonString(out, admission::ruleName(e.rule));
      out += ",\"mode\":";
      store::appendJsonString(out, e.enforced ? "enforce" : "count-only");
      out += ",\"gateway\":";
      store::appendJsonString(out, e.gateway);
      out += ",\"created\":";
      store::appendJsonString(out, store::formatUtcMicros(e.createdUs));
      out += ",\"last_hit\":";
      store::appendJsonString(out, store::formatUtcMicros(e.lastHitUs));
      out += ",\"expires\":";
      store::appendJsonString(out, store::formatUtcMicros(e.expiresUs));
      out += ",\"hits\":" + std::to_string(e.hits) + "}";
    }
    out += "]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("%-24s %-6s %-17s %-10s %-20s %8s  %s\n", "NUMBER", "SIDE", "RULE", "MODE",
              "EXPIRES (UTC)", "HITS", "GATEWAY");
  for (const auto& e : *entries) {
    std::string expires = store::formatUtcMicros(e.expiresUs).substr(0, 19);
    expires[10] = ' ';
    std::printf("%-24s %-6s %-17s %-10s %-20s %8llu  %s\n", e.number.c_str(),
                std::string(admission::sideName(e.side)).c_str(),
                std::string(admission::ruleName(e.rule)).c_str(),
                e.enforced ? "enforce" : "count-only", expires.c_str(),
                static_cast<unsigned long long>(e.hits),
                e.gateway.empty() ? "-" : e.gateway.c_str());
  }
  return 0;
}

int PolicyCommands::Impl::cmdBlacklistAdd() {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  admission::BlacklistEntry e;
  if (!admission::parseSide(side, &e.side)) {
    std::fprintf(stderr, "--side: must be caller or callee (got \"%s\")\n", side.c_str());
    return kExitBadConfig;
  }
  if (std::string p = admission::patternProblem(number);
      !p.empty() || number.back() == '*' || number.find('?') != std::string::npos) {
    std::fprintf(stderr, "number \"%s\": %s\n", number.c_str(),
                 p.empty() ? "the dynamic blacklist holds numbers, not patterns (use a number list)"
                           : p.c_str());
    return kExitBadConfig;
  }
  int rc = 0;
  auto link = NodeLink::forChange(*config, token, &rc);
  if (!link) return rc;
  if (link->viaApi()) {
    // The node puts the number in canonical form with its [numbers].
    const Json body{{"number", number},
                    {"side", side},
                    {"expires_in", expire},
                    {"mode", countOnly ? "count-only" : "enforce"},
                    {"cut_calls", cut}};
    const mgmt::ApiReply r = link->request("POST", "/api/v1/blacklist", body.dump());
    if (!ok(r)) return refused(r);
    const Json j = Json::parse(r.body, nullptr, false);
    std::printf("listed %s as %s for %llds%s%s\n", j.value("number", number).c_str(), side.c_str(),
                static_cast<long long>(expire), countOnly ? " (count-only)" : "",
                cut ? ", live calls cut" : "");
    return 0;
  }
  auto st = policyStoreOrNull(*config);
  if (!st) return kExitRuntime;
  // The blacklist holds numbers as calls present them: in canonical form.
  e.number = admission::normalizeNumber(number, config->numbers).canonical;
  e.rule = admission::BlacklistRule::Manual;
  e.enforced = !countOnly;
  e.createdUs = e.lastHitUs = nowUs();
  e.expiresUs = e.createdUs + expire * 1'000'000;
  if (auto r = st->addBlacklistEntry(e, cut); !r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return kExitRuntime;
  }
  std::printf("listed %s as %s for %llds%s%s\n", e.number.c_str(), side.c_str(),
              static_cast<long long>(expire), countOnly ? " (count-only)" : "",
              cut ? ", live calls cut" : "");
  return 0;
}

int PolicyCommands::Impl::cmdBlacklistRemove() {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  std::optional<admission::NumberSide> s;
  if (!side.empty()) {
    admission::NumberSide v;
    if (!admission::parseSide(side, &v)) {
      std::fprintf(stderr, "--side: must be caller or callee (got \"%s\")\n", side.c_str());
      return kExitBadConfig;
    }
    s = v;
  }
  const std::string canonical = admission::normalizeNumber(number, config->numbers).canonical;
  int rc = 0;
  auto link = NodeLink::forChange(*config, token, &rc);
  if (!link) return rc;
  if (link->viaApi()) {
    const mgmt::ApiReply r = link->request(
        "DELETE", "/api/v1/blacklist/" + urlEncode(canonical) + query({{"side", side}}));
    size_t removed = 0;
    if (ok(r)) {
      removed = Json::parse(r.body, nullptr, false).value("removed", size_t{0});
    } else if (r.status != 404 ||
               Json::parse(r.body, nullptr, false).value("error", "") != "not_found") {
      // Not listed is an answer (0 removed), as in the store; the rest fails.
      return refused(r);
    }
    std::printf("removed %zu entr%s for %s\n", removed, removed == 1 ? "y" : "ies",
                canonical.c_str());
    return 0;
  }
  auto st = policyStoreOrNull(*config);
  if (!st) return kExitRuntime;
  auto r = st->removeBlacklistEntries(canonical, s);
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return kExitRuntime;
  }
  std::printf("removed %zu entr%s for %s\n", *r, *r == 1 ? "y" : "ies", canonical.c_str());
  return 0;
}

int PolicyCommands::Impl::cmdBlacklistClear() {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  int rc = 0;
  auto link = NodeLink::forChange(*config, token, &rc);
  if (!link) return rc;
  if (link->viaApi()) {
    const mgmt::ApiReply r = link->request("DELETE", "/api/v1/blacklist");
    if (!ok(r)) return refused(r);
    const size_t n = Json::parse(r.body, nullptr, false).value("removed", size_t{0});
    std::printf("removed %zu entr%s\n", n, n == 1 ? "y" : "ies");
    return 0;
  }
  auto st = policyStoreOrNull(*config);
  if (!st) return kExitRuntime;
  auto r = st->clearBlacklist();
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return kExitRuntime;
  }
  std::printf("removed %zu entr%s\n", *r, *r == 1 ? "y" : "ies");
  return 0;
}

std::optional<admission::KnownNames> knownNamesForImport(const Config& config, bool prune) {
  auto ps = policyStoreOrNull(config);
  if (!ps) return std::nullopt;
  auto lists = ps->numberLists();
  if (!lists.ok()) {
    std::fprintf(stderr, "store: %s\n", lists.error().message.c_str());
    return std::nullopt;
  }
  admission::KnownNames known;
  for (const auto& l : *lists) known.numberLists.emplace(l.name, l.kind);
  if (!prune) {
    auto st = store::openStore(config.store.target());
    if (!st.ok()) {
      std::fprintf(stderr, "store %s: %s\n", config.store.path.c_str(), st.error().message.c_str());
      return std::nullopt;
    }
    auto prov = (*st)->loadProvisioning();
    if (!prov.ok()) {
      std::fprintf(stderr, "store: %s\n", prov.error().message.c_str());
      return std::nullopt;
    }
    for (const auto& a : prov->accounts) known.accounts.push_back(a.name);
  }
  return known;
}

}  // namespace tollgate::app
