// nftables and iptables rulesets from a FirewallSpec. See rules.h.
#include "firewall/rules.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tollgate::firewall {

namespace {

// Dynamic sets of the nftables meters: how many sources each tracks (the
// kernel's bound, like the shield's own tables).
constexpr int kMeterSize = 65535;
// IPv4 header (no options) plus the UDP header, and the IPv6 equivalent:
// where a datagram's payload starts for iptables' `string --from`.
constexpr int kUdpPayloadOffsetV4 = 28;
constexpr int kUdpPayloadOffsetV6 = 48;

std::string joinPorts(const std::vector<uint16_t>& ports, const char* sep) {
  std::string out;
  for (uint16_t p : ports) {
    if (!out.empty()) out += sep;
    out += std::to_string(p);
  }
  return out;
}

std::string elements(const std::vector<net::Cidr>& list, bool v6) {
  std::string out;
  for (const net::Cidr& c : list) {
    if (c.network().isV6() != v6) continue;
    if (!out.empty()) out += ", ";
    out += c.isHost() ? c.network().toString() : c.toString();
  }
  return out;
}

std::string mask4(int bits) {
  uint32_t m = bits <= 0 ? 0 : (bits >= 32 ? 0xffffffffu : ~((1u << (32 - bits)) - 1));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", m >> 24, (m >> 16) & 0xff, (m >> 8) & 0xff,
                m & 0xff);
  return buf;
}

std::string mask6(int bits) {
  std::string out;
  int groups = 0;
  for (int g = 0; g < 8 && bits > 0; ++g, bits -= 16) {
    int b = std::min(bits, 16);
    unsigned v = (0xffffu << (16 - b)) & 0xffffu;
    char buf[8];
    std::snprintf(buf, sizeof buf, "%x", v);
    if (!out.empty()) out += ':';
    out += buf;
    ++groups;
  }
  if (groups < 8) out += "::";
  return out.empty() ? "::" : out;
}

// An nftables rate: an integer count per unit.
std::string nftRate(double perSecond) {
  if (perSecond >= 1) return std::to_string(static_cast<long>(std::ceil(perSecond))) + "/second";
  if (perSecond * 60 >= 1) {
    return std::to_string(static_cast<long>(std::ceil(perSecond * 60))) + "/minute";
  }
  return std::to_string(std::max(1L, static_cast<long>(std::ceil(perSecond * 3600)))) + "/hour";
}

// "N in S seconds" as a token bucket of the same long-run rate with a burst
// of N: nftables has no per-source timestamp list like xt_recent.
std::string nftRecent(uint32_t hits, int seconds) {
  const double perMinute = static_cast<double>(hits) * 60.0 / std::max(seconds, 1);
  return std::to_string(std::max(1L, static_cast<long>(std::ceil(perMinute)))) + "/minute burst " +
         std::to_string(hits) + " packets";
}

std::string iptRate(double perSecond) {
  if (perSecond >= 1) return std::to_string(static_cast<long>(std::ceil(perSecond))) + "/sec";
  if (perSecond * 60 >= 1) {
    return std::to_string(static_cast<long>(std::ceil(perSecond * 60))) + "/min";
  }
  return std::to_string(std::max(1L, static_cast<long>(std::ceil(perSecond * 3600)))) + "/hour";
}

std::string hexOf(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string out = "0x";
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

// Text safe inside a double-quoted rule argument or comment.
bool quotable(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f && c != '"' && c != '\\' && c != '\'';
  });
}

void line(std::string& out, std::string_view text) {
  out.append(text);
  out += '\n';
}

