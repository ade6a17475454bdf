// The Redis link against a real redis-server started by each test (skipped
// with a message when redis-server is not installed; `make test` installs
// it): RESP encoding and parsing, pipelining order, refusal while down,
// reply timeouts, reconnection, NOSCRIPT fallback, pub/sub.
#include "cluster/redis_link.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster.h"
#include "cluster/resp.h"
#include "common/clock.h"
#include "common/event_loop.h"

namespace tollgate::cluster {
namespace {

constexpr const char* kRedisServer = "/usr/bin/redis-server";

uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// One redis-server child on 127.0.0.1:port, no persistence.
class RedisProcess {
 public:
  explicit RedisProcess(uint16_t port) : port_(port) {}
  ~RedisProcess() { kill(); }

  bool start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      std::string port = std::to_string(port_);
      ::execl(kRedisServer, kRedisServer, "--port", port.c_str(), "--bind", "127.0.0.1", "--save",
              "", "--appendonly", "no", "--enable-debug-command", "yes", "--loglevel", "warning",
              "--dir", "/tmp", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Ready when it accepts.
    for (int i = 0; i < 200; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(port_);
      bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (ok) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  uint16_t port() const { return port_; }

 private:
  uint16_t port_;
  pid_t pid_ = -1;
};

class RedisLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kRedisServer, X_OK) != 0) {
      GTEST_SKIP() << "redis-server not installed (apt-get install redis-server; make test does)";
    }
    redis_ = std::make_unique<RedisProcess>(freePort());
    ASSERT_TRUE(redis_->start()) << "redis-server did not start";
    settings_.enabled = true;
    settings_.redis = {{"127.0.0.1", redis_->port()}};
    settings_.timeout = Millis(300);
    settings_.reconnectInterval = Millis(50);
    settings_.heartbeat = Millis(200);
  }

  template <typename Pred>
  bool runUntil(Pred pred, Millis limit = Millis(3000)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      loop_.runOnce(Millis(5));
    }
    return true;
  }

  SystemClock clock_;
  EventLoop loop_{clock_};
  ClusterSettings settings_;
  std::unique_ptr<RedisProcess> redis_;
};

TEST(RespTest, EncodesCommandsAsArraysOfBulkStrings) {
  std::string out;
  encodeCommand({"SET", "k", std::string("a\0b", 3)}, &out);
  EXPECT_EQ(out, std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\0b\r\n", 29));
}

TEST(RespTest, ParsesNestedRepliesFedOneByteAtATime) {
  const std::string wire = "+OK\r\n:42\r\n$-1\r\n-ERR nope\r\n*2\r\n$3\r\nabc\r\n*1\r\n:-7\r\n";
  RespParser p;
  std::vector<RedisReply> got;
  for (char c : wire) {
    ASSERT_TRUE(p.feed(std::string_view(&c, 1)));
    bool error = false;
    while (auto r = p.next(&error)) got.push_back(*r);
    ASSERT_FALSE(error);
  }
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].type, RedisReply::Type::Status);
  EXPECT_EQ(got[0].str, "OK");
  EXPECT_EQ(got[1].integer, 42);
  EXPECT_EQ(got[2].type, RedisReply::Type::Nil);
  EXPECT_TRUE(got[3].isError());
  EXPECT_EQ(got[3].str, "ERR nope");
  ASSERT_EQ(got[4].elements.size(), 2u);
  EXPECT_EQ(got[4].elements[0].str, "abc");
  EXPECT_EQ(got[4].elements[1].elements[0].integer, -7);
}

TEST(RespTest, ProtocolErrorIsReported) {
  RespParser p;
  ASSERT_TRUE(p.feed("?garbage\r\n"));
  bool error = false;
  EXPECT_FALSE(p.next(&error));
  EXPECT_TRUE(error);
}

