// Firewall layer: the exported rulesets' content, the doctor on a fake
// /proc/sys, and NftBanSet against the real kernel inside a private network
// namespace (a forked child that unshares its network; skipped where that
// is not allowed). The exports are loaded by nft and iptables-restore in
// namespaces by tests/integration/test_firewall.py.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "firewall/doctor.h"
#include "firewall/nft_ban_set.h"
#include "firewall/rules.h"

namespace tollgate::firewall {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

net::Cidr cidr(const char* t) {
  return *net::Cidr::parse(t);
}

FirewallSpec spec() {
  FirewallSpec s;
  s.sipUdpPorts = {5060};
  s.sipTcpPorts = {5060, 5080};
  s.trusted = {cidr("192.0.2.10"), cidr("198.51.100.0/28"), cidr("2001:db8::7"),
               cidr("192.0.2.10")};  // a gateway listed twice appears once
  s.userAgents = {"friendly-scanner", "sipvicious"};
  s.dropMethods = {"OPTIONS"};
  s.rtpPortMin = 16000;
  s.rtpPortMax = 32000;
  s.managementPorts = {22, 8080};
  s.managementAllow = {cidr("10.0.0.0/8")};
  s.header = {"generated for a test"};
  return s;
}

TEST(FirewallRulesTest, NftHasEveryLayerInOrder) {
  const std::string nft = exportNft(spec());
  EXPECT_THAT(nft, HasSubstr("table inet tollgate_filter {"));
  EXPECT_THAT(nft, HasSubstr("elements = { 192.0.2.10, 198.51.100.0/28 }"));
  EXPECT_THAT(nft, HasSubstr("elements = { 2001:db8::7 }"));
  EXPECT_THAT(nft, HasSubstr("policy drop;"));
  // OPTIONS<SP> as the first 8 payload bytes of a datagram.
  EXPECT_THAT(nft, HasSubstr("@th,64,64 0x4f5054494f4e5320 counter drop"));
  EXPECT_THAT(nft, HasSubstr("limit rate over 20/minute burst 20 packets"));
  EXPECT_THAT(nft, HasSubstr("limit rate over 10/second burst 20 packets"));
  EXPECT_THAT(nft, HasSubstr("ip saddr & 255.255.255.0 limit rate over 30/second burst 60"));
  EXPECT_THAT(nft, HasSubstr("ip6 saddr & ffff:ffff:ffff:ffff:: limit rate over"));
  EXPECT_THAT(nft, HasSubstr("ct count over 10 }"));
  EXPECT_THAT(nft, HasSubstr("ct count over 30 }"));
  EXPECT_THAT(nft, HasSubstr("udp dport 16000-32000 accept"));
  EXPECT_THAT(nft, HasSubstr("tcp dport { 22, 8080 } accept"));
  EXPECT_THAT(nft, HasSubstr("tcp dport { 5060, 5080 } ct state new jump sip_tcp"));
  const size_t trusted = nft.find("ip saddr @trusted4 accept");
  const size_t sip = nft.find("jump sip_udp");
  const size_t drop = nft.find("default drop");
  ASSERT_NE(trusted, std::string::npos);
  EXPECT_LT(trusted, sip);
  EXPECT_LT(sip, drop);
}

TEST(FirewallRulesTest, IptablesHasStringRecentHashlimitConnlimit) {
  const std::string v4 = exportIptables(spec(), false);
  EXPECT_THAT(v4, HasSubstr("*filter\n:INPUT DROP [0:0]"));
  EXPECT_THAT(v4, HasSubstr("-A INPUT -s 192.0.2.10/32 "));
  EXPECT_EQ(v4.find("-s 192.0.2.10/32 "), v4.rfind("-s 192.0.2.10/32 ")) << "listed once";
  EXPECT_THAT(v4, HasSubstr("-A INPUT -s 198.51.100.0/28 "));
  EXPECT_THAT(v4, Not(HasSubstr("2001:db8")));
  EXPECT_THAT(v4, HasSubstr("-m string --string \"friendly-scanner\" --algo bm --icase"));
  EXPECT_THAT(v4, HasSubstr("--string \"OPTIONS \" --algo bm --from 28 --to 36"));
  EXPECT_THAT(v4, HasSubstr("--update --seconds 60 --hitcount 20 -j DROP"));
  EXPECT_THAT(v4, HasSubstr("--hashlimit-above 10/sec --hashlimit-burst 20 "
                            "--hashlimit-htable-expire 30000"));
  EXPECT_THAT(v4, HasSubstr("--connlimit-above 10 --connlimit-mask 32"));
  EXPECT_THAT(v4, HasSubstr("--connlimit-above 30 --connlimit-mask 24"));
  EXPECT_THAT(v4, HasSubstr("--dport 16000:32000"));
  EXPECT_THAT(v4, HasSubstr("-s 10.0.0.0/8 -p tcp -m multiport --dports 22,8080"));
  EXPECT_THAT(v4, HasSubstr("COMMIT\n"));

  const std::string v6 = exportIptables(spec(), true);
  EXPECT_THAT(v6, HasSubstr("-A INPUT -s 2001:db8::7/128 "));
  EXPECT_THAT(v6, Not(HasSubstr("192.0.2.10")));
  EXPECT_THAT(v6, HasSubstr("--from 48 --to 56"));
  EXPECT_THAT(v6, HasSubstr("--connlimit-mask 64"));
  EXPECT_THAT(v6, HasSubstr("--mask ffff:ffff:ffff:ffff::"));
  EXPECT_THAT(v6, HasSubstr("-p ipv6-icmp -j ACCEPT"));
}

TEST(FirewallRulesTest, SlowRatesUseLongerUnits) {
  FirewallSpec s = spec();
  s.rate = 0.5;
  s.prefixRate = 0.01;
  s.recentHits = 5;
  s.recentSeconds = 600;
  const std::string nft = exportNft(s);
  EXPECT_THAT(nft, HasSubstr("limit rate over 30/minute burst 20"));
  EXPECT_THAT(nft, HasSubstr("limit rate over 36/hour burst 60"));
  EXPECT_THAT(nft, HasSubstr("limit rate over 1/minute burst 5 packets"));
  EXPECT_THAT(exportIptables(s, false), HasSubstr("--hashlimit-above 30/min"));
}

class FakeProc {
 public:
  FakeProc() {
    char tmpl[] = "/tmp/tollgate-doctor-XXXXXX";
    root_ = mkdtemp(tmpl);
  }
  ~FakeProc() { std::filesystem::remove_all(root_); }
  void set(const std::string& setting, const std::string& value) {
    std::string p = root_ + "/sys/";
    for (char c : setting) p += c == '.' ? '/' : c;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p) << value << "\n";
  }
  void status(const std::string& capEff) {
    std::ofstream(root_ + "/status") << "Name:\tx\nCapEff:\t" << capEff << "\n";
  }
  DoctorInput input() const {
    DoctorInput in;
    in.procSys = root_ + "/sys";
    in.procStatus = root_ + "/status";
    return in;
  }

