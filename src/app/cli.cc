// Command-line front end. See cli.h.
#include "app/cli.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/cli_api.h"
#include "app/config.h"
#include "app/node.h"
#include "app/provisioning_file.h"
#include "sip/lint.h"
#include "store/cdr_format.h"
#include "store/store.h"

namespace tollgate::app {
namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitBadConfig = 2;

// Loads the node settings or prints the error; nullopt means "exit 2".
std::optional<Config> configOrExit(const std::string& path) {
  auto c = loadConfig(path);
  if (!c.ok()) {
    std::fprintf(stderr, "%s\n", c.error().format().c_str());
    return std::nullopt;
  }
  return std::move(c).value();
}

std::unique_ptr<store::Store> storeOrNull(const Config& c) {
  auto s = store::openSqliteStore(c.store.path);
  if (!s.ok()) {
    std::fprintf(stderr, "store %s: %s\n", c.store.path.c_str(), s.error().message.c_str());
    return nullptr;
  }
  return std::move(s).value();
}

std::string joined(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s.empty() ? "\"\"" : s;
  }
  return out;
}

std::string jsonStringArray(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    store::appendJsonString(out, v[i]);
  }
  return out + "]";
}

int cmdImport(const std::string& configPath, const std::string& file, bool prune) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  auto prov = loadProvisioningFile(file);
  if (!prov.ok()) {
    std::fprintf(stderr, "%s\n", prov.error().format().c_str());
    return kExitBadConfig;
  }
  auto st = storeOrNull(*config);
  if (!st) return kExitRuntime;
  auto r = st->importProvisioning(*prov, prune);
  if (!r.ok()) {
    std::fprintf(stderr, "import failed (nothing changed): %s\n", r.error().message.c_str());
    return kExitRuntime;
  }
  std::printf("imported %s: %zu added, %zu updated, %zu unchanged, %zu removed\n", file.c_str(),
              r->added, r->updated, r->unchanged, r->removed);
  return 0;
}

int cmdGatewayList(const std::string& configPath, bool json) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  auto st = storeOrNull(*config);
  if (!st) return kExitRuntime;
  auto prov = st->loadProvisioning();
  if (!prov.ok()) {
    std::fprintf(stderr, "store: %s\n", prov.error().message.c_str());
    return kExitRuntime;
  }
  if (json) {
    std::string out = "{\"mapping_gateways\":[";
    for (size_t i = 0; i < prov->mappingGateways.size(); ++i) {
      const auto& g = prov->mappingGateways[i];
      if (i) out += ',';
      out += "\n{\"name\":";
      store::appendJsonString(out, g.name);
      out += ",\"auth\":";
      store::appendJsonString(out, admission::authModeName(g.auth));
      out += ",\"addresses\":" + jsonStringArray(g.addresses);
      out += std::string(",\"enabled\":") + (g.enabled ? "true" : "false") + "}";
    }
    out += "],\n\"routing_gateways\":[";
    for (size_t i = 0; i < prov->routingGateways.size(); ++i) {
      const auto& g = prov->routingGateways[i];
      if (i) out += ',';
      out += "\n{\"name\":";
      store::appendJsonString(out, g.name);
      out += ",\"address\":";
      store::appendJsonString(out, g.address);
      out += ",\"transport\":";
      store::appendJsonString(out, g.transport);
      out += ",\"prefixes\":" + jsonStringArray(g.prefixes);
      out += ",\"priority\":" + std::to_string(g.priority);
      out += ",\"strip_digits\":" + std::to_string(g.stripDigits);
      out += ",\"add_prefix\":";
      store::appendJsonString(out, g.addPrefix);
      out += std::string(",\"enabled\":") + (g.enabled ? "true" : "false") + "}";
    }
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("%-8s %-24s %-8s %-8s %s\n", "KIND", "NAME", "ENABLED", "AUTH", "ADDRESSES");
  for (const auto& g : prov->mappingGateways) {
    std::printf("%-8s %-24s %-8s %-8s %s\n", "mapping", g.name.c_str(), g.enabled ? "yes" : "no",
                std::string(admission::authModeName(g.auth)).c_str(),
                joined(g.addresses, ",").c_str());
  }
  std::printf("\n%-8s %-24s %-8s %-9s %-22s %-8s %-10s %s\n", "KIND", "NAME", "ENABLED",
              "TRANSPORT", "ADDRESS", "PRIORITY", "TRANSLATE", "PREFIXES");
  for (const auto& g : prov->routingGateways) {
    std::string translate = "-" + std::to_string(g.stripDigits) + "+" +
                            (g.addPrefix.empty() ? std::string("\"\"") : g.addPrefix);
    std::printf("%-8s %-24s %-8s %-9s %-22s %-8d %-10s %s\n", "routing", g.name.c_str(),
                g.enabled ? "yes" : "no", g.transport.c_str(), g.address.c_str(), g.priority,
                translate.c_str(), joined(g.prefixes, ",").c_str());
  }
  return 0;
}