// A gateway can be both a mapping and a routing gateway, or listed twice:
// each prefix once, in first-seen order.
std::vector<net::Cidr> unique(const std::vector<net::Cidr>& list) {
  std::vector<net::Cidr> out;
  for (const net::Cidr& c : list) {
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  return out;
}

FirewallSpec deduplicated(const FirewallSpec& in) {
  FirewallSpec s = in;
  s.trusted = unique(in.trusted);
  s.managementAllow = unique(in.managementAllow);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------
// nftables

std::string exportNft(const FirewallSpec& spec) {
  const FirewallSpec s = deduplicated(spec);
  std::string o;
  line(o, "#!/usr/sbin/nft -f");
  for (const std::string& h : s.header) line(o, "# " + h);
  line(o, "# Load with `nft -f FILE` (check first with `nft -c -f FILE`). The table is");
  line(o, "# replaced whole; nothing else in the ruleset is touched. Its input chain");
  line(o, "# drops what it does not accept (policy drop): review the management rule");
  line(o, "# before loading it on a remote machine.");
  line(o, "");
  const std::string table = kExportTable;
  // Declaring then deleting makes a reload idempotent: the first line creates
  // the table when missing, so the delete always has something to remove.
  line(o, "table inet " + table);
  line(o, "delete table inet " + table);
  line(o, "table inet " + table + " {");

  auto set = [&](const std::string& name, bool v6, const std::string& flags,
                 const std::string& extra, const std::string& elems) {
    std::string t = "  set " + name + " { type " + (v6 ? "ipv6_addr" : "ipv4_addr") + "; ";
    t += extra;
    t += "flags " + flags + "; ";
    if (!elems.empty()) t += "elements = { " + elems + " } ";
    t += "}";
    line(o, t);
  };
  for (bool v6 : {false, true}) {
    const char* f = v6 ? "6" : "4";
    set(std::string("trusted") + f, v6, "interval", "auto-merge; ", elements(s.trusted, v6));
    set(std::string("mgmt") + f, v6, "interval", "auto-merge; ", elements(s.managementAllow, v6));
  }
  const std::string size = "size " + std::to_string(kMeterSize) + "; ";
  for (bool v6 : {false, true}) {
    const char* f = v6 ? "6" : "4";
    set(std::string("recent") + f, v6, "dynamic, timeout",
        size + "timeout " + std::to_string(s.recentSeconds) + "s; ", "");
    set(std::string("rate") + f, v6, "dynamic, timeout",
        size + "timeout " + std::to_string(s.rateIdleSeconds) + "s; ", "");
    set(std::string("precent") + f, v6, "dynamic, timeout",
        size + "timeout " + std::to_string(s.recentSeconds) + "s; ", "");
    set(std::string("prate") + f, v6, "dynamic, timeout",
        size + "timeout " + std::to_string(s.rateIdleSeconds) + "s; ", "");
    set(std::string("conn") + f, v6, "dynamic", size, "");
    set(std::string("connp") + f, v6, "dynamic", size, "");
  }
  line(o, "");

  const std::string udp = joinPorts(s.sipUdpPorts, ", ");
  const std::string tcp = joinPorts(s.sipTcpPorts, ", ");
  line(o, "  chain input {");
  line(o, "    type filter hook input priority filter; policy drop;");
  line(o, "    iif \"lo\" accept comment \"loopback\"");
  line(o, "    ip saddr @trusted4 accept comment \"1. trusted peers (gateways, shield.trusted)\"");
  line(o, "    ip6 saddr @trusted6 accept comment \"1. trusted peers\"");
  if (!udp.empty()) line(o, "    udp dport { " + udp + " } jump sip_udp");
  if (!tcp.empty()) line(o, "    tcp dport { " + tcp + " } ct state new jump sip_tcp");
  line(o, "    ct state established,related accept");
  line(o, "    ct state invalid drop");
  if (s.rtpPortMin != 0) {
    line(o, "    udp dport " + std::to_string(s.rtpPortMin) + "-" + std::to_string(s.rtpPortMax) +
                " accept comment \"RTP media\"");
  }
  if (!s.managementPorts.empty()) {
    const std::string m = joinPorts(s.managementPorts, ", ");
    line(o, "    ip saddr @mgmt4 tcp dport { " + m + " } accept comment \"management allowlist\"");
    line(o, "    ip6 saddr @mgmt6 tcp dport { " + m + " } accept comment \"management allowlist\"");
  }
  line(o, "    meta l4proto ipv6-icmp accept comment \"IPv6 neighbour discovery, PMTU\"");
  line(o, "    meta l4proto icmp accept");
  line(o, "    counter comment \"default drop\"");
  line(o, "  }");
  line(o, "");

  line(o, "  chain sip_udp {");
  line(o, "    # 2. signatures. Scanner User-Agents (" + std::to_string(s.userAgents.size()) +
              " substrings) need a substring match,");
  line(o, "    # which nftables does not have: tollgate drops those itself before parsing,");
  line(o, "    # and the iptables export carries them as `-m string` rules.");
  for (const std::string& m : s.dropMethods) {
    const std::string token = m + " ";
    if (token.size() > kMaxPayloadMatch || !quotable(m)) {
      line(o, "    # (method " + std::string(quotable(m) ? m : "?") +
                  ": too long for a payload match; dropped by tollgate itself)");
      continue;
    }
    line(o, "    @th,64," + std::to_string(token.size() * 8) + " " + hexOf(token) +
                " counter drop comment \"" + m + " from untrusted sources\"");
  }
  line(o, "    jump limits");
  line(o, "    accept");
  line(o, "  }");
  line(o, "");

  line(o, "  chain sip_tcp {");
  line(o, "    add @conn4 { ip saddr ct count over " + std::to_string(s.maxConcurrent) +
              " } counter reject with tcp reset comment \"connlimit per address\"");
  line(o, "    add @connp4 { ip saddr & " + mask4(s.prefixV4) + " ct count over " +
              std::to_string(s.prefixMaxConcurrent) +
              " } counter reject with tcp reset comment \"connlimit per /" +
              std::to_string(s.prefixV4) + "\"");
  line(o, "    add @conn6 { ip6 saddr ct count over " + std::to_string(s.maxConcurrent) +
              " } counter reject with tcp reset comment \"connlimit per address\"");
  line(o, "    add @connp6 { ip6 saddr & " + mask6(s.prefixV6) + " ct count over " +
              std::to_string(s.prefixMaxConcurrent) +
              " } counter reject with tcp reset comment \"connlimit per /" +
              std::to_string(s.prefixV6) + "\"");
  line(o, "    jump limits");
  line(o, "    accept");
  line(o, "  }");
  line(o, "");

  line(o, "  chain limits {");
  line(o, "    # 3. rate limits per source (recent, hashlimit) and per prefix.");
  const std::string recent = nftRecent(s.recentHits, s.recentSeconds);
  const std::string rate = nftRate(s.rate) + " burst " +
                           std::to_string(static_cast<long>(std::ceil(s.burst))) + " packets";
  const std::string precent = nftRecent(s.prefixRecentHits, s.recentSeconds);
  const std::string prate = nftRate(s.prefixRate) + " burst " +
                            std::to_string(static_cast<long>(std::ceil(s.prefixBurst))) +
                            " packets";
  const std::string recentNote =
      "recent: " + std::to_string(s.recentHits) + " in " + std::to_string(s.recentSeconds) + " s";
  for (bool v6 : {false, true}) {
    const char* f = v6 ? "6" : "4";
    const std::string addr = v6 ? "ip6 saddr" : "ip saddr";
    const std::string pfx =
        v6 ? "ip6 saddr & " + mask6(s.prefixV6) : "ip saddr & " + mask4(s.prefixV4);
    line(o, std::string("    update @recent") + f + " { " + addr + " limit rate over " + recent +
                " } counter drop comment \"" + recentNote + "\"");
    line(o, std::string("    update @rate") + f + " { " + addr + " limit rate over " + rate +
                " } counter drop comment \"hashlimit\"");
    line(o, std::string("    update @precent") + f + " { " + pfx + " limit rate over " + precent +
                " } counter drop comment \"recent per prefix\"");
    line(o, std::string("    update @prate") + f + " { " + pfx + " limit rate over " + prate +
                " } counter drop comment \"hashlimit per prefix\"");
  }
  line(o, "  }");
  line(o, "}");
  return o;
}

// ---------------------------------------------------------------------------
// iptables

std::string exportIptables(const FirewallSpec& spec, bool ipv6) {
  const FirewallSpec s = deduplicated(spec);
  std::string o;
  for (const std::string& h : s.header) line(o, "# " + h);
  line(o, std::string("# Load with `") + (ipv6 ? "ip6tables-restore" : "iptables-restore") +
              " < FILE` (check first with --test). It replaces the filter table;");
  line(o, "# INPUT drops what it does not accept: review the management rule before");
  line(o, "# loading it on a remote machine.");
  line(o, "*filter");
  line(o, ":INPUT DROP [0:0]");
  line(o, ":FORWARD DROP [0:0]");
  line(o, ":OUTPUT ACCEPT [0:0]");
  line(o, ":TOLLGATE_SIP - [0:0]");
  line(o, ":TOLLGATE_SIP_TCP - [0:0]");
  line(o, ":TOLLGATE_LIMITS - [0:0]");

  const std::string udp = joinPorts(s.sipUdpPorts, ",");
  const std::string tcp = joinPorts(s.sipTcpPorts, ",");
  const int prefix = ipv6 ? s.prefixV6 : s.prefixV4;
  const std::string mask = ipv6 ? mask6(s.prefixV6) : mask4(s.prefixV4);
  const int hostBits = ipv6 ? 128 : 32;

  line(o, "-A INPUT -i lo -j ACCEPT");
  for (const net::Cidr& c : s.trusted) {
    if (c.network().isV6() != ipv6) continue;
    line(o, "-A INPUT -s " + c.network().toString() + "/" + std::to_string(c.prefixLength()) +
                " -m comment --comment \"1. trusted peer\" -j ACCEPT");
  }
  if (!udp.empty()) line(o, "-A INPUT -p udp -m multiport --dports " + udp + " -j TOLLGATE_SIP");
  if (!tcp.empty()) {
    for (const std::string& ua : s.userAgents) {
      if (!quotable(ua)) continue;
      line(o, "-A INPUT -p tcp -m multiport --dports " + tcp + " -m string --string \"" + ua +
                  "\" --algo bm --icase -m comment --comment \"2. scanner signature\" -j DROP");
    }
    line(o, "-A INPUT -p tcp -m multiport --dports " + tcp +
                " -m conntrack --ctstate NEW -j TOLLGATE_SIP_TCP");
  }
  line(o, "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT");
  line(o, "-A INPUT -m conntrack --ctstate INVALID -j DROP");
  if (s.rtpPortMin != 0) {
    line(o, "-A INPUT -p udp --dport " + std::to_string(s.rtpPortMin) + ":" +
                std::to_string(s.rtpPortMax) + " -m comment --comment \"RTP media\" -j ACCEPT");
  }
  if (!s.managementPorts.empty()) {
    const std::string m = joinPorts(s.managementPorts, ",");
    for (const net::Cidr& c : s.managementAllow) {
      if (c.network().isV6() != ipv6) continue;
      line(o, "-A INPUT -s " + c.network().toString() + "/" + std::to_string(c.prefixLength()) +
                  " -p tcp -m multiport --dports " + m +
                  " -m comment --comment \"management allowlist\" -j ACCEPT");
    }
  }
  line(o, ipv6 ? "-A INPUT -p ipv6-icmp -j ACCEPT" : "-A INPUT -p icmp -j ACCEPT");
  line(o, "-A INPUT -m comment --comment \"default drop\" -j DROP");

  // 2. signatures (UDP; TCP above, on every segment to the SIP ports).
  for (const std::string& ua : s.userAgents) {
    if (!quotable(ua)) continue;
    line(o, "-A TOLLGATE_SIP -m string --string \"" + ua +
                "\" --algo bm --icase -m comment --comment \"2. scanner signature\" -j DROP");
  }
  const int from = ipv6 ? kUdpPayloadOffsetV6 : kUdpPayloadOffsetV4;
  for (const std::string& m : s.dropMethods) {
    if (!quotable(m)) continue;
    const std::string token = m + " ";
    line(o, "-A TOLLGATE_SIP -p udp -m string --string \"" + token + "\" --algo bm --from " +
                std::to_string(from) + " --to " + std::to_string(from + token.size()) +
                " -m comment --comment \"" + m + " from untrusted sources\" -j DROP");
  }
  line(o, "-A TOLLGATE_SIP -j TOLLGATE_LIMITS");
  line(o, "-A TOLLGATE_SIP -j ACCEPT");

  line(o, "-A TOLLGATE_SIP_TCP -p tcp -m connlimit --connlimit-above " +
              std::to_string(s.maxConcurrent) + " --connlimit-mask " + std::to_string(hostBits) +
              " -j REJECT --reject-with tcp-reset");
  line(o, "-A TOLLGATE_SIP_TCP -p tcp -m connlimit --connlimit-above " +
              std::to_string(s.prefixMaxConcurrent) + " --connlimit-mask " +
              std::to_string(prefix) + " -j REJECT --reject-with tcp-reset");
  line(o, "-A TOLLGATE_SIP_TCP -j TOLLGATE_LIMITS");
  line(o, "-A TOLLGATE_SIP_TCP -j ACCEPT");

  // 3. rates. xt_recent: a source already seen `hits` times within the
  // window is dropped (and the drop counts, so a flood stays blocked).
  const std::string secs = std::to_string(s.recentSeconds);
  line(o, "-A TOLLGATE_LIMITS -m recent --name tollgate_recent --update --seconds " + secs +
              " --hitcount " + std::to_string(s.recentHits) + " -j DROP");
  line(o, "-A TOLLGATE_LIMITS -m recent --name tollgate_recent --set");
  line(o,
       "-A TOLLGATE_LIMITS -m hashlimit --hashlimit-name tollgate_rate --hashlimit-mode srcip "
       "--hashlimit-above " +
           iptRate(s.rate) + " --hashlimit-burst " +
           std::to_string(static_cast<long>(std::ceil(s.burst))) + " --hashlimit-htable-expire " +
           std::to_string(s.rateIdleSeconds * 1000) + " -j DROP");
  line(o, "-A TOLLGATE_LIMITS -m recent --name tollgate_precent --mask " + mask +
              " --update --seconds " + secs + " --hitcount " + std::to_string(s.prefixRecentHits) +
              " -j DROP");
  line(o, "-A TOLLGATE_LIMITS -m recent --name tollgate_precent --mask " + mask + " --set");
  line(o,
       "-A TOLLGATE_LIMITS -m hashlimit --hashlimit-name tollgate_prate --hashlimit-mode srcip "
       "--hashlimit-srcmask " +
           std::to_string(prefix) + " --hashlimit-above " + iptRate(s.prefixRate) +
           " --hashlimit-burst " + std::to_string(static_cast<long>(std::ceil(s.prefixBurst))) +
           " --hashlimit-htable-expire " + std::to_string(s.rateIdleSeconds * 1000) + " -j DROP");
  line(o, "COMMIT");
  return o;
}

}  // namespace tollgate::firewall