TEST(RedisScriptTest, Sha1IsRedisScriptId) {
  // redis-cli SCRIPT LOAD "return 1" -> e0e1f9fabfc9d4800c877a703b823ac0578ff8db
  EXPECT_EQ(RedisScript("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST_F(RedisLinkTest, PipelinedCommandsAnswerInOrderInOneWrite) {
  RedisLink link(loop_, settings_);
  link.start();
  ASSERT_TRUE(runUntil([&] { return link.up(); }));
  std::vector<int64_t> seen;
  constexpr int kCount = 2000;
  for (int i = 0; i < kCount; ++i) {
    link.command({"INCR", "counter"}, [&](const RedisReply* r) {
      ASSERT_NE(r, nullptr);
      seen.push_back(r->integer);
    });
  }
  // (plus the PING the link sends when it comes up, maybe still unanswered)
  EXPECT_GE(link.stats().pending, static_cast<size_t>(kCount))
      << "nothing answered before the flush";
  ASSERT_TRUE(runUntil([&] { return seen.size() == kCount; }));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(seen[i], i + 1);
  EXPECT_EQ(link.stats().pending, 0u);
  EXPECT_EQ(link.stats().role, RedisRole::Master);
  EXPECT_EQ(link.stats().address, "127.0.0.1:" + std::to_string(redis_->port()));
}

TEST_F(RedisLinkTest, CommandWhileDownIsRefusedLaterNeverReentrantly) {
  RedisLink link(loop_, settings_);  // not started
  bool called = false;
  const RedisReply* got = reinterpret_cast<const RedisReply*>(1);
  link.command({"PING"}, [&](const RedisReply* r) {
    called = true;
    got = r;
  });
  EXPECT_FALSE(called) << "the callback must not run inside command()";
  ASSERT_TRUE(runUntil([&] { return called; }));
  EXPECT_EQ(got, nullptr);
  EXPECT_EQ(link.stats().refused, 1u);
}

TEST_F(RedisLinkTest, OverdueReplyTakesTheLinkDownAndItReconnects) {
  RedisLink link(loop_, settings_);
  int ups = 0, downs = 0;
  link.onUp([&] { ++ups; });
  link.onDown([&] { ++downs; });
  link.start();
  ASSERT_TRUE(runUntil([&] { return ups == 1; }));
  bool answered = false;
  const RedisReply* got = reinterpret_cast<const RedisReply*>(1);
  link.command({"DEBUG", "SLEEP", "1"}, [&](const RedisReply* r) {
    answered = true;
    got = r;
  });
  ASSERT_TRUE(runUntil([&] { return answered; }));
  EXPECT_EQ(got, nullptr) << "no reply within cluster.timeout";
  EXPECT_EQ(downs, 1);
  EXPECT_EQ(link.stats().timeouts, 1u);
  ASSERT_TRUE(runUntil([&] { return ups == 2; }, Millis(5000))) << "reconnected";
  EXPECT_EQ(link.stats().connects, 2u);
  EXPECT_EQ(link.stats().downs, 1u);
}

TEST_F(RedisLinkTest, ReconnectsWhenRedisComesBack) {
  RedisLink link(loop_, settings_);
  int ups = 0, downs = 0;
  link.onUp([&] { ++ups; });
  link.onDown([&] { ++downs; });
  link.start();
  ASSERT_TRUE(runUntil([&] { return ups == 1; }));
  redis_->kill();
  ASSERT_TRUE(runUntil([&] { return downs == 1; }));
  EXPECT_FALSE(link.up());
  // Attempts while it is away fail quietly.
  runUntil([] { return false; }, Millis(200));
  ASSERT_TRUE(redis_->start());
  ASSERT_TRUE(runUntil([&] { return ups == 2; }));
  bool ok = false;
  link.command({"PING"}, [&](const RedisReply* r) { ok = r != nullptr && r->str == "PONG"; });
  ASSERT_TRUE(runUntil([&] { return ok; }));
}

TEST_F(RedisLinkTest, EvalFallsBackToEvalOnNoscript) {
  RedisLink link(loop_, settings_);
  link.start();
  ASSERT_TRUE(runUntil([&] { return link.up(); }));
  RedisScript script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  std::vector<int64_t> got;
  auto run = [&] {
    link.eval(script, {"s"}, {"5"}, [&](const RedisReply* r) {
      ASSERT_NE(r, nullptr);
      ASSERT_FALSE(r->isError()) << r->str;
      got.push_back(r->integer);
    });
  };
  run();  // NOSCRIPT on a fresh server: EVAL
  ASSERT_TRUE(runUntil([&] { return got.size() == 1; }));
  link.command({"SCRIPT", "FLUSH"});
  run();  // flushed again: the fallback once more
  run();
  ASSERT_TRUE(runUntil([&] { return got.size() == 3; }));
  EXPECT_EQ(got, (std::vector<int64_t>{5, 10, 15}));
  EXPECT_EQ(link.stats().errors, 0u) << "NOSCRIPT answered by the fallback is not an error";
}

TEST_F(RedisLinkTest, SubscribedChannelsGetMessagesAndSurviveReconnection) {
  RedisLink link(loop_, settings_);
  std::vector<std::string> got;
  link.subscribe("tg:ch:test", [&](std::string_view m) { got.emplace_back(m); });
  int ups = 0;
  link.onUp([&] { ++ups; });
  link.start();
  ASSERT_TRUE(runUntil([&] { return ups == 1; }));
  link.command({"PUBLISH", "tg:ch:test", "one"});
  ASSERT_TRUE(runUntil([&] { return got.size() == 1; }));
  redis_->kill();
  ASSERT_TRUE(runUntil([&] { return !link.up(); }));
  ASSERT_TRUE(redis_->start());
  ASSERT_TRUE(runUntil([&] { return ups == 2; }));
  link.command({"PUBLISH", "tg:ch:test", "two"});
  ASSERT_TRUE(runUntil([&] { return got.size() == 2; }));
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two"}));
}

TEST_F(RedisLinkTest, ReplicaIsNotUsedAsMaster) {
  // A second server made a replica of the first: listed first, it is
  // skipped (ROLE) and the master behind it is used.
  RedisProcess replica(freePort());
  ASSERT_TRUE(replica.start());
  {
    ClusterSettings direct = settings_;
    direct.redis = {{"127.0.0.1", replica.port()}};
    RedisLink admin(loop_, direct);
    admin.start();
    ASSERT_TRUE(runUntil([&] { return admin.up(); }));
    bool done = false;
    admin.command({"REPLICAOF", "127.0.0.1", std::to_string(redis_->port())},
                  [&](const RedisReply*) { done = true; });
    ASSERT_TRUE(runUntil([&] { return done; }));
  }
  settings_.redis = {{"127.0.0.1", replica.port()}, {"127.0.0.1", redis_->port()}};
  RedisLink link(loop_, settings_);
  link.start();
  ASSERT_TRUE(runUntil([&] { return link.up(); }));
  EXPECT_EQ(link.stats().address, "127.0.0.1:" + std::to_string(redis_->port()));
}

TEST_F(RedisLinkTest, ClusterMembersSeeEachOtherAndPeerNetworksBoundPeers) {
  ClusterSettings a = settings_;
  a.nodeId = "a";
  a.nodeTtl = Millis(600);
  a.peerNetworks = {*net::Cidr::parse("127.0.0.0/8")};
  ClusterSettings b = a;
  b.nodeId = "b";
  b.peerNetworks = {*net::Cidr::parse("10.0.0.0/8")};
  Cluster ca(loop_, a), cb(loop_, b);
  ca.start("127.0.0.2:5060", [] { return uint64_t{3}; });
  cb.start("127.0.0.3:5060", [] { return uint64_t{4}; });
  ASSERT_TRUE(runUntil([&] { return ca.liveNodes() == 2 && cb.liveNodes() == 2; }));
  EXPECT_EQ(ca.key("x"), "tg:x");
  EXPECT_TRUE(ca.isPeer(*net::SockAddr::parse("127.0.0.3:5060")));
  EXPECT_FALSE(ca.isPeer(*net::SockAddr::parse("127.0.0.2:5060"))) << "itself is no peer";
  EXPECT_FALSE(cb.isPeer(*net::SockAddr::parse("127.0.0.2:5060"))) << "outside peer_networks";
  ASSERT_TRUE(runUntil([&] { return ca.node("b") != nullptr && ca.node("b")->calls == 4; }));
  EXPECT_EQ(ca.node("b")->sipAddress, "127.0.0.3:5060");
  EXPECT_TRUE(ca.node("a")->self);
  cb.stop();  // a clean leave: gone at a's next heartbeat, not after node_ttl
  ASSERT_TRUE(runUntil([&] { return ca.liveNodes() == 1; }, Millis(400)));
  EXPECT_FALSE(ca.isPeer(*net::SockAddr::parse("127.0.0.3:5060")));
  ClusterStatus st = ca.status();
  EXPECT_TRUE(st.enabled && st.shared);
  EXPECT_EQ(st.nodes.size(), 1u);
  ca.stop();
}

}  // namespace
}  // namespace tollgate::cluster
