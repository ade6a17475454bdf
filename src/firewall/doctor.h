// `tollgate doctor`: checks the kernel settings a SIP edge under attack
// depends on (conntrack table size and UDP timeouts, socket buffer limits,
// the input backlog, the capability kernel offload needs) and the modes of
// the files that hold secrets (the store, the local API token: nobody but
// their owner may read them), and says what to change and why. Reads
// sysctls under a root directory (/proc/sys, or a test tree); the file
// paths come from the caller. Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tollgate::firewall {

struct DoctorInput {
  std::string procSys = "/proc/sys";
  std::string procStatus = "/proc/self/status";  // for CapEff
  int64_t udpReceiveBuffer = 4 << 20;            // what tollgate asks per UDP socket
  int64_t udpSendBuffer = 1 << 20;
  bool kernelOffload = false;  // firewall.kernel_offload
  // Files that hold secrets (the store's database first, then its -wal,
  // -shm, ..., the API token); each that exists must be 0600 or narrower.
  // The first is listed even when absent.
  std::vector<std::string> privateFiles;
  // Their directory: no access for group or others.
  std::string privateDirectory;
};

struct DoctorCheck {
  std::string setting;      // "net.netfilter.nf_conntrack_max"
  std::string current;      // as read, or "absent"
  std::string recommended;  // ">= 1048576"
  bool ok = true;
  std::string why;
  std::string value;    // the value to set when not ok ("" = nothing to set)
  std::string command;  // a non-sysctl fix when not ok ("chmod 600 /var/lib/...")
};

std::vector<DoctorCheck> runDoctor(const DoctorInput& in);
// The report: a table, the reasons, then the commands to apply and persist.
std::string formatDoctor(const std::vector<DoctorCheck>& checks);

// Recommended values (docs/shield.md, "Kernel settings").
inline constexpr int64_t kRecommendedConntrackMax = 1'048'576;
inline constexpr int64_t kRecommendedUdpTimeout = 30;
inline constexpr int64_t kRecommendedUdpStreamTimeout = 60;
inline constexpr int64_t kRecommendedBacklog = 10'000;
// Share of the conntrack table in use above which the table is "filling".
inline constexpr int kConntrackFullPercent = 75;

}  // namespace tollgate::firewall
