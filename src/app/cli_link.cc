// The CLI's way to a node: its API when it runs, else the store. See
// cli_link.h.
#include "app/cli_link.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <unistd.h>

#include "app/node_control.h"
#include "common/percent.h"
#include "mgmt/api_server.h"

namespace tollgate::app {
namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitBadConfig = 2;

std::string hostPort(const mgmt::ApiEndpoint& ep) {
  return ep.host.find(':') != std::string::npos ? "[" + ep.host + "]:" + std::to_string(ep.port)
                                                : ep.host + ":" + std::to_string(ep.port);
}

}  // namespace

void addConfigOption(CLI::App* command, std::string& path) {
  const char* env = std::getenv(kConfigEnvironment);
  path = env != nullptr && *env != '\0' ? env : kDefaultConfigPath;
  command->add_option("--config,-c", path,
                      std::string("node settings file (TOML; default: $") + kConfigEnvironment +
                          ", else " + kDefaultConfigPath + ")");
}

std::optional<Config> configOrExit(const std::string& path) {
  auto c = loadConfig(path);
  if (!c.ok()) {
    std::fprintf(stderr, "%s\n", c.error().format().c_str());
    if (::access(path.c_str(), F_OK) != 0) {
      std::fprintf(stderr, "name the node's settings file with --config FILE or $%s\n",
                   kConfigEnvironment);
    }
    return std::nullopt;
  }
  return std::move(c).value();
}

mgmt::ApiEndpoint apiAddress(const Config& config) {
  mgmt::ApiEndpoint ep;
  if (config.api.listen.empty()) return ep;
  const net::SockAddr& a = config.api.listen.front();
  bool wildcard = true;
  for (size_t i = 0; i < a.ip().size(); ++i) wildcard = wildcard && a.ip().bytes()[i] == 0;
  ep.host = wildcard ? (a.ip().isV6() ? "::1" : "127.0.0.1") : a.ip().toString();
  ep.port = a.port();
  ep.tls = !config.api.certificate.empty();
  ep.caFile = config.api.certificate;
  return ep;
}

std::optional<std::string> apiToken(const Config& config, const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("TOLLGATE_API_TOKEN"); env && *env) return std::string(env);
  const std::string path = apiTokenPath(config);
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token) || token.empty()) {
    std::fprintf(stderr,
                 "cannot read the API token file %s (is the node running, and may you read "
                 "it?); or pass --token\n",
                 path.c_str());
    return std::nullopt;
  }
  return token;
}

std::optional<NodeLink> NodeLink::forChange(const Config& config, const std::string& token,
                                            int* rc) {
  NodeLink link;
  if (config.api.listen.empty()) {
    std::fprintf(stderr,
                 "the management API is off (api.listen = []): writing the store directly\n");
    return link;
  }
  mgmt::ApiEndpoint ep = apiAddress(config);
  const std::string where = hostPort(ep);
  const mgmt::ListenerProbe probe = mgmt::probeListener(ep, kNodeProbeTimeout);
  switch (probe.state) {
    case mgmt::Listener::Refused:
      std::fprintf(stderr, "node not running (nothing listens on %s): writing the store directly\n",
                   where.c_str());
      return link;
    case mgmt::Listener::Unknown:
      std::fprintf(stderr,
                   "cannot tell whether the node runs: connecting to its API at %s: %s; nothing "
                   "changed\n",
                   where.c_str(), probe.error.c_str());
      *rc = kExitRuntime;
      return std::nullopt;
    case mgmt::Listener::Accepting:
      break;
  }
  auto t = apiToken(config, token);
  if (!t) {
    *rc = kExitRuntime;
    return std::nullopt;
  }
  ep.token = std::move(*t);
  std::fprintf(stderr, "via the node's API at %s\n", where.c_str());
  link.client_.emplace(std::move(ep));
  return link;
}

mgmt::ApiReply NodeLink::request(const std::string& method, const std::string& path,
                                 const std::string& jsonBody) {
  return client_->request(method, path, jsonBody);
}

void printApiError(const mgmt::ApiReply& r) {
  if (r.status == 0) {
    std::fprintf(stderr, "cannot reach the management API: %s\n", r.error.c_str());
    return;
  }
  using Json = nlohmann::ordered_json;
  Json j = Json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message")) {
    std::string field = j.value("field", Json()).is_string() ? j["field"].get<std::string>() : "";
    std::fprintf(stderr, "error %d (%s)%s%s: %s\n", r.status,
                 j.value("error", std::string()).c_str(), field.empty() ? "" : " field ",
                 field.c_str(), j.value("message", std::string()).c_str());
  } else {
    std::fprintf(stderr, "error %d: %s\n", r.status, r.body.c_str());
  }
}

bool answered(const mgmt::ApiReply& r, int* rc) {
  if (r.status >= 200 && r.status < 300) return true;
  printApiError(r);
  *rc = r.status == 400 || r.status == 413 ? kExitBadConfig : kExitRuntime;
  return false;
}

bool fitsOneRequest(const std::string& body) {
  if (body.size() <= mgmt::kApiMaxBodyBytes) return true;
  std::fprintf(stderr,
               "the change is %zu bytes, more than one API request takes (%zu): split it, or "
               "make it while the node is stopped (nothing changed)\n",
               body.size(), mgmt::kApiMaxBodyBytes);
  return false;
}

std::string urlEncode(std::string_view s) {
  return percentEncode(s, kUrlUnreservedMarks);
}

std::string query(std::initializer_list<std::pair<const char*, std::string>> params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += q.empty() ? "?" : "&";
    q += std::string(k) + "=" + urlEncode(v);
  }
  return q;
}

}  // namespace tollgate::app