 private:
  std::string root_;
};

const DoctorCheck* find(const std::vector<DoctorCheck>& v, const std::string& s) {
  for (const auto& c : v) {
    if (c.setting == s) return &c;
  }
  return nullptr;
}

TEST(DoctorTest, FlagsSmallConntrackAndBuffersWithTheFix) {
  FakeProc p;
  p.set("net.netfilter.nf_conntrack_max", "65536");
  p.set("net.netfilter.nf_conntrack_count", "60000");
  p.set("net.netfilter.nf_conntrack_udp_timeout", "30");
  p.set("net.netfilter.nf_conntrack_udp_timeout_stream", "120");
  p.set("net.core.rmem_max", "212992");
  p.set("net.core.wmem_max", "4194304");
  p.set("net.core.netdev_max_backlog", "1000");
  auto checks = runDoctor(p.input());
  EXPECT_FALSE(find(checks, "net.netfilter.nf_conntrack_max")->ok);
  EXPECT_EQ(find(checks, "net.netfilter.nf_conntrack_max")->value, "1048576");
  EXPECT_FALSE(find(checks, "net.netfilter.nf_conntrack_count")->ok);
  EXPECT_TRUE(find(checks, "net.netfilter.nf_conntrack_udp_timeout")->ok);
  EXPECT_FALSE(find(checks, "net.netfilter.nf_conntrack_udp_timeout_stream")->ok);
  EXPECT_FALSE(find(checks, "net.core.rmem_max")->ok);
  EXPECT_TRUE(find(checks, "net.core.wmem_max")->ok);
  EXPECT_FALSE(find(checks, "net.core.netdev_max_backlog")->ok);
  EXPECT_EQ(find(checks, "CAP_NET_ADMIN"), nullptr) << "only checked with kernel offload on";
  const std::string report = formatDoctor(checks);
  EXPECT_THAT(report, HasSubstr("5 setting(s) to change"));
  EXPECT_THAT(report, HasSubstr("sysctl -w net.netfilter.nf_conntrack_max=1048576"));
  EXPECT_THAT(report, HasSubstr("sysctl -w net.core.rmem_max=4194304"));
  EXPECT_THAT(report, HasSubstr("/etc/sysctl.d/90-tollgate.conf"));
  EXPECT_THAT(report, HasSubstr("net.netfilter.nf_conntrack_udp_timeout_stream = 60"));
}

