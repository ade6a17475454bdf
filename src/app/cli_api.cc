// The API-speaking commands of the CLI (cli_api.h). Every command that
// changes a running node goes through the API, so the CLI, the API and a
// future web console share one path (validation, audit, live apply).
#include "app/cli_api.h"

#include <termios.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/cli_link.h"
#include "app/config.h"
#include "common/private_files.h"
#include "mgmt/api_client.h"
#include "mgmt/api_server.h"

namespace tollgate::app {

using Json = nlohmann::ordered_json;

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitBadConfig = 2;

std::atomic<bool> gInterrupted{false};

std::string readPassword(const std::string& prompt) {
  std::string line;
  if (isatty(STDIN_FILENO)) {
    std::fprintf(stderr, "%s", prompt.c_str());
    termios old{};
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    std::getline(std::cin, line);
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fprintf(stderr, "\n");
  } else {
    std::getline(std::cin, line);
  }
  return line;
}

}  // namespace

struct ApiCommands {
  // Shared options of every API command.
  std::string config;
  std::string token;
  bool json = false;

  // gateway add/update/remove
  CLI::App* gwAdd = nullptr;
  CLI::App* gwUpdate = nullptr;
  CLI::App* gwRemove = nullptr;
  std::string kind, name, auth, transport, addPrefix, address;
  std::vector<std::string> addresses, prefixes;
  int priority = -1, stripDigits = -1;
  bool enable = false, disable = false;

  CLI::App* callList = nullptr;
  CLI::App* callEnd = nullptr;
  CLI::App* calls = nullptr;     // `tollgate calls` (issue 5's name): list...
  CLI::App* callsEnd = nullptr;  // ... and `tollgate calls end ID`
  std::string callId;
  size_t limit = 100;

  CLI::App* stats = nullptr;
  CLI::App* clusterStatus = nullptr;

  CLI::App* trace = nullptr;
  std::string tGateway, tSource, tNumber, tCallId, tWrite, tFormat = "text";
  int64_t tCount = 0, tDuration = 0;

  CLI::App* userAdd = nullptr;
  CLI::App* userList = nullptr;
  CLI::App* userRemove = nullptr;
  CLI::App* userPasswd = nullptr;
  CLI::App* userSet = nullptr;
  std::string role;

  CLI::App* tokenCreate = nullptr;
  CLI::App* tokenList = nullptr;
  CLI::App* tokenRevoke = nullptr;
  std::string tokenName, tokenUser, tokenId;
  int64_t expiresIn = 0;

  CLI::App* lockList = nullptr;
  CLI::App* lockClear = nullptr;
  std::string scope, account, source;

  CLI::App* auditList = nullptr;
  std::string action;

  CLI::App* cdrExport = nullptr;
  std::string from, to, gateway, number, reason, output;

  CLI::App* openapi = nullptr;
};

void destroyApiCommands(ApiCommands* c) {
  delete c;
}

