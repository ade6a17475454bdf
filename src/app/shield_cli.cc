// `tollgate ban ...`, `tollgate firewall export`, `tollgate doctor`. See
// shield_cli.h.
#include "app/shield_cli.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include "app/ban_sync.h"
#include "app/cli_link.h"
#include "app/config.h"
#include "app/node_control.h"
#include "firewall/doctor.h"
#include "firewall/rules.h"
#include "shield/ip_key.h"
#include "store/ban_store.h"
#include "store/cdr_format.h"
#include "store/sqlite_backend.h"
#include "store/store.h"
#include "store/store_factory.h"
#include "store/suspension_store.h"

namespace tollgate::app {

namespace {

using Json = nlohmann::ordered_json;

constexpr int kExitRuntime = 1;
constexpr int kExitBadConfig = 2;

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<store::BanStore> bans(const Config& c) {
  auto s = store::openBanStore(c.store.target());
  if (!s.ok()) {
    std::fprintf(stderr, "store %s: %s\n", c.store.path.c_str(), s.error().message.c_str());
    return nullptr;
  }
  return std::move(s).value();
}

// A trusted source and why it is trusted.
struct TrustedEntry {
  shield::PrefixKey prefix;
  std::string what;  // "mapping gateway cust-a", "shield.trusted"
};

// Every trusted prefix with its origin; nullopt when the store cannot be read.
std::optional<std::vector<TrustedEntry>> trustedEntries(const Config& c) {
  auto st = store::openStore(c.store.target());
  if (!st.ok()) {
    std::fprintf(stderr, "store %s: %s\n", c.store.path.c_str(), st.error().message.c_str());
    return std::nullopt;
  }
  auto prov = (*st)->loadProvisioning();
  if (!prov.ok()) {
    std::fprintf(stderr, "store: %s\n", prov.error().message.c_str());
    return std::nullopt;
  }
  std::vector<TrustedEntry> out;
  for (const net::Cidr& t : c.shield.trusted)
    out.push_back({shield::prefixOf(t), "shield.trusted"});
  for (admission::GatewayPrefix& g : admission::gatewayPrefixOwners(*prov)) {
    out.push_back({shield::prefixOf(g.prefix), std::move(g.owner)});
  }
  return out;
}

// Whole seconds as "2 h 5 min", "40 s".
std::string span(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  const int64_t d = seconds / 86400, h = seconds % 86400 / 3600, m = seconds % 3600 / 60,
                s = seconds % 60;
  std::string out;
  if (d) out += std::to_string(d) + " d ";
  if (h) out += std::to_string(h) + " h ";
  if (m) out += std::to_string(m) + " min ";
  if (s || out.empty()) out += std::to_string(s) + " s ";
  out.pop_back();
  return out;
}

std::string expiry(const store::BanRow& r, int64_t now) {
  if (r.expiresUs == 0) return "never";
  std::string t = store::formatUtcMicros(r.expiresUs);
  if (r.expiresUs > now) return t + " (in " + span((r.expiresUs - now) / 1'000'000) + ")";
  return t + " (expired)";
}

void appendRowJson(std::string& out, const store::BanRow& r, int64_t now) {
  out += "{\"address\":";
  store::appendJsonString(out, r.address);
  out += ",\"reason\":";
  store::appendJsonString(out, r.reason);
  out += ",\"detail\":";
  store::appendJsonString(out, r.detail);
  out += ",\"origin\":";
  store::appendJsonString(out, r.origin);
  out += ",\"created\":";
  store::appendJsonString(out, store::formatUtcMicros(r.createdUs));
  out += ",\"expires\":";
  if (r.expiresUs == 0) {
    out += "null";
  } else {
    store::appendJsonString(out, store::formatUtcMicros(r.expiresUs));
  }
  out += ",\"active\":";
  out += r.activeAt(now) ? "true" : "false";
  out += ",\"hits\":" + std::to_string(r.hits);
  out += ",\"level\":" + std::to_string(r.level) + "}";
}

// Every live row (expired ones too), by paging through the change order.
std::optional<std::vector<store::BanRow>> allRows(store::BanStore& st) {
  std::vector<store::BanRow> out;
  store::BanCursor cursor;
  for (;;) {
    auto page = st.bansChangedSince(cursor, store::kMaxBanPage);
    if (!page.ok()) {
      std::fprintf(stderr, "store: %s\n", page.error().message.c_str());
      return std::nullopt;
    }
    if (page->empty()) return out;
    cursor = {page->back().seq, page->back().address};
    for (auto& r : *page) {
      if (!r.deleted) out.push_back(std::move(r));
    }
  }
}

// `ban add` through the running node's API (it checks trusted space).
int banAddViaApi(NodeLink& link, const std::string& address, int64_t durationSeconds,
                 const std::string& note) {
  Json body{{"address", address}};
  if (durationSeconds > 0) body["duration"] = durationSeconds;
  if (!note.empty()) body["note"] = note;
  int rc = 0;
  const mgmt::ApiReply r = link.request("POST", "/api/v1/bans", body.dump());
  if (!answered(r, &rc)) return rc;
  const Json ban = Json::parse(r.body, nullptr, false);
  const Json expires = ban.value("expires", Json());
  std::printf(
      "banned %s %s\n", ban.value("address", address).c_str(),
      expires.is_string() ? ("until " + expires.get<std::string>()).c_str() : "permanently");
  const Json inside = ban.value("trusted_inside", Json::array());
  const Json by = ban.value("trusted_inside_by", Json::array());
  for (size_t i = 0; i < inside.size(); ++i) {
    std::printf("note: %s (%s) stays trusted\n", inside[i].get<std::string>().c_str(),
                i < by.size() ? by[i].get<std::string>().c_str() : "trusted");
  }
  return 0;
}

// `ban del` through the running node's API (an auth ban takes the
// address's suspensions with it there too).
int banDelViaApi(NodeLink& link, const std::string& canonical) {
  const mgmt::ApiReply r = link.request("DELETE", "/api/v1/bans" + query({{"address", canonical}}));
  if (r.status == 404) {
    // "X has no ban of its own[; it is inside the ban of Y]": an answer,
    // not a failure of the tool.
    const Json e = Json::parse(r.body, nullptr, false);
    if (e.is_object() && e.value("field", "") == "address") {
      std::printf("%s\n", e.value("message", canonical + " has no ban of its own").c_str());
      return kExitRuntime;
    }
  }
  int rc = 0;
  if (!answered(r, &rc)) return rc;
  const Json j = Json::parse(r.body, nullptr, false);
  std::printf("unbanned %s\n", j.value("address", canonical).c_str());
  const size_t cleared = j.value("suspensions_cleared", size_t{0});
  if (cleared > 0) std::printf("cleared %zu auth suspension%s\n", cleared, cleared == 1 ? "" : "s");
  return 0;
}

}  // namespace

int64_t liftAuthBans(const store::StoreTarget& storeTarget,
                     const std::optional<net::IpAddress>& source) {
  auto opened = store::openBanStore(storeTarget);
  if (!opened.ok()) {
    std::fprintf(stderr, "store %s: %s\n", store::storeDescription(storeTarget).c_str(),
                 opened.error().message.c_str());
    return -1;
  }
  auto n = store::deleteBansWithReason(**opened, "auth", source ? source->toString() : "");
  if (!n.ok()) {
    std::fprintf(stderr, "store: %s\n", n.error().message.c_str());
    return -1;
  }
  return static_cast<int64_t>(*n);
}

int cmdBanAdd(const std::string& configPath, const std::string& token, const std::string& address,
              int64_t durationSeconds, const std::string& note) {
  auto c = configOrExit(configPath);
  if (!c) return kExitBadConfig;
  auto prefix = shield::parsePrefix(address);
  if (!prefix) {
    std::fprintf(stderr, "ban add: \"%s\" is not an IP address or CIDR\n", address.c_str());
    return kExitBadConfig;
  }
  if (note.size() > kMaxBanNote || std::any_of(note.begin(), note.end(), [](char ch) {
        return static_cast<unsigned char>(ch) < 0x20;
      })) {
    std::fprintf(stderr, "ban add: --note must be at most %zu bytes without control characters\n",
                 kMaxBanNote);
    return kExitBadConfig;
  }
  int rc = 0;
  auto link = NodeLink::forChange(*c, token, &rc);
  if (!link) return rc;
  if (link->viaApi()) return banAddViaApi(*link, shield::toString(*prefix), durationSeconds, note);
  auto trusted = trustedEntries(*c);
  if (!trusted) return kExitRuntime;
  std::vector<std::string> inside;
  for (const TrustedEntry& t : *trusted) {
    // The whole ban inside trusted space: it could never drop anything.
    if (t.prefix.bits <= prefix->bits && t.prefix.contains(prefix->key) &&
        t.prefix.isV4() == prefix->isV4()) {
      std::fprintf(stderr,
                   "ban add: %s is trusted (%s): trusted sources are never dropped, so the ban "
                   "would do nothing. Remove it from the provisioning or shield.trusted first.\n",
                   shield::toString(*prefix).c_str(), t.what.c_str());
      return kExitBadConfig;
    }
    if (prefix->bits < t.prefix.bits && prefix->contains(t.prefix.key)) {
      inside.push_back(shield::toString(t.prefix) + " (" + t.what + ")");
    }
  }
  auto st = bans(*c);
  if (!st) return kExitRuntime;
  const std::string canonical = shield::toString(*prefix);
  store::BanRow row;
  row.address = canonical;
  row.reason = "manual";
  row.origin = "manual";
  row.detail = note.empty() ? "banned by an operator" : note;
  row.createdUs = nowUs();
  row.expiresUs = durationSeconds > 0 ? row.createdUs + durationSeconds * 1'000'000 : 0;
  row.level = 1;
  if (auto old = st->getBan(canonical); old.ok() && old->has_value()) {
    row.hits = (*old)->hits;  // the count of the earlier ban carries on
  }
  if (auto r = st->putBans({row}); !r.ok()) {
    std::fprintf(stderr, "ban add failed (nothing changed): %s\n", r.error().message.c_str());
    return kExitRuntime;
  }
  std::printf("banned %s %s\n", canonical.c_str(),
              row.expiresUs == 0 ? "permanently"
                                 : ("until " + store::formatUtcMicros(row.expiresUs)).c_str());
  for (const std::string& t : inside) std::printf("note: %s stays trusted\n", t.c_str());
  return 0;
}

int cmdBanDel(const std::string& configPath, const std::string& token, const std::string& address) {
  auto c = configOrExit(configPath);
  if (!c) return kExitBadConfig;
  auto prefix = shield::parsePrefix(address);
  if (!prefix) {
    std::fprintf(stderr, "ban del: \"%s\" is not an IP address or CIDR\n", address.c_str());
    return kExitBadConfig;
  }
  int rc = 0;
  auto link = NodeLink::forChange(*c, token, &rc);
  if (!link) return rc;
  if (link->viaApi()) return banDelViaApi(*link, shield::toString(*prefix));
  auto st = bans(*c);
  if (!st) return kExitRuntime;
  const std::string canonical = shield::toString(*prefix);
  // A ban placed for a digest suspension goes with the suspension: lifting
  // only the ban would leave the address refused by the auth layer.
  bool authBan = false;
  if (auto row = st->getBan(canonical); row.ok() && *row && (*row)->reason == "auth") {
    authBan = true;
  }
  auto r = st->deleteBan(canonical);
  if (!r.ok()) {
    std::fprintf(stderr, "ban del failed (nothing changed): %s\n", r.error().message.c_str());
    return kExitRuntime;
  }
  if (*r) {
    std::printf("unbanned %s\n", canonical.c_str());
    if (authBan) {
      if (auto ip = net::IpAddress::parse(canonical)) {
        auto ss = store::openSuspensionStore(c->store.target());
        store::SuspensionFilter f;
        f.source = *ip;
        auto n = ss.ok() ? (*ss)->clearSuspensions(f, nowUs())
                         : Result<size_t, store::StoreError>(Err{ss.error()});
        if (!n.ok()) {
          std::fprintf(stderr, "clearing its auth suspensions failed: %s\n",
                       n.error().message.c_str());
          return kExitRuntime;
        }
        if (*n > 0) std::printf("cleared %zu auth suspension%s\n", *n, *n == 1 ? "" : "s");
      }
    }
    return 0;
  }
  std::printf("%s has no ban of its own", canonical.c_str());
  if (auto rows = allRows(*st)) {
    const int64_t now = nowUs();
    for (const auto& row : *rows) {
      auto p = shield::parsePrefix(row.address);
      if (p && row.activeAt(now) && p->bits < prefix->bits && p->contains(prefix->key)) {
        std::printf("; it is inside the ban of %s", row.address.c_str());
      }
    }
  }
  std::printf("\n");
  return kExitRuntime;
}

int cmdBanList(const std::string& configPath, bool json, bool all, size_t limit) {
  auto c = configOrExit(configPath);
  if (!c) return kExitBadConfig;
  auto st = bans(*c);
  if (!st) return kExitRuntime;
  const int64_t now = nowUs();
  auto rows = st->listBans(all, now, limit);
  if (!rows.ok()) {
    std::fprintf(stderr, "store: %s\n", rows.error().message.c_str());
    return kExitRuntime;
  }
  if (json) {
    std::string out = "[";
    for (size_t i = 0; i < rows->size(); ++i) {
      out += i ? ",\n" : "\n";
      appendRowJson(out, (*rows)[i], now);
    }
    out += rows->empty() ? "]\n" : "\n]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("%-28s %-12s %-6s %-5s %-8s %-27s %s\n", "ADDRESS", "REASON", "ORIGIN", "LEVEL",
              "HITS", "EXPIRES", "DETAIL");
  for (const auto& r : *rows) {
    std::string exp = r.expiresUs == 0 ? "never" : store::formatUtcMicros(r.expiresUs);
    if (!r.activeAt(now)) exp += "*";
    std::printf("%-28s %-12s %-6s %-5d %-8lld %-27s %s\n", r.address.c_str(), r.reason.c_str(),
                r.origin.c_str(), r.level, static_cast<long long>(r.hits), exp.c_str(),
                r.detail.c_str());
  }
  if (all) std::printf("(* expired: kept for escalation until shield.ban_memory has passed)\n");
  return 0;
}

int cmdBanWhy(const std::string& configPath, const std::string& address, bool json) {
  auto c = configOrExit(configPath);
  if (!c) return kExitBadConfig;
  auto ip = net::IpAddress::parse(address);
  if (!ip) {
    std::fprintf(stderr, "ban why: \"%s\" is not an IP address\n", address.c_str());
    return kExitBadConfig;
  }
  const shield::IpKey key = shield::keyOf(*ip);
  std::string trustedWhy;
  if (auto trusted = trustedEntries(*c)) {
    for (const TrustedEntry& t : *trusted) {
      if (t.prefix.isV4() == key.isV4() && t.prefix.contains(key)) trustedWhy = t.what;
    }
  }
  auto st = bans(*c);
  if (!st) return kExitRuntime;
  auto rows = allRows(*st);
  if (!rows) return kExitRuntime;
  const int64_t now = nowUs();
  std::vector<store::BanRow> covering;
  for (auto& r : *rows) {
    auto p = shield::parsePrefix(r.address);
    if (p && p->isV4() == key.isV4() && p->contains(key)) covering.push_back(std::move(r));
  }
  // Active first, the most specific first; then history, newest first.
  std::sort(covering.begin(), covering.end(),
            [now](const store::BanRow& a, const store::BanRow& b) {
              if (a.activeAt(now) != b.activeAt(now)) return a.activeAt(now);
              if (a.activeAt(now))
                return shield::parsePrefix(a.address)->bits > shield::parsePrefix(b.address)->bits;
              return a.createdUs > b.createdUs;
            });
  const bool banned = !covering.empty() && covering[0].activeAt(now);
  if (json) {
    std::string out = "{\"address\":";
    store::appendJsonString(out, ip->toString());
    out += std::string(",\"banned\":") + (banned ? "true" : "false");
    out += ",\"trusted\":";
    if (trustedWhy.empty()) {
      out += "null";
    } else {
      store::appendJsonString(out, trustedWhy);
    }
    out += ",\"bans\":[";
    for (size_t i = 0; i < covering.size(); ++i) {
      if (i) out += ",";
      appendRowJson(out, covering[i], now);
    }
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
    return banned ? 0 : kExitRuntime;
  }
  if (!trustedWhy.empty()) {
    std::printf("%s is trusted (%s): the shield never drops or bans it\n", ip->toString().c_str(),
                trustedWhy.c_str());
  }
  if (covering.empty()) {
    std::printf("%s is not banned and never was (within shield.ban_memory)\n",
                ip->toString().c_str());
    return kExitRuntime;
  }
  std::printf("%s %s\n", ip->toString().c_str(),
              banned ? "is banned" : "is not banned now; earlier bans:");
  for (const auto& r : covering) {
    std::printf("\n  ban:     %s%s\n", r.address.c_str(),
                shield::parsePrefix(r.address)->isHost() ? "" : " (a prefix it belongs to)");
    std::printf("  rule:    %s: %s\n", r.reason.c_str(), r.detail.c_str());
    std::printf("  since:   %s\n", store::formatUtcMicros(r.createdUs).c_str());
    std::printf("  until:   %s\n", expiry(r, now).c_str());
    std::printf("  hits:    %lld\n", static_cast<long long>(r.hits));
    std::printf("  level:   %d%s\n", r.level,
                r.level > 1 ? " (a repeat offender: escalated)" : " (first ban)");
    std::printf("  by:      %s\n", r.origin == "manual" ? "an operator" : "the shield's checks");
  }
  return banned ? 0 : kExitRuntime;
}

int cmdFirewallExport(const std::string& configPath, const std::string& format) {
  if (format != "nft" && format != "iptables" && format != "ip6tables") {
    std::fprintf(stderr, "firewall export: --format must be nft, iptables or ip6tables\n");
    return kExitBadConfig;
  }
  auto c = configOrExit(configPath);
  if (!c) return kExitBadConfig;
  auto st = store::openStore(c->store.target());
  if (!st.ok()) {
    std::fprintf(stderr, "store %s: %s\n", c->store.path.c_str(), st.error().message.c_str());
    return kExitRuntime;
  }
  auto prov = (*st)->loadProvisioning();
  if (!prov.ok()) {
    std::fprintf(stderr, "store: %s\n", prov.error().message.c_str());
    return kExitRuntime;
  }
  firewall::FirewallSpec spec;
  for (const auto& l : c->sip.listen) {
    auto& ports = l.protocol == transport::Protocol::Udp ? spec.sipUdpPorts : spec.sipTcpPorts;
    if (l.address.port() != 0 &&
        std::find(ports.begin(), ports.end(), l.address.port()) == ports.end()) {
      ports.push_back(l.address.port());
    }
  }
  spec.trusted = c->shield.trusted;
  for (const net::Cidr& g : admission::gatewayPrefixes(*prov)) spec.trusted.push_back(g);
  const auto& s = c->shield;
  spec.userAgents = s.userAgents;
  spec.dropMethods = s.dropMethods;
  spec.recentHits = s.recentHits;
  spec.recentSeconds = static_cast<int>(s.recentWindow.count() / 1000);
  spec.rate = s.rate;
  spec.burst = s.burst;
  spec.rateIdleSeconds = static_cast<int>(s.rateIdleExpiry.count() / 1000);
  spec.prefixV4 = s.prefixV4;
  spec.prefixV6 = s.prefixV6;
  spec.prefixRecentHits = s.prefixRecentHits;
  spec.prefixRate = s.prefixRate;
  spec.prefixBurst = s.prefixBurst;
  spec.maxConcurrent = s.maxConcurrent;
  spec.prefixMaxConcurrent = s.prefixMaxConcurrent;
  spec.rtpPortMin = c->firewall.rtpPortMin;
  spec.rtpPortMax = c->firewall.rtpPortMax;
  spec.managementPorts = c->firewall.managementPorts;
  spec.managementAllow = c->firewall.managementAllow;
  spec.header = {"tollgate firewall export --format " + format + " (generated " +
                     store::formatUtcMicros(nowUs()) + ")",
                 "from " + configPath + " and the gateways in " + c->store.path + " (" +
                     std::to_string(spec.trusted.size()) + " trusted prefixes)"};
  const std::string out = format == "nft" ? firewall::exportNft(spec)
                                          : firewall::exportIptables(spec, format == "ip6tables");
  std::fputs(out.c_str(), stdout);
  return 0;
}

int cmdDoctor(const std::string& configPath) {
  auto c = configOrExit(configPath);
  if (!c) return kExitBadConfig;
  firewall::DoctorInput in;
  in.kernelOffload = c->firewall.kernelOffload;
  // Looked at, never opened: opening would already tighten the modes.
  in.privateFiles = store::sqliteStoreFiles(c->store.path);
  in.privateFiles.push_back(apiTokenPath(*c));
  in.privateDirectory = store::sqliteStoreDirectory(c->store.path);
  auto checks = firewall::runDoctor(in);
  std::fputs(firewall::formatDoctor(checks).c_str(), stdout);
  const bool ok = std::all_of(checks.begin(), checks.end(), [](const auto& k) { return k.ok; });
  return ok ? 0 : kExitRuntime;
}

}  // namespace tollgate::app