TEST(DoctorTest, AllGoodAndNoConntrack) {
  FakeProc p;
  p.set("net.core.rmem_max", "8388608");
  p.set("net.core.wmem_max", "8388608");
  p.set("net.core.netdev_max_backlog", "20000");
  p.status("0000000000001000");  // CAP_NET_ADMIN only
  DoctorInput in = p.input();
  in.kernelOffload = true;
  auto checks = runDoctor(in);
  for (const auto& c : checks) EXPECT_TRUE(c.ok) << c.setting;
  EXPECT_THAT(find(checks, "net.netfilter.nf_conntrack_max")->why, HasSubstr("not loaded"));
  EXPECT_EQ(find(checks, "CAP_NET_ADMIN")->current, "yes");
  EXPECT_THAT(formatDoctor(checks), HasSubstr("all checks pass"));
  p.status("0000000000000000");
  EXPECT_FALSE(find(runDoctor(in), "CAP_NET_ADMIN")->ok);
}

TEST(DoctorTest, FlagsStoreFilesAndDirectoryOthersCanRead) {
  FakeProc p;
  const std::string dir = p.input().procSys + "/../store";
  std::filesystem::create_directories(dir);
  const std::string db = dir + "/tollgate.db";
  std::ofstream(db) << "x";
  std::ofstream(db + "-wal") << "x";
  ASSERT_EQ(::chmod(db.c_str(), 0644), 0);
  ASSERT_EQ(::chmod((db + "-wal").c_str(), 0600), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  DoctorInput in = p.input();
  in.privateFiles = {db, db + "-wal", db + "-shm", db + ".api-token"};
  in.privateDirectory = dir;
  auto checks = runDoctor(in);
  ASSERT_NE(find(checks, db), nullptr);
  EXPECT_FALSE(find(checks, db)->ok);
  EXPECT_EQ(find(checks, db)->current, "0644");
  EXPECT_TRUE(find(checks, db + "-wal")->ok);
  EXPECT_EQ(find(checks, db + "-shm"), nullptr) << "absent side files are not listed";
  EXPECT_FALSE(find(checks, dir)->ok);
  const std::string report = formatDoctor(checks);
  EXPECT_THAT(report, HasSubstr("chmod 600 " + db));
  EXPECT_THAT(report, HasSubstr("chmod 700 " + dir));

  ASSERT_EQ(::chmod(db.c_str(), 0600), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 01777), 0);
  checks = runDoctor(in);
  EXPECT_TRUE(find(checks, db)->ok);
  EXPECT_FALSE(find(checks, dir)->ok);
  EXPECT_THAT(find(checks, dir)->why, HasSubstr("directory of its own"));
  EXPECT_THAT(formatDoctor(checks), Not(HasSubstr("chmod 700")))
      << "never advise chmod of a shared directory like /tmp";

  ASSERT_EQ(::chmod(dir.c_str(), 0700), 0);
  std::filesystem::remove(db);
  checks = runDoctor(in);
  EXPECT_TRUE(find(checks, db)->ok);
  EXPECT_EQ(find(checks, db)->current, "absent");
  EXPECT_TRUE(find(checks, dir)->ok);
}