namespace {

void common(CLI::App* sub, ApiCommands& c, bool withJson = false) {
  addConfigOption(sub, c.config);
  sub->add_option("--token", c.token,
                  "API token (default: $TOLLGATE_API_TOKEN, else the node's token file)");
  if (withJson) sub->add_flag("--json", c.json, "print the JSON answer");
}

// Connects to the node named by the settings file; nullopt (and a message)
// when that is not possible.
std::optional<mgmt::ApiClient> client(const ApiCommands& c, int* rc) {
  auto config = configOrExit(c.config);
  if (!config) {
    *rc = kExitBadConfig;
    return std::nullopt;
  }
  if (config->api.listen.empty()) {
    std::fprintf(stderr, "%s: the management API is off (api.listen = [])\n", c.config.c_str());
    *rc = kExitBadConfig;
    return std::nullopt;
  }
  mgmt::ApiEndpoint ep = apiAddress(*config);
  auto token = apiToken(*config, c.token);
  if (!token) {
    *rc = kExitRuntime;
    return std::nullopt;
  }
  ep.token = std::move(*token);
  return mgmt::ApiClient(std::move(ep));
}

// Prints an error answer; returns the exit code for the reply.
int report(const mgmt::ApiReply& r) {
  if (r.status >= 200 && r.status < 300) return 0;
  printApiError(r);
  if (r.status == 0) return kExitRuntime;
  return r.status == 400 || r.status == 404 || r.status == 409 ? kExitBadConfig : kExitRuntime;
}

int call(const ApiCommands& c, const std::string& method, const std::string& path,
         const Json& body = nullptr, bool print = true) {
  int rc = 0;
  auto cl = client(c, &rc);
  if (!cl) return rc;
  auto r = cl->request(method, path, body.is_null() ? "" : body.dump());
  rc = report(r);
  if (rc == 0 && print && !r.body.empty()) {
    Json j = Json::parse(r.body, nullptr, false);
    std::printf("%s\n", j.is_discarded() ? r.body.c_str() : j.dump(2).c_str());
  }
  return rc;
}

std::string gatewayPath(const std::string& kind) {
  return kind == "mapping" ? "/api/v1/mapping-gateways" : "/api/v1/routing-gateways";
}

Json gatewayBody(const ApiCommands& c, bool create) {
  Json b = Json::object();
  if (create) b["name"] = c.name;
  if (c.kind == "mapping") {
    if (!c.auth.empty()) b["auth"] = c.auth;
    if (!c.addresses.empty()) b["addresses"] = c.addresses;
  } else {
    if (!c.address.empty()) b["address"] = c.address;
    if (!c.transport.empty()) b["transport"] = c.transport;
    if (!c.prefixes.empty()) b["prefixes"] = c.prefixes;
    if (c.priority >= 0) b["priority"] = c.priority;
    if (c.stripDigits >= 0) b["strip_digits"] = c.stripDigits;
    if (!c.addPrefix.empty()) b["add_prefix"] = c.addPrefix;
  }
  if (c.enable) b["enabled"] = true;
  if (c.disable) b["enabled"] = false;
  return b;
}

void gatewayOptions(CLI::App* s, ApiCommands& c, bool create) {
  s->add_option("kind", c.kind, "mapping (customer) or routing (carrier)")
      ->required()
      ->check(CLI::IsMember({"mapping", "routing"}));
  s->add_option("name", c.name, "gateway name")->required();
  s->add_option("--auth", c.auth, "mapping: ip or ip_port")->default_str(create ? "ip" : "");
  s->add_option("--addresses", c.addresses, "mapping: IPs/CIDRs or IP:port (repeat or list)")
      ->delimiter(',');
  s->add_option("--address", c.address, "routing: IP[:port] of the carrier");
  s->add_option("--transport", c.transport, "routing: udp or tcp");
  s->add_option("--prefixes", c.prefixes, "routing: called-number prefixes (\"\" = default)")
      ->delimiter(',');
  s->add_option("--priority", c.priority, "routing: lower is tried first");
  s->add_option("--strip-digits", c.stripDigits, "routing: digits removed from the number");
  s->add_option("--add-prefix", c.addPrefix, "routing: prepended after stripping");
  s->add_flag("--enable", c.enable, "enable the gateway");
  s->add_flag("--disable", c.disable, "disable the gateway (keep it, take no calls)");
  common(s, c);
}

void printCalls(const Json& j) {
  std::printf("%8s  %-10s  %-16s  %-16s  %-14s  %-14s  %-27s  %8s  %7s\n", "ID", "STATE", "CALLER",
              "CALLEE", "MAPPING", "ROUTING", "START (UTC)", "TALK (s)", "MAX (s)");
  for (const auto& c : j["calls"]) {
    const int64_t maxS = c.value("max_duration_s", int64_t{0});
    std::printf("%8lld  %-10s  %-16s  %-16s  %-14s  %-14s  %-27s  %8lld  %7s\n",
                static_cast<long long>(c["id"].get<int64_t>()),
                c["state"].get<std::string>().c_str(), c["caller"].get<std::string>().c_str(),
                c["callee"].get<std::string>().c_str(),
                c["mapping_gateway"].get<std::string>().c_str(),
                c["routing_gateway"].get<std::string>().c_str(),
                c["start"].is_string() ? c["start"].get<std::string>().c_str() : "-",
                static_cast<long long>(c.value("duration_ms", int64_t{0}) / 1000),
                maxS > 0 ? std::to_string(maxS).c_str() : "-");
  }
  std::printf("%lld call(s) in progress\n", static_cast<long long>(j.value("total", 0)));
}

// `tollgate cluster status`: the node's view of the cluster (docs/cluster.md).
// Returns the exit code: 1 while the Redis link is down.
int printCluster(const Json& j) {
  if (!j.value("enabled", false)) {
    std::printf("cluster: not configured (no [cluster] redis or sentinels): a single node\n");
    return 0;
  }
  const Json& r = j["redis"];
  const bool up = r.value("up", false);
  std::printf("node %s  shared %s  down_rule %s  heartbeat %lld ms  node_ttl %lld ms\n",
              j.value("node_id", "").c_str(), j.value("shared", false) ? "yes" : "no",
              j.value("down_rule", "").c_str(),
              static_cast<long long>(j.value("heartbeat_ms", int64_t{0})),
              static_cast<long long>(j.value("node_ttl_ms", int64_t{0})));
  if (j.value("node_id_conflict", false)) {
    std::printf(
        "NODE ID CONFLICT: another live node uses node_id %s (this node is not in the set)\n",
        j.value("node_id", "").c_str());
  }
  std::string via = r.value("via", "");
  if (r.contains("master_name") && r["master_name"].is_string()) {
    via += " (" + r["master_name"].get<std::string>() + ")";
  }
  std::printf("redis %s  %s  role %s  via %s  latency %.3f ms\n", up ? "up" : "DOWN",
              r["address"].is_string() ? r["address"].get<std::string>().c_str() : "-",
              r.value("role", "none").c_str(), via.c_str(), r.value("latency_ms", 0.0));
  std::printf(
      "      connects %lld  downs %lld  failovers %lld  commands %lld  timeouts %lld  errors "
      "%lld  refused %lld  pending %lld\n",
      static_cast<long long>(r.value("connects", int64_t{0})),
      static_cast<long long>(r.value("downs", int64_t{0})),
      static_cast<long long>(r.value("failovers", int64_t{0})),
      static_cast<long long>(r.value("commands", int64_t{0})),
      static_cast<long long>(r.value("timeouts", int64_t{0})),
      static_cast<long long>(r.value("errors", int64_t{0})),
      static_cast<long long>(r.value("refused", int64_t{0})),
      static_cast<long long>(r.value("pending", int64_t{0})));
  std::printf("%-24s  %-24s  %12s  %8s  %s\n", "NODE", "SIP", "SEEN AGO (ms)", "CALLS", "SELF");
  for (const auto& n : j["nodes"]) {
    std::printf(
        "%-24s  %-24s  %12s  %8lld  %s\n", n.value("id", "").c_str(), n.value("sip", "").c_str(),
        n["seen_ago_ms"].is_number() ? std::to_string(n["seen_ago_ms"].get<int64_t>()).c_str()
                                     : "-",
        static_cast<long long>(n.value("calls", int64_t{0})), n.value("self", false) ? "*" : "");
  }
  std::printf("%zu live node(s)\n", j["nodes"].size());
  return up ? 0 : 1;
}

// "section.key value" lines from the stats JSON, nested objects flattened,
// so new components' counters show up without CLI changes.
void printFlat(const Json& j, const std::string& prefix) {
  for (const auto& [k, v] : j.items()) {
    const std::string key = prefix.empty() ? k : prefix + "." + k;
    if (v.is_object()) {
      printFlat(v, key);
    } else {
      std::printf("%-60s %s\n", key.c_str(), v.dump().c_str());
    }
  }
}

int runTrace(const ApiCommands& c) {
  int rc = 0;
  auto cl = client(c, &rc);
  if (!cl) return rc;
  const bool pcap = !c.tWrite.empty();
  std::string path =
      "/api/v1/trace" + query({{"gateway", c.tGateway},
                               {"source", c.tSource},
                               {"number", c.tNumber},
                               {"call_id", c.tCallId},
                               {"format", pcap ? "pcap" : c.tFormat},
                               {"count", c.tCount > 0 ? std::to_string(c.tCount) : ""},
                               {"duration", c.tDuration > 0 ? std::to_string(c.tDuration) : ""}});
  std::FILE* out = stdout;
  if (pcap) {
    // SIP signalling with digest responses (an offline guess at a weak
    // password): owner-only, like every file tollgate writes secrets to.
    out = files::openPrivateForWriting(c.tWrite);
    if (!out) {
      std::fprintf(stderr, "%s: cannot write\n", c.tWrite.c_str());
      return kExitRuntime;
    }
  }
  // Ctrl-C (or SIGTERM) ends the stream cleanly: the stream runs on a
  // thread, and this one stops the client when the signal has come, even
  // while no data arrives. pcap bytes are written a whole record at a time,
  // so the file is never cut inside a record.
  std::signal(SIGINT, [](int) { gInterrupted = true; });
  std::signal(SIGTERM, [](int) { gInterrupted = true; });
  size_t bytes = 0;
  std::atomic<bool> done{false};
  mgmt::ApiReply r;
  std::string pending;
  size_t headerLeft = pcap ? 24 : 0;  // pcap file header, then records
  auto complete = [&]() -> size_t {   // bytes of `pending` that end on a record boundary
    if (!pcap) return pending.size();
    size_t at = 0;
    if (headerLeft > 0) {
      if (pending.size() < headerLeft) return 0;
      at = headerLeft;
    }
    while (pending.size() - at >= 16) {
      const auto* p = reinterpret_cast<const unsigned char*>(pending.data() + at + 8);
      const size_t incl = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<size_t>(p[3]) << 24);
      if (pending.size() - at - 16 < incl) break;
      at += 16 + incl;
    }
    return at;
  };
  std::thread reader([&] {
    r = cl->stream(path, [&](const char* data, size_t len) {
      pending.append(data, len);
      size_t n = complete();
      if (n > 0) {
        std::fwrite(pending.data(), 1, n, out);
        std::fflush(out);
        bytes += n;
        pending.erase(0, n);
        headerLeft = 0;
      }
      return !gInterrupted.load();
    });
    done = true;
  });
  while (!done.load()) {
    if (gInterrupted.load()) {
      cl->stop();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  reader.join();
  if (pcap) {
    std::fclose(out);
    std::fprintf(stderr, "wrote %zu bytes to %s\n", bytes, c.tWrite.c_str());
  }
  if (gInterrupted) return 0;
  return report(r);
}

int runCdrExport(const ApiCommands& c) {
  int rc = 0;
  auto cl = client(c, &rc);
  if (!cl) return rc;
  std::string path = "/api/v1/cdrs" + query({{"format", "csv"},
                                             {"from", c.from},
                                             {"to", c.to},
                                             {"gateway", c.gateway},
                                             {"number", c.number},
                                             {"reason", c.reason}});
  // Calling and called numbers of every call: owner-only when created.
  std::FILE* out =
      c.output.empty() || c.output == "-" ? stdout : files::openPrivateForWriting(c.output);
  if (!out) {
    std::fprintf(stderr, "%s: cannot write\n", c.output.c_str());
    return kExitRuntime;
  }
  auto r = cl->stream(path, [&](const char* data, size_t len) {
    std::fwrite(data, 1, len, out);
    return true;
  });
  if (out != stdout) std::fclose(out);
  return report(r);
}

}  // namespace

ApiCommandsPtr addApiCommands(CLI::App& app, CLI::App* gw, CLI::App* cdr) {
  ApiCommandsPtr c(new ApiCommands);
  ApiCommands& k = *c;

  k.gwAdd = gw->add_subcommand("add", "create a gateway on the running node (through the API)");
  gatewayOptions(k.gwAdd, k, true);
  k.gwUpdate = gw->add_subcommand("update", "change fields of a gateway (through the API)");
  gatewayOptions(k.gwUpdate, k, false);
  k.gwRemove = gw->add_subcommand("remove", "delete a gateway (through the API)");
  k.gwRemove->add_option("kind", k.kind, "mapping or routing")
      ->required()
      ->check(CLI::IsMember({"mapping", "routing"}));
  k.gwRemove->add_option("name", k.name, "gateway name")->required();
  common(k.gwRemove, k);

  auto* callCmd = app.add_subcommand("call", "calls in progress on the running node");
  callCmd->require_subcommand(1);
  k.callList = callCmd->add_subcommand("list", "list calls in progress");
  common(k.callList, k, true);
  k.callList->add_option("--limit,-n", k.limit, "at most this many (default 100)");
  k.callEnd = callCmd->add_subcommand("end", "end a call (BYE both legs; CDR admin_hangup)");
  k.callEnd->add_option("id", k.callId, "call id from `call list`")->required();
  common(k.callEnd, k);

  // Issue 5 names it `tollgate calls`: the same as `call list` / `call end`.
  k.calls = app.add_subcommand("calls", "calls in progress (and `calls end ID` to end one)");
  k.calls->require_subcommand(0, 1);
  common(k.calls, k, true);
  k.calls->add_option("--limit,-n", k.limit, "at most this many (default 100)");
  k.callsEnd = k.calls->add_subcommand("end", "end a call (BYE both legs; CDR admin_hangup)");
  k.callsEnd->add_option("id", k.callId, "call id from `tollgate calls`")->required();
  k.callsEnd->fallthrough();  // --config and --token belong to `calls`

  k.stats = app.add_subcommand("stats", "counters by reason and table sizes of the running node");
  common(k.stats, k, true);

  auto* clusterCmd = app.add_subcommand("cluster", "the cluster of nodes sharing one Redis");
  clusterCmd->require_subcommand(1);
  k.clusterStatus = clusterCmd->add_subcommand(
      "status", "live nodes, the Redis link and the down rule (exit 1 while the link is down)");
  common(k.clusterStatus, k, true);

  k.trace = app.add_subcommand("trace", "show live SIP messages (VOS3000 Debug Trace)");
  common(k.trace, k);
  k.trace->add_option("--gateway,-g", k.tGateway, "mapping or routing gateway name");
  k.trace->add_option("--source,-s", k.tSource, "peer IP, CIDR or IP:port");
  k.trace->add_option("--number,-n", k.tNumber, "number in From/To/Request-URI");
  k.trace->add_option("--call-id", k.tCallId, "exact Call-ID");
  k.trace->add_option("-w,--write", k.tWrite, "write a pcap file (Wireshark, tshark)");
  k.trace->add_option("--format", k.tFormat, "text or ndjson (without -w)")
      ->check(CLI::IsMember({"text", "ndjson"}));
  k.trace->add_option("--count", k.tCount, "stop after this many messages");
  k.trace->add_option("--duration", k.tDuration, "stop after this many seconds (<= 3600)");

  auto* userCmd = app.add_subcommand("user", "management users");
  userCmd->require_subcommand(1);
  k.userAdd = userCmd->add_subcommand("add", "create a user; the password is read from stdin");
  k.userAdd->add_option("name", k.name, "user name")->required();
  k.userAdd->add_option("--role", k.role, "admin, operator or readonly")->required();
  common(k.userAdd, k);
  k.userList = userCmd->add_subcommand("list", "list users");
  common(k.userList, k);
  k.userRemove = userCmd->add_subcommand("remove", "delete a user");
  k.userRemove->add_option("name", k.name, "user name")->required();
  common(k.userRemove, k);
  k.userPasswd = userCmd->add_subcommand("passwd", "set a user's password (read from stdin)");
  k.userPasswd->add_option("name", k.name, "user name")->required();
  common(k.userPasswd, k);
  k.userSet = userCmd->add_subcommand("set", "change a user's role or enable/disable it");
  k.userSet->add_option("name", k.name, "user name")->required();
  k.userSet->add_option("--role", k.role, "admin, operator or readonly");
  k.userSet->add_flag("--enable", k.enable, "enable");
  k.userSet->add_flag("--disable", k.disable, "disable (ends its sessions)");
  common(k.userSet, k);

  auto* tokenCmd = app.add_subcommand("token", "API tokens for automation");
  tokenCmd->require_subcommand(1);
  k.tokenCreate = tokenCmd->add_subcommand("create", "create a token (printed once)");
  k.tokenCreate->add_option("--name", k.tokenName, "what it is for")->required();
  k.tokenCreate->add_option("--user", k.tokenUser, "the user it acts as")->required();
  k.tokenCreate->add_option("--role", k.role, "at most the user's role");
  k.tokenCreate->add_option("--expires-in", k.expiresIn, "seconds (default: never)");
  common(k.tokenCreate, k);
  k.tokenList = tokenCmd->add_subcommand("list", "list tokens (no secrets)");
  common(k.tokenList, k);
  k.tokenRevoke = tokenCmd->add_subcommand("revoke", "revoke a token");
  k.tokenRevoke->add_option("id", k.tokenId, "token id")->required();
  common(k.tokenRevoke, k);

  auto* lockCmd = app.add_subcommand("lockout", "login lockouts");
  lockCmd->require_subcommand(1);
  k.lockList = lockCmd->add_subcommand("list", "failure counters and locks in force");
  common(k.lockList, k);
  k.lockClear = lockCmd->add_subcommand("clear", "unlock (clear one lock or counter)");
  k.lockClear->add_option("--scope", k.scope, "pair, source or account")->required();
  k.lockClear->add_option("--account", k.account, "user name (pair, account)");
  k.lockClear->add_option("--source", k.source, "IP address (pair, source)");
  common(k.lockClear, k);

  auto* auditCmd = app.add_subcommand("audit", "the audit log of API changes and logins");
  auditCmd->require_subcommand(1);
  k.auditList = auditCmd->add_subcommand("list", "newest first");
  k.auditList->add_option("--limit,-n", k.limit, "how many (default 100)");
  k.auditList->add_option("--action", k.action, "exact action, or a prefix ending in '.'");
  common(k.auditList, k);

  k.cdrExport = cdr->add_subcommand("export", "CSV of CDRs from the running node");
  k.cdrExport->add_option("--from", k.from, "start at or after (UTC time or Unix seconds)");
  k.cdrExport->add_option("--to", k.to, "start before");
  k.cdrExport->add_option("--gateway", k.gateway, "mapping or routing gateway");
  k.cdrExport->add_option("--number", k.number, "caller or callee");
  k.cdrExport->add_option("--reason", k.reason, "termination reason");
  k.cdrExport->add_option("-o,--output", k.output, "file (default stdout)");
  common(k.cdrExport, k);

  auto* apiCmd = app.add_subcommand("api", "management API documents");
  apiCmd->require_subcommand(1);
  k.openapi = apiCmd->add_subcommand("openapi", "print the OpenAPI document of this build");
  return c;
}

int runApiCommands(ApiCommands& k) {
  if (k.gwAdd->parsed()) {
    if (k.kind == "mapping" && k.auth.empty()) k.auth = "ip";
    return call(k, "POST", gatewayPath(k.kind), gatewayBody(k, true));
  }
  if (k.gwUpdate->parsed()) {
    return call(k, "PATCH", gatewayPath(k.kind) + "/" + urlEncode(k.name), gatewayBody(k, false));
  }
  if (k.gwRemove->parsed()) {
    int rc = call(k, "DELETE", gatewayPath(k.kind) + "/" + urlEncode(k.name));
    if (rc == 0) std::printf("removed %s gateway %s\n", k.kind.c_str(), k.name.c_str());
    return rc;
  }
  if (k.callsEnd->parsed() || k.callEnd->parsed()) {
    return call(k, "DELETE", "/api/v1/calls/" + urlEncode(k.callId));
  }
  if (k.callList->parsed() || k.calls->parsed()) {
    if (k.json)
      return call(k, "GET", "/api/v1/calls" + query({{"limit", std::to_string(k.limit)}}));
    int rc = 0;
    auto cl = client(k, &rc);
    if (!cl) return rc;
    auto r = cl->request("GET", "/api/v1/calls" + query({{"limit", std::to_string(k.limit)}}));
    if ((rc = report(r)) != 0) return rc;
    printCalls(Json::parse(r.body));
    return 0;
  }
  if (k.stats->parsed()) {
    if (k.json) return call(k, "GET", "/api/v1/stats");
    int rc = 0;
    auto cl = client(k, &rc);
    if (!cl) return rc;
    auto r = cl->request("GET", "/api/v1/stats");
    if ((rc = report(r)) != 0) return rc;
    printFlat(Json::parse(r.body), "");
    return 0;
  }
  if (k.clusterStatus->parsed()) {
    int rc = 0;
    auto cl = client(k, &rc);
    if (!cl) return rc;
    auto r = cl->request("GET", "/api/v1/cluster");
    if ((rc = report(r)) != 0) return rc;
    Json j = Json::parse(r.body);
    if (k.json) {
      std::printf("%s\n", j.dump(2).c_str());
      const bool down = j.value("enabled", false) && !j["redis"].value("up", false);
      return down ? 1 : 0;
    }
    return printCluster(j);
  }
  if (k.trace->parsed()) return runTrace(k);
  if (k.userAdd->parsed()) {
    std::string pw = readPassword("Password for " + k.name + ": ");
    return call(k, "POST", "/api/v1/users",
                Json{{"name", k.name}, {"role", k.role}, {"password", pw}});
  }
  if (k.userList->parsed()) return call(k, "GET", "/api/v1/users");
  if (k.userRemove->parsed()) return call(k, "DELETE", "/api/v1/users/" + urlEncode(k.name));
  if (k.userPasswd->parsed()) {
    std::string pw = readPassword("New password for " + k.name + ": ");
    int rc =
        call(k, "PUT", "/api/v1/users/" + urlEncode(k.name) + "/password", Json{{"password", pw}});
    if (rc == 0) std::printf("password changed for %s\n", k.name.c_str());
    return rc;
  }
  if (k.userSet->parsed()) {
    Json b = Json::object();
    if (!k.role.empty()) b["role"] = k.role;
    if (k.enable) b["enabled"] = true;
    if (k.disable) b["enabled"] = false;
    return call(k, "PATCH", "/api/v1/users/" + urlEncode(k.name), b);
  }
  if (k.tokenCreate->parsed()) {
    Json b{{"name", k.tokenName}, {"user", k.tokenUser}};
    if (!k.role.empty()) b["role"] = k.role;
    if (k.expiresIn > 0) b["expires_in"] = k.expiresIn;
    return call(k, "POST", "/api/v1/tokens", b);
  }
  if (k.tokenList->parsed()) return call(k, "GET", "/api/v1/tokens");
  if (k.tokenRevoke->parsed()) return call(k, "DELETE", "/api/v1/tokens/" + urlEncode(k.tokenId));
  if (k.lockList->parsed()) return call(k, "GET", "/api/v1/lockouts");
  if (k.lockClear->parsed()) {
    int rc = call(k, "DELETE",
                  "/api/v1/lockouts" +
                      query({{"scope", k.scope}, {"account", k.account}, {"source", k.source}}));
    if (rc == 0) std::printf("cleared\n");
    return rc;
  }
  if (k.auditList->parsed()) {
    return call(
        k, "GET",
        "/api/v1/audit" + query({{"limit", std::to_string(k.limit)}, {"action", k.action}}));
  }
  if (k.cdrExport->parsed()) return runCdrExport(k);
  if (k.openapi->parsed()) {
    std::fputs(mgmt::ApiServer::openApiDocument().c_str(), stdout);
    return 0;
  }
  return -1;
}

}  // namespace tollgate::app
