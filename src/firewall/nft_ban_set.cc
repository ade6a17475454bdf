// libnftables driver of the kernel ban sets. See nft_ban_set.h.
#include "firewall/nft_ban_set.h"

#include <nftables/libnftables.h>

#include <algorithm>
#include <cstdlib>

namespace tollgate::firewall {

namespace {

std::string mask4(int bits) {
  uint32_t m = bits <= 0 ? 0 : (bits >= 32 ? 0xffffffffu : ~((1u << (32 - bits)) - 1));
  return std::to_string(m >> 24) + "." + std::to_string((m >> 16) & 0xff) + "." +
         std::to_string((m >> 8) & 0xff) + "." + std::to_string(m & 0xff);
}

std::string mask6(int bits) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int g = 0; g < 8 && bits > 0; ++g, bits -= 16) {
    const int b = std::min(bits, 16);
    const unsigned v = (0xffffu << (16 - b)) & 0xffffu;
    if (!out.empty()) out += ':';
    std::string group;
    for (int shift = 12; shift >= 0; shift -= 4) group += kHex[(v >> shift) & 0xf];
    group.erase(0, std::min(group.find_first_not_of('0'), group.size() - 1));
    out += group;
  }
  return out + "::";
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

NftBanSet::NftBanSet() = default;

NftBanSet::~NftBanSet() {
  if (ctx_ != nullptr) nft_ctx_free(ctx_);
}

Result<Ok, std::string> NftBanSet::run(const std::string& commands, std::string* out) {
  if (ctx_ == nullptr) {
    ctx_ = nft_ctx_new(NFT_CTX_DEFAULT);
    if (ctx_ == nullptr) return Err(std::string("nft_ctx_new failed"));
    nft_ctx_buffer_output(ctx_);
    nft_ctx_buffer_error(ctx_);
  }
  const int rc = nft_run_cmd_from_buffer(ctx_, commands.c_str());
  const char* o = nft_ctx_get_output_buffer(ctx_);
  const char* e = nft_ctx_get_error_buffer(ctx_);
  if (out != nullptr) *out = o != nullptr ? o : "";
  if (rc != 0) {
    std::string msg = trimmed(e != nullptr && *e != '\0' ? e : "nft command failed");
    // Keep the first line: the rest repeats the command with a caret.
    if (size_t nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    return Err(std::move(msg));
  }
  return Ok{};
}

Result<Ok, std::string> NftBanSet::open(const NftSetup& setup) {
  setup_ = setup;
  std::string ports;
  for (uint16_t p : setup.ports) {
    if (!ports.empty()) ports += ", ";
    ports += std::to_string(p);
  }
  if (ports.empty()) return Err(std::string("no SIP ports to protect"));
  const std::string t = "inet " + setup.table;
  const std::string size = "size " + std::to_string(setup.maxElements) + "; ";
  std::string c;
  c += "add table " + t + "\n";
  c += "delete table " + t + "\n";
  c += "table " + t + " {\n";
  c += "  set trusted4 { type ipv4_addr; flags interval; auto-merge; }\n";
  c += "  set trusted6 { type ipv6_addr; flags interval; auto-merge; }\n";
  for (const char* f : {"4", "6"}) {
    const std::string type = f[0] == '4' ? "ipv4_addr" : "ipv6_addr";
    c += std::string("  set ban") + f + " { type " + type + "; " + size +
         "flags timeout; counter; }\n";
    c += std::string("  set ban") + f + "_pfx { type " + type + "; " + size +
         "flags timeout; counter; }\n";
    c += std::string("  set ban") + f + "_net { type " + type + "; " + size +
         "flags interval, timeout; counter; }\n";
  }
  c += "  counter banned_drops { }\n";
  c += "  chain input {\n";
  // Before the usual filter chains (priority 0); a drop here is final.
  c += "    type filter hook input priority filter - 10; policy accept;\n";
  c += "    meta l4proto { tcp, udp } th dport { " + ports + " } jump sip\n";
  c += "  }\n";
  c += "  chain sip {\n";
  c += "    ip saddr @trusted4 return\n";
  c += "    ip6 saddr @trusted6 return\n";
  c += "    ip saddr @ban4 counter name banned_drops drop\n";
  c += "    ip saddr & " + mask4(setup.prefixV4) + " @ban4_pfx counter name banned_drops drop\n";
  c += "    ip saddr @ban4_net counter name banned_drops drop\n";
  c += "    ip6 saddr @ban6 counter name banned_drops drop\n";
  c += "    ip6 saddr & " + mask6(setup.prefixV6) + " @ban6_pfx counter name banned_drops drop\n";
  c += "    ip6 saddr @ban6_net counter name banned_drops drop\n";
  c += "  }\n";
  c += "}\n";
  auto r = run(c);
  if (!r) return r;
  open_ = true;
  return Ok{};
}

void NftBanSet::close() {
  if (!open_) return;
  (void)run("delete table inet " + setup_.table + "\n");
  open_ = false;
}

std::string NftBanSet::setFor(const net::Cidr& prefix) const {
  const bool v4 = prefix.network().isV4();
  const std::string base = v4 ? "ban4" : "ban6";
  if (prefix.isHost()) return base;
  if (prefix.prefixLength() == (v4 ? setup_.prefixV4 : setup_.prefixV6)) return base + "_pfx";
  return base + "_net";
}

std::string NftBanSet::elementFor(const net::Cidr& prefix, const std::string& set) {
  if (prefix.isHost() || (set.size() > 4 && set.compare(set.size() - 4, 4, "_pfx") == 0)) {
    return prefix.network().toString();
  }
  return prefix.toString();
}

size_t NftBanSet::add(const std::vector<NftBan>& bans, std::string* error) {
  if (!open_ || bans.empty()) return 0;
  auto command = [this](const NftBan& b) {
    const std::string set = setFor(b.prefix);
    std::string c =
        "add element inet " + setup_.table + " " + set + " { " + elementFor(b.prefix, set);
    if (b.timeoutSeconds > 0) {
      c += " timeout " + std::to_string(std::min(b.timeoutSeconds, kMaxNftTimeoutSeconds)) + "s";
    }
    return c + " }\n";
  };
  std::string all;
  for (const NftBan& b : bans) all += command(b);
  if (run(all)) return 0;
  // One bad element fails the whole transaction: place the others alone.
  size_t failed = 0;
  for (const NftBan& b : bans) {
    auto r = run(command(b));
    if (!r) {
      ++failed;
      if (error != nullptr) *error = r.error();
    }
  }
  return failed;
}

void NftBanSet::remove(const std::vector<net::Cidr>& prefixes) {
  if (!open_) return;
  for (const net::Cidr& p : prefixes) {
    const std::string set = setFor(p);
    // One at a time: an element the kernel already expired fails alone.
    (void)run("delete element inet " + setup_.table + " " + set + " { " + elementFor(p, set) +
              " }\n");
  }
}

Result<Ok, std::string> NftBanSet::setTrusted(const std::vector<net::Cidr>& trusted) {
  if (!open_) return Err(std::string("not open"));
  std::string c = "flush set inet " + setup_.table + " trusted4\n";
  c += "flush set inet " + setup_.table + " trusted6\n";
  std::string v4, v6;
  for (const net::Cidr& p : trusted) {
    std::string& list = p.network().isV4() ? v4 : v6;
    if (!list.empty()) list += ", ";
    list += p.isHost() ? p.network().toString() : p.toString();
  }
  if (!v4.empty()) c += "add element inet " + setup_.table + " trusted4 { " + v4 + " }\n";
  if (!v6.empty()) c += "add element inet " + setup_.table + " trusted6 { " + v6 + " }\n";
  return run(c);
}

Result<uint64_t, std::string> NftBanSet::droppedPackets() {
  if (!open_) return Err(std::string("not open"));
  std::string out;
  auto r = run("list counter inet " + setup_.table + " banned_drops\n", &out);
  if (!r) return Err(r.error());
  const size_t at = out.find("packets ");
  if (at == std::string::npos) return Err(std::string("no packet count in: ") + out);
  return static_cast<uint64_t>(std::strtoull(out.c_str() + at + 8, nullptr, 10));
}

}  // namespace tollgate::firewall