// Runs `body` in a forked child inside a fresh network namespace; the
// child's exit code is the result (0 pass, 77 skip, else fail).
int inNetns(const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    if (unshare(CLONE_NEWNET) != 0) _exit(77);
    _exit(body());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

TEST(NftBanSetTest, TableSetsAndElementsInARealKernel) {
  int rc = inNetns([] {
    NftBanSet set;
    NftSetup setup;
    setup.table = "tgtest";
    setup.ports = {5060, 5070};
    auto opened = set.open(setup);
    if (!opened) {
      std::fprintf(stderr, "open: %s\n", opened.error().c_str());
      return opened.error().find("Operation not permitted") != std::string::npos ? 77 : 1;
    }
    std::string err;
    size_t failed = set.add({{cidr("192.0.2.7"), 600},
                             {cidr("198.51.100.0/24"), 60},
                             {cidr("10.0.0.0/8"), 0},
                             {cidr("2001:db8:1:2::/64"), 60},
                             {cidr("2001:db8::1"), 60}},
                            &err);
    if (failed != 0) return std::fprintf(stderr, "add: %s\n", err.c_str()), 2;
    // An operator CIDR overlapping another: refused alone, the rest goes in.
    failed = set.add({{cidr("10.1.0.0/16"), 0}, {cidr("192.0.2.8"), 10}}, &err);
    if (failed != 1) return std::fprintf(stderr, "overlap: %zu\n", failed), 3;
    if (!set.setTrusted({cidr("127.0.0.1"), cidr("127.0.0.0/8"), cidr("::1")})) return 4;
    std::string out;
    if (!set.run("list table inet tgtest\n", &out)) return 5;
    for (const char* want :
         {"192.0.2.7 counter", "192.0.2.8 counter", "198.51.100.0 counter", "10.0.0.0/8",
          "2001:db8:1:2:: counter", "2001:db8::1 counter", "127.0.0.0/8", "::1",
          "th dport { 5060, 5070 } jump sip", "ip saddr & 255.255.255.0 == @ban4_pfx"}) {
      if (out.find(want) == std::string::npos) {
        std::fprintf(stderr, "missing %s in\n%s\n", want, out.c_str());
        return 6;
      }
    }
    set.remove({cidr("192.0.2.7"), cidr("10.0.0.0/8"), cidr("203.0.113.1")});
    if (!set.run("list table inet tgtest\n", &out)) return 7;
    if (out.find("192.0.2.7 ") != std::string::npos ||
        out.find("10.0.0.0/8") != std::string::npos) {
      return 8;
    }
    auto drops = set.droppedPackets();
    if (!drops || *drops != 0) return 9;
    set.close();
    if (set.run("list table inet tgtest\n", &out)) return 10;  // gone
    return 0;
  });
  if (rc == 77) GTEST_SKIP() << "network namespaces or nf_tables are not available here";
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace tollgate::firewall
