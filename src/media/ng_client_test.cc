// NgClient against rtpengine stand-ins: UDP sockets on loopback that the test
// answers (or not) by hand, so retransmission, failover, affinity and the
// health states can be driven exactly. The real rtpengine is exercised by
// tests/integration/test_media.py.
#include "media/ng_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>

#include "common/clock.h"

namespace tollgate::media {
namespace {

struct FakeEngine {
  int fd = -1;
  net::SockAddr addr;
  FakeEngine() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
    socklen_t len = sizeof sin;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
    addr = net::SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&sin));
  }
  ~FakeEngine() { ::close(fd); }
  struct Got {
    std::string cookie;
    Bencode body;
    sockaddr_storage from{};
    socklen_t fromLen = 0;
  };
  std::vector<Got> drain() {
    std::vector<Got> out;
    char buf[65536];
    for (;;) {
      Got g;
      g.fromLen = sizeof g.from;
      ssize_t n =
          ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&g.from), &g.fromLen);
      if (n < 0) break;
      std::string_view d(buf, static_cast<size_t>(n));
      size_t sp = d.find(' ');
      g.cookie = std::string(d.substr(0, sp));
      g.body = *Bencode::decode(d.substr(sp + 1));
      out.push_back(std::move(g));
    }
    return out;
  }
  void reply(const Got& g, const Bencode& body) {
    std::string d = g.cookie + " " + body.encode();
    ::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&g.from), g.fromLen);
  }
  // Answers every request: pong to pings, ok (with `sdp`) to the rest.
  int answerAll(std::string_view sdp = "v=0") {
    int n = 0;
    for (const Got& g : drain()) {
      Bencode r;
      if (g.body.strAt("command") == "ping") {
        r.set("result", "pong");
      } else {
        r.set("result", "ok");
        r.set("sdp", sdp);
        ++n;
      }
      reply(g, r);
    }
    return n;
  }
};

class NgClientTest : public ::testing::Test {
 protected:
  SystemClock clock;
  EventLoop loop{clock};
  SeededRandom random{42};
  MediaSettings settings;
  void SetUp() override {
    settings.retransmit = Millis(20);
    settings.tries = 2;
    settings.pingInterval = Millis(60'000);  // pings only where a test asks
  }
  void spin(Millis total) {
    const MonoTime end = clock.now() + total;
    while (clock.now() < end) loop.runOnce(Millis(5));
  }
  static Bencode offer() {
    Bencode c;
    c.set("command", "offer");
    return c;
  }
};

TEST_F(NgClientTest, SendsAgainWithTheSameCookieThenReportsTheReply) {
  FakeEngine e;
  settings.engines = {{e.addr, 1}};
  NgClient ng(settings, loop, random);
  ASSERT_TRUE(ng.start().ok());
  spin(Millis(10));
  e.answerAll();  // the start-up ping
  std::optional<NgReply> got;
  ng.send("call-1", offer(), [&](NgReply&& r) { got = std::move(r); });
  spin(Millis(30));  // first try unanswered: one retransmission
  auto seen = e.drain();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].cookie, seen[1].cookie);
  EXPECT_FALSE(got.has_value());
  Bencode r;
  r.set("result", "ok");
  r.set("sdp", "v=0 rewritten");
  e.reply(seen[1], r);
  spin(Millis(10));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->ok);
  EXPECT_EQ(got->body.strAt("sdp"), "v=0 rewritten");
  EXPECT_TRUE(ng.hasSession("call-1"));
  EXPECT_EQ(ng.stats().engines[0].retransmits, 1u);
}

TEST_F(NgClientTest, NewSessionFailsOverToTheNextEngineAndTheSilentOneIsDown) {
  FakeEngine silent;
  FakeEngine live;
  settings.engines = {{silent.addr, 1000}, {live.addr, 1}};
  NgClient ng(settings, loop, random);
  ASSERT_TRUE(ng.start().ok());
  std::optional<NgReply> got;
  ng.send("call-2", offer(), [&](NgReply&& r) { got = std::move(r); });
  for (int i = 0; i < 20 && !got; ++i) {
    spin(Millis(10));
    live.answerAll();
  }
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->ok);
  NgStats st = ng.stats();
  EXPECT_FALSE(st.engines[0].up);
  EXPECT_TRUE(st.engines[1].up);
  EXPECT_EQ(st.engines[1].sessions, 1u);
  // Affinity: the session's next request goes to its engine only.
  got.reset();
  ng.send("call-2", offer(), [&](NgReply&& r) { got = std::move(r); });
  spin(Millis(5));
  EXPECT_EQ(live.answerAll(), 1);
  spin(Millis(5));
  EXPECT_TRUE(got && got->ok);
  EXPECT_TRUE(silent.drain().size() <= 4u);  // only the first request and pings
}

TEST_F(NgClientTest, NoEngineAnswersIsReportedLaterNeverInsideSend) {
  FakeEngine silent;
  settings.engines = {{silent.addr, 1}};
  NgClient ng(settings, loop, random);
  ASSERT_TRUE(ng.start().ok());
  std::optional<NgReply> got;
  ng.send("call-3", offer(), [&](NgReply&& r) { got = std::move(r); });
  EXPECT_FALSE(got.has_value());
  spin(Millis(80));
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->ok);
  EXPECT_EQ(got->error, NgError::NoEngine);
  EXPECT_FALSE(ng.stats().engines[0].up);
  // Down, but the only one: the next new session still tries it.
  got.reset();
  ng.send("call-4", offer(), [&](NgReply&& r) { got = std::move(r); });
  EXPECT_FALSE(got.has_value());
  spin(Millis(80));
  EXPECT_GE(silent.drain().size(), 2u);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error, NgError::NoEngine);
  EXPECT_GE(ng.stats().noEngine, 2u);
}

TEST_F(NgClientTest, ErrorResultAndForeignRepliesAreTold) {
  FakeEngine e;
  FakeEngine stranger;
  settings.engines = {{e.addr, 1}};
  NgClient ng(settings, loop, random);
  ASSERT_TRUE(ng.start().ok());
  spin(Millis(5));
  e.answerAll();
  std::optional<NgReply> got;
  ng.send("call-5", offer(), [&](NgReply&& r) { got = std::move(r); });
  spin(Millis(5));
  auto seen = e.drain();
  ASSERT_EQ(seen.size(), 1u);
  // The same cookie from another address is not the engine's reply.
  Bencode fake;
  fake.set("result", "ok");
  std::string d = seen[0].cookie + " " + fake.encode();
  ::sendto(stranger.fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&seen[0].from),
           seen[0].fromLen);
  spin(Millis(5));
  EXPECT_FALSE(got.has_value());
  EXPECT_EQ(ng.stats().badReplies, 1u);
  Bencode err;
  err.set("result", "error");
  err.set("error-reason", "Unknown call-id");
  e.reply(seen[0], err);
  spin(Millis(5));
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->ok);
  EXPECT_EQ(got->error, NgError::Rejected);
  EXPECT_EQ(got->reason, "Unknown call-id");
  EXPECT_FALSE(ng.hasSession("call-5"));
}

TEST_F(NgClientTest, CancelledCallbackNeverRuns) {
  FakeEngine e;
  settings.engines = {{e.addr, 1}};
  NgClient ng(settings, loop, random);
  ASSERT_TRUE(ng.start().ok());
  bool ran = false;
  auto id = ng.send("call-6", offer(), [&](NgReply&&) { ran = true; });
  ng.cancel(id);
  spin(Millis(5));
  e.answerAll();
  spin(Millis(10));
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace tollgate::media
