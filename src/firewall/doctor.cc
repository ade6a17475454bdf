// Kernel settings checks. See doctor.h.
#include "firewall/doctor.h"

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/private_files.h"

namespace tollgate::firewall {

namespace {

// CAP_NET_ADMIN (linux/capability.h): needed to create nftables tables.
constexpr int kCapNetAdmin = 12;

std::optional<std::string> readFirst(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

std::optional<int64_t> readInt(const std::string& path) {
  auto s = readFirst(path);
  if (!s || s->empty()) return std::nullopt;
  try {
    return std::stoll(*s);
  } catch (...) {
    return std::nullopt;
  }
}

std::string pathOf(const std::string& root, const std::string& setting) {
  std::string p = root;
  p += '/';
  for (char c : setting) p += c == '.' ? '/' : c;
  return p;
}

bool hasCapability(const std::string& status, int cap) {
  std::ifstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    const uint64_t mask = std::stoull(line.substr(7), nullptr, 16);
    return (mask >> cap) & 1u;
  }
  return false;
}

// A file that holds secrets: nobody but its owner may read it. Each check is
// named by its path.
void fileChecks(const DoctorInput& in, std::vector<DoctorCheck>& out) {
  for (size_t i = 0; i < in.privateFiles.size(); ++i) {
    const std::string& path = in.privateFiles[i];
    auto info = files::inspect(path);
    const bool absent = info && !*info;
    if (absent && i > 0) continue;  // no -wal while nothing has it open: fine
    DoctorCheck c;
    c.setting = path;
    c.recommended = files::octal(files::kPrivateFileMode);
    if (!info) {
      c.current = "unreadable";
      c.ok = false;
      c.why = info.error();
    } else if (absent) {
      c.current = "absent";
      c.why = "not created yet: tollgate creates it 0600";
    } else {
      c.current = files::octal((*info)->mode);
      c.ok = !files::openToOthers((*info)->mode);
      c.why = c.ok ? "readable by its owner only"
                   : "holds secrets (HA1 digests that authenticate as the account, carrier "
                     "passwords in clear, session and token hashes) and other users can read "
                     "it; tollgate tightens it the next time it opens the store";
      if (!c.ok) c.command = "chmod 600 " + path;
    }
    out.push_back(c);
  }
  if (in.privateDirectory.empty()) return;
  auto info = files::inspect(in.privateDirectory);
  if (info && !*info) return;  // tollgate creates it 0700
  DoctorCheck c;
  c.setting = in.privateDirectory;
  c.recommended = files::octal(files::kPrivateDirectoryMode);
  if (!info) {
    c.current = "unreadable";
    c.ok = false;
    c.why = info.error();
    out.push_back(c);
    return;
  }
  const unsigned mode = (*info)->mode;
  c.current = files::octal(mode);
  c.ok = !files::openToOthers(mode);
  if (c.ok) {
    c.why = "the store's directory: its owner's only";
  } else if ((mode & 0022) != 0 || (mode & 01000) != 0) {
    // Writable by others (or a shared sticky directory like /tmp): they can
    // plant or swap files next to the store; chmod of a shared directory
    // would break its other users.
    c.why =
        "others can create files next to the store (and, without the sticky bit, replace "
        "it): move the store into a directory of its own, owned by the user tollgate runs "
        "as, mode 0700";
  } else {
    c.why =
        "others can list the store's files; tollgate leaves an existing directory as it "
        "is (it may be shared)";
    c.command = "chmod 700 " + in.privateDirectory;
  }
  out.push_back(c);
}

}  // namespace

std::vector<DoctorCheck> runDoctor(const DoctorInput& in) {
  std::vector<DoctorCheck> out;
  auto atLeast = [&](const std::string& setting, int64_t want, const std::string& why) {
    DoctorCheck c;
    c.setting = setting;
    c.recommended = ">= " + std::to_string(want);
    c.why = why;
    auto v = readInt(pathOf(in.procSys, setting));
    c.current = v ? std::to_string(*v) : "absent";
    c.ok = v && *v >= want;
    if (!c.ok && v) c.value = std::to_string(want);
    if (!v) c.ok = true, c.why = "not present on this kernel; nothing to tune";
    out.push_back(c);
  };
  auto atMost = [&](const std::string& setting, int64_t want, const std::string& why) {
    DoctorCheck c;
    c.setting = setting;
    c.recommended = "<= " + std::to_string(want);
    c.why = why;
    auto v = readInt(pathOf(in.procSys, setting));
    c.current = v ? std::to_string(*v) : "absent";
    c.ok = !v || *v <= want;
    if (!c.ok) c.value = std::to_string(want);
    out.push_back(c);
  };

  const auto ctMax = readInt(pathOf(in.procSys, "net.netfilter.nf_conntrack_max"));
  if (!ctMax) {
    DoctorCheck c;
    c.setting = "net.netfilter.nf_conntrack_max";
    c.current = "absent";
    c.recommended = ">= " + std::to_string(kRecommendedConntrackMax);
    c.why =
        "connection tracking is not loaded, so no conntrack table can fill up; load it "
        "(modprobe nf_conntrack) before using an exported ruleset, whose established/connlimit "
        "rules need it";
    out.push_back(c);
  } else {
    atLeast("net.netfilter.nf_conntrack_max", kRecommendedConntrackMax,
            "every UDP source a flood spoofs takes a conntrack entry; when the table is full "
            "(65536 on many systems) the kernel drops new flows, legitimate calls included, "
            "before tollgate sees them. An entry is ~300 bytes: 1 M entries cost ~300 MB");
    if (auto count = readInt(pathOf(in.procSys, "net.netfilter.nf_conntrack_count"))) {
      DoctorCheck c;
      c.setting = "net.netfilter.nf_conntrack_count";
      c.current = std::to_string(*count);
      c.recommended = "< " + std::to_string(kConntrackFullPercent) + "% of nf_conntrack_max";
      c.ok = *ctMax <= 0 || *count * 100 < *ctMax * kConntrackFullPercent;
      c.why = c.ok ? "the table has room now"
                   : "the table is filling up now: raise nf_conntrack_max, shorten the UDP "
                     "timeouts, or find the flood (tollgate ban list)";
      out.push_back(c);
    }
    atMost("net.netfilter.nf_conntrack_udp_timeout", kRecommendedUdpTimeout,
           "a one-way UDP flow (a scanner or a spoofed flood: nobody answers) holds its entry "
           "this long; short means the table empties as fast as a flood fills it");
    atMost("net.netfilter.nf_conntrack_udp_timeout_stream", kRecommendedUdpStreamTimeout,
           "answered UDP flows (SIP signalling, RTP) are refreshed by every packet; a dead one "
           "needs no more than a minute before its entry is freed");
  }
  atLeast("net.core.rmem_max", in.udpReceiveBuffer,
          "tollgate asks for a " + std::to_string(in.udpReceiveBuffer >> 20) +
              " MiB receive buffer per UDP socket; without CAP_NET_ADMIN the kernel caps it at "
              "rmem_max, and a burst then overflows the socket and drops packets of "
              "legitimate calls along with the flood");
  atLeast("net.core.wmem_max", in.udpSendBuffer,
          "the send buffer tollgate asks for (" + std::to_string(in.udpSendBuffer >> 20) +
              " MiB) is capped at wmem_max the same way; a small one drops responses in a "
              "burst");
  atLeast("net.core.netdev_max_backlog", kRecommendedBacklog,
          "packets queued per CPU before the network stack takes them; the default 1000 "
          "overflows under a flood and drops traffic before any firewall rule or tollgate "
          "sees it");

  if (in.kernelOffload) {
    DoctorCheck c;
    c.setting = "CAP_NET_ADMIN";
    const bool cap = hasCapability(in.procStatus, kCapNetAdmin);
    c.current = cap ? "yes" : "no";
    c.recommended = "yes";
    c.ok = cap;
    c.why = cap ? "kernel offload can create its nftables table"
                : "firewall.kernel_offload needs it to create its nftables table; without it "
                  "the node runs in user-space-only mode (grant it with "
                  "AmbientCapabilities=CAP_NET_ADMIN in the systemd unit, or run as root)";
    out.push_back(c);
  }
  fileChecks(in, out);
  return out;
}

std::string formatDoctor(const std::vector<DoctorCheck>& checks) {
  size_t bad = 0;
  for (const auto& c : checks) bad += c.ok ? 0 : 1;
  std::ostringstream o;
  o << "tollgate doctor: "
    << (bad == 0 ? "all checks pass" : std::to_string(bad) + " setting(s) to change") << "\n\n";
  char buf[512];
  std::snprintf(buf, sizeof buf, "  %-7s %-46s %-10s %s\n", "STATUS", "SETTING", "NOW",
                "RECOMMENDED");
  o << buf;
  for (const auto& c : checks) {
    std::snprintf(buf, sizeof buf, "  %-7s %-46s %-10s %s\n", c.ok ? "ok" : "CHANGE",
                  c.setting.c_str(), c.current.c_str(), c.recommended.c_str());
    o << buf << "          why: " << c.why << "\n";
  }
  std::string apply, persist;
  for (const auto& c : checks) {
    if (c.ok) continue;
    if (!c.command.empty()) apply += "  " + c.command + "\n";
    if (c.value.empty()) continue;
    apply += "  sysctl -w " + c.setting + "=" + c.value + "\n";
    persist += "  " + c.setting + " = " + c.value + "\n";
  }
  if (!apply.empty()) o << "\nTo apply now (as root):\n" << apply;
  if (!persist.empty()) {
    o << "\nTo keep them after a reboot, put these lines in /etc/sysctl.d/90-tollgate.conf:\n"
      << persist;
  }
  return o.str();
}

}  // namespace tollgate::firewall