int cmdCdrList(const std::string& configPath, bool json, size_t limit, const std::string& reason,
               const std::string& gateway) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  if (!reason.empty() && !call::reasonFromName(reason)) {
    std::fprintf(stderr, "--reason: unknown termination reason \"%s\" (see docs/cdr.md)\n",
                 reason.c_str());
    return kExitBadConfig;
  }
  auto st = storeOrNull(*config);
  if (!st) return kExitRuntime;
  store::CdrQuery q;
  q.limit = limit;
  q.reason = reason;
  q.mappingGateway = gateway;
  auto cdrs = st->listCdrs(q);
  if (!cdrs.ok()) {
    std::fprintf(stderr, "store: %s\n", cdrs.error().message.c_str());
    return kExitRuntime;
  }
  if (json) {
    std::fputs(store::cdrsToJson(*cdrs).c_str(), stdout);
    return 0;
  }
  std::printf("%s\n", store::cdrTableHeader().c_str());
  for (const auto& c : *cdrs) std::printf("%s\n", store::cdrToTableRow(c).c_str());
  return 0;
}

int cmdLint(const std::vector<std::string>& files) {
  int rc = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::printf("%s: error: cannot read file\n", f.c_str());
      rc = kExitRuntime;
      continue;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    sip::LintResult r = sip::lint(ss.str());
    std::printf("%s: %s\n", f.c_str(), r.line.c_str());
    if (!r.ok) rc = kExitRuntime;
  }
  return rc;
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app{"tollgate: class-4 SIP softswitch edge"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tollgate 0.1.0");

  std::string configPath;
  auto addConfig = [&](CLI::App* sub) {
    sub->add_option("--config,-c", configPath, "node settings file (TOML)")->required();
  };

  auto* run = app.add_subcommand("run", "run the switch");
  addConfig(run);

  std::string provFile;
  bool prune = false;
  auto* imp = app.add_subcommand("import", "import a provisioning file into the store (by name)");
  addConfig(imp);
  imp->add_option("file", provFile, "provisioning TOML file")->required();
  imp->add_flag("--prune", prune, "also delete gateways absent from the file");

  bool json = false;
  auto* gateway = app.add_subcommand("gateway", "mapping and routing gateways");
  gateway->require_subcommand(1);
  auto* gwList = gateway->add_subcommand("list", "list gateways in the store");
  addConfig(gwList);
  gwList->add_flag("--json", json, "print JSON");

  size_t limit = 50;
  std::string reason;
  std::string gwFilter;
  auto* cdr = app.add_subcommand("cdr", "call detail records");
  cdr->require_subcommand(1);
  auto* cdrList = cdr->add_subcommand("list", "list CDRs, newest first");
  addConfig(cdrList);
  cdrList->add_flag("--json", json, "print JSON (fields in docs/cdr.md)");
  cdrList->add_option("--limit,-n", limit, "how many (default 50)")->check(CLI::Range(1, 1000000));
  cdrList->add_option("--reason", reason, "only this termination reason");
  cdrList->add_option("--gateway", gwFilter, "only this mapping gateway");

  std::vector<std::string> lintFiles;
  auto* lint = app.add_subcommand("lint", "check SIP message files: ok METHOD/STATUS or error");
  lint->add_option("files", lintFiles, "files holding one SIP message each")->required();

  // Commands that speak the management API of a running node (cli_api.cc).
  ApiCommandsPtr apiCommands = addApiCommands(app, gateway, cdr);

  auto* cfg = app.add_subcommand("config", "node settings");
  cfg->require_subcommand(1);
  auto* cfgCheck = cfg->add_subcommand("check", "validate the settings file and exit");
  addConfig(cfgCheck);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitBadConfig;
  }

  if (run->parsed()) {
    auto config = configOrExit(configPath);
    if (!config) return kExitBadConfig;
    return runNode(*config);
  }
  if (imp->parsed()) return cmdImport(configPath, provFile, prune);
  if (gwList->parsed()) return cmdGatewayList(configPath, json);
  if (cdrList->parsed()) return cmdCdrList(configPath, json, limit, reason, gwFilter);
  if (lint->parsed()) return cmdLint(lintFiles);
  if (int rc = runApiCommands(*apiCommands); rc >= 0) return rc;
  if (cfgCheck->parsed()) {
    auto config = configOrExit(configPath);
    if (!config) return kExitBadConfig;
    std::printf("%s: ok\n", configPath.c_str());
    return 0;
  }
  return kExitBadConfig;
}

}  // namespace tollgate::app
