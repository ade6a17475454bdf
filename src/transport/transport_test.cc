// Transport tests on real loopback sockets (port 0), driven with runOnce. Raw
// POSIX client sockets play the peer where that is simpler than a second
// Transport. Every wait is bounded.
#include "transport/transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <utility>

#include "common/log.h"
#include "sip/limits.h"

namespace tollgate::transport {
namespace {

// transport.listen lines on every test are noise here.
const bool kQuietLogs = (log::setLevel(log::Level::Warn), true);

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

struct Received {
  Flow flow;
  std::string bytes;
};

class RecordingSink : public MessageSink {
 public:
  void onMessage(const Flow& from, std::string&& bytes) override {
    messages.push_back({from, std::move(bytes)});
    if (onMsg) onMsg(messages.back());
  }
  void onConnectionClosed(ConnectionId id) override { closed.push_back(id); }

  std::vector<Received> messages;
  std::vector<ConnectionId> closed;
  std::function<void(const Received&)> onMsg;
};

// Runs the loop until pred() holds or `limit` passes; returns pred().
bool runUntil(EventLoop& loop, const std::function<bool()>& pred, milliseconds limit = seconds(1)) {
  auto end = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() >= end) return false;
    loop.runOnce(milliseconds(5));
  }
  return true;
}

std::string sipMessage(std::string_view body = "", std::string_view method = "OPTIONS") {
  std::string m(method);
  m += " sip:alice@example.com SIP/2.0\r\n"
       "Via: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK776asdhds\r\n"
       "Call-ID: a84b4c76e66710\r\n"
       "CSeq: 1 OPTIONS\r\n"
       "Content-Length: ";
  m += std::to_string(body.size());
  m += "\r\n\r\n";
  m += body;
  return m;
}

bool haveIpv6Loopback() {
  int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

ListenSpec spec(std::string_view text) {
  auto s = parseListenSpec(text);
  EXPECT_TRUE(s.has_value()) << text;
  return s.value_or(ListenSpec{});
}

// A raw client socket; closed on destruction.
struct RawSocket {
  int fd = -1;
  RawSocket() = default;
  explicit RawSocket(int f) : fd(f) {}
  RawSocket(RawSocket&& o) noexcept : fd(o.fd) { o.fd = -1; }
  ~RawSocket() {
    if (fd >= 0) ::close(fd);
  }

  static RawSocket udp(const net::SockAddr& local) {
    RawSocket s(::socket(local.ip().family(), SOCK_DGRAM | SOCK_NONBLOCK, 0));
    sockaddr_storage ss;
    socklen_t len = local.toSockaddr(&ss);
    EXPECT_EQ(::bind(s.fd, reinterpret_cast<sockaddr*>(&ss), len), 0);
    return s;
  }
  // Blocking connect (completes against the listen backlog without the
  // loop running), then non-blocking for reads.
  static RawSocket tcp(const net::SockAddr& to) {
    RawSocket s(::socket(to.ip().family(), SOCK_STREAM, 0));
    sockaddr_storage ss;
    socklen_t len = to.toSockaddr(&ss);
    EXPECT_EQ(::connect(s.fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << std::strerror(errno);
    ::fcntl(s.fd, F_SETFL, O_NONBLOCK);
    return s;
  }
  net::SockAddr localAddress() const {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    return net::SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&ss));
  }
  void sendTo(const net::SockAddr& to, std::string_view bytes) const {
    sockaddr_storage ss;
    socklen_t len = to.toSockaddr(&ss);
    ASSERT_EQ(::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), len),
              static_cast<ssize_t>(bytes.size()))
        << std::strerror(errno);
  }
  void write(std::string_view bytes) const {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
};

// Reads from a raw stream socket while running the loop, until `want` bytes
// arrived, EOF, or the limit. Returns what was read; *eof tells whether the
// peer closed (FIN or RST).
std::string readWhileRunning(EventLoop& loop, int fd, size_t want, bool* eof = nullptr,
                             milliseconds limit = seconds(1)) {
  std::string got;
  bool closed = false;
  runUntil(
      loop,
      [&] {
        char buf[65536];
        for (;;) {
          ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
          if (n > 0) {
            got.append(buf, static_cast<size_t>(n));
            continue;
          }
          if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
          break;
        }
        return closed || got.size() >= want;
      },
      limit);
  if (eof) *eof = closed;
  return got;
}

class TransportTest : public ::testing::Test {
 protected:
  SystemClock clock;
  EventLoop loop{clock};
};

// ------------------------------------------------------------ utilities

TEST(TransportNames, ProtocolNamesAndParams) {
  EXPECT_EQ(protocolName(Protocol::Udp), "UDP");
  EXPECT_EQ(protocolName(Protocol::Tcp), "TCP");
  EXPECT_EQ(protocolName(Protocol::Tls), "TLS");
  EXPECT_EQ(protocolParam(Protocol::Tcp), "tcp");
  EXPECT_EQ(protocolFromName("UDP"), Protocol::Udp);
  EXPECT_EQ(protocolFromName("Tcp"), Protocol::Tcp);
  EXPECT_EQ(protocolFromName("tls"), Protocol::Tls);
  EXPECT_EQ(protocolFromName("sctp"), std::nullopt);
  EXPECT_EQ(protocolFromName(""), std::nullopt);
  EXPECT_FALSE(isStream(Protocol::Udp));
  EXPECT_TRUE(isStream(Protocol::Tcp));
  EXPECT_TRUE(isStream(Protocol::Tls));
}

TEST(TransportNames, ParsesListenSpecs) {
  auto a = parseListenSpec("udp:127.0.0.1:5060");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->protocol, Protocol::Udp);
  EXPECT_EQ(a->address.toString(), "127.0.0.1:5060");
  auto b = parseListenSpec("TCP:[::1]:5061");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->protocol, Protocol::Tcp);
  EXPECT_EQ(b->address.toString(), "[::1]:5061");
  auto c = parseListenSpec("tls:0.0.0.0:5061");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->protocol, Protocol::Tls);
  EXPECT_EQ(toString(*a), "udp:127.0.0.1:5060");
  EXPECT_EQ(toString(*b), "tcp:[::1]:5061");
  EXPECT_EQ(parseListenSpec(toString(*b))->address, b->address);

  EXPECT_FALSE(parseListenSpec("udp:127.0.0.1"));  // port required
  EXPECT_FALSE(parseListenSpec("udp:[::1]"));
  EXPECT_FALSE(parseListenSpec("udp:::1"));
  EXPECT_FALSE(parseListenSpec("sctp:127.0.0.1:5060"));
  EXPECT_FALSE(parseListenSpec("127.0.0.1:5060"));
  EXPECT_FALSE(parseListenSpec("udp:127.0.0.1:70000"));
  EXPECT_FALSE(parseListenSpec("udp:example.com:5060"));
  EXPECT_FALSE(parseListenSpec(""));
}

TEST_F(TransportTest, ListenTlsNeedsACertificate) {
  RecordingSink sink;
  Transport t(loop, sink);
  auto r = t.listen(spec("tls:127.0.0.1:0"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "a TLS listener needs a certificate (tls.certificate)");
  EXPECT_TRUE(t.listeners().empty());
}

TEST_F(TransportTest, ListenReportsBindErrors) {
  RecordingSink sink;
  Transport t(loop, sink);
  auto first = t.listen(spec("tcp:127.0.0.1:0"));
  ASSERT_TRUE(first);
  auto taken = t.listeners()[0].address;
  auto r = t.listen(ListenSpec{Protocol::Tcp, taken});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("bind tcp:127.0.0.1:"), std::string::npos) << r.error();
}

TEST_F(TransportTest, ListenersResolvePortZeroAndArePicked) {
  RecordingSink sink;
  Transport t(loop, sink);
  ASSERT_TRUE(t.listen(spec("udp:127.0.0.1:0")));
  ASSERT_TRUE(t.listen(spec("tcp:127.0.0.1:0")));
  ASSERT_EQ(t.listeners().size(), 2u);
  EXPECT_NE(t.listeners()[0].address.port(), 0);
  EXPECT_EQ(t.listeners()[1].id, 1);
  EXPECT_EQ(t.listener(1)->protocol, Protocol::Tcp);
  EXPECT_EQ(t.listener(7), nullptr);
  auto v4 = *net::SockAddr::parse("10.0.0.1:5060");
  auto v6 = *net::SockAddr::parse("[2001:db8::1]:5060");
  ASSERT_NE(t.pickListener(Protocol::Udp, v4), nullptr);
  EXPECT_EQ(t.pickListener(Protocol::Udp, v4)->id, 0);
  EXPECT_EQ(t.pickListener(Protocol::Tcp, v4)->id, 1);
  EXPECT_EQ(t.pickListener(Protocol::Udp, v6), nullptr);
}

// ------------------------------------------------------------ UDP

void udpRoundTrip(EventLoop& loop, std::string_view listen) {
  RecordingSink sinkA, sinkB;
  Transport a(loop, sinkA), b(loop, sinkB);
  ASSERT_TRUE(a.listen(spec(listen)));
  ASSERT_TRUE(b.listen(spec(listen)));
  const auto addrA = a.listeners()[0].address;
  const auto addrB = b.listeners()[0].address;

  Flow toB{Protocol::Udp, addrB, kNoListener, 0};
  ASSERT_TRUE(a.send(toB, sipMessage("ping")));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkB.messages.size() == 1; }));
  const Received& got = sinkB.messages[0];
  EXPECT_EQ(got.bytes, sipMessage("ping"));
  EXPECT_EQ(got.flow.protocol, Protocol::Udp);
  EXPECT_EQ(got.flow.remote, addrA);  // sent from the listening socket
  EXPECT_EQ(got.flow.local, 0);
  EXPECT_EQ(got.flow.connection, 0u);

  ASSERT_TRUE(b.send(got.flow, sipMessage("pong")));  // reply along the flow
  ASSERT_TRUE(runUntil(loop, [&] { return sinkA.messages.size() == 1; }));
  EXPECT_EQ(sinkA.messages[0].bytes, sipMessage("pong"));
  EXPECT_EQ(sinkA.messages[0].flow.remote, addrB);
  EXPECT_EQ(a.stats().udpSent, 1u);
  EXPECT_EQ(a.stats().udpReceived, 1u);
  EXPECT_EQ(b.stats().udpReceived, 1u);
}

TEST_F(TransportTest, UdpRoundTripV4) {
  udpRoundTrip(loop, "udp:127.0.0.1:0");
}

TEST_F(TransportTest, UdpRoundTripV6) {
  if (!haveIpv6Loopback()) GTEST_SKIP() << "no ::1";
  udpRoundTrip(loop, "udp:[::1]:0");
}

TEST_F(TransportTest, UdpV4AndV6WildcardsShareAPort) {
  if (!haveIpv6Loopback()) GTEST_SKIP() << "no ::1";
  RecordingSink sink;
  Transport t(loop, sink);
  ASSERT_TRUE(t.listen(spec("udp:0.0.0.0:0")));
  const uint16_t port = t.listeners()[0].address.port();
  auto v6 = t.listen(ListenSpec{Protocol::Udp, net::SockAddr(*net::IpAddress::parse("::"), port)});
  ASSERT_TRUE(v6) << v6.error();
}

TEST_F(TransportTest, UdpBatchOfHundredDatagramsAllDelivered) {
  RecordingSink sink;
  TransportLimits limits;
  limits.udpBatch = 16;
  Transport t(loop, sink, limits);
  ASSERT_TRUE(t.listen(spec("udp:127.0.0.1:0")));
  const auto to = t.listeners()[0].address;
  RawSocket client = RawSocket::udp(*net::SockAddr::parse("127.0.0.1:0"));
  for (int i = 0; i < 100; ++i) client.sendTo(to, sipMessage("n=" + std::to_string(i)));
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 100; }));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(sink.messages[i].bytes, sipMessage("n=" + std::to_string(i)));
    EXPECT_EQ(sink.messages[i].flow.remote, client.localAddress());
  }
  EXPECT_EQ(t.stats().udpReceived, 100u);
  EXPECT_EQ(t.stats().udpTruncated, 0u);
}

TEST_F(TransportTest, UdpLargestDatagramDeliveredIntact) {
  RecordingSink sink;
  Transport t(loop, sink);
  ASSERT_TRUE(t.listen(spec("udp:127.0.0.1:0")));
  RawSocket client = RawSocket::udp(*net::SockAddr::parse("127.0.0.1:0"));
  int big = 1 << 20;
  ::setsockopt(client.fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  std::string body(65507 - sipMessage("").size() - 5, 'x');
  std::string msg = sipMessage(body);
  msg.resize(65507, 'y');  // exactly the IPv4 UDP maximum
  for (size_t i = 0; i < msg.size(); i += 997) msg[i] = static_cast<char>('a' + i % 26);
  client.sendTo(t.listeners()[0].address, msg);
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
  EXPECT_EQ(sink.messages[0].bytes.size(), 65507u);
  EXPECT_TRUE(sink.messages[0].bytes == msg);
  EXPECT_EQ(t.stats().udpTruncated, 0u);
}

TEST_F(TransportTest, UdpCrlfKeepAliveIsCountedNotDelivered) {
  RecordingSink sink;
  Transport t(loop, sink);
  ASSERT_TRUE(t.listen(spec("udp:127.0.0.1:0")));
  RawSocket client = RawSocket::udp(*net::SockAddr::parse("127.0.0.1:0"));
  client.sendTo(t.listeners()[0].address, "\r\n\r\n");
  client.sendTo(t.listeners()[0].address, sipMessage());
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
  EXPECT_EQ(t.stats().keepAlives, 1u);
  EXPECT_EQ(t.stats().udpReceived, 1u);
}

TEST_F(TransportTest, UdpSendWithoutListenerOfThatFamilyFails) {
  RecordingSink sink;
  Transport t(loop, sink);
  auto none = t.send(Flow{Protocol::Udp, *net::SockAddr::parse("127.0.0.1:5060")}, "x");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), SendError::NoListener);
  ASSERT_TRUE(t.listen(spec("udp:127.0.0.1:0")));
  auto v6 = t.send(Flow{Protocol::Udp, *net::SockAddr::parse("[::1]:5060")}, "x");
  ASSERT_FALSE(v6);
  EXPECT_EQ(v6.error(), SendError::NoListener);
  EXPECT_EQ(t.stats().udpSendErrors, 2u);
}

TEST_F(TransportTest, FloodedSocketDoesNotStarveOthers) {
  RecordingSink sinkA, sinkB;
  TransportLimits limits;
  limits.udpBatch = 4;  // at most 4 x kUdpBatchesPerEvent (8) datagrams per readiness event
  Transport a(loop, sinkA, limits), b(loop, sinkB, limits);
  ASSERT_TRUE(a.listen(spec("udp:127.0.0.1:0")));
  ASSERT_TRUE(b.listen(spec("udp:127.0.0.1:0")));
  RawSocket client = RawSocket::udp(*net::SockAddr::parse("127.0.0.1:0"));
  for (int i = 0; i < 200; ++i) client.sendTo(a.listeners()[0].address, sipMessage());
  client.sendTo(b.listeners()[0].address, sipMessage());
  loop.runOnce(milliseconds(100));
  EXPECT_EQ(sinkB.messages.size(), 1u);
  EXPECT_EQ(sinkA.messages.size(), 32u);
  ASSERT_TRUE(runUntil(loop, [&] { return sinkA.messages.size() == 200; }));
}

TEST_F(TransportTest, SinkMayReplyFromInsideOnMessage) {
  RecordingSink echoSink, clientSink;
  Transport echo(loop, echoSink), client(loop, clientSink);
  echoSink.onMsg = [&](const Received& r) { ASSERT_TRUE(echo.send(r.flow, r.bytes)); };
  for (auto listen : {"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}) {
    ASSERT_TRUE(echo.listen(spec(listen)));
    ASSERT_TRUE(client.listen(spec(listen)));
  }
  for (Protocol p : {Protocol::Udp, Protocol::Tcp}) {
    const auto to = echo.listeners()[p == Protocol::Udp ? 0 : 1].address;
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(client.send(Flow{p, to}, sipMessage(std::to_string(i))));
  }
  ASSERT_TRUE(runUntil(loop, [&] { return clientSink.messages.size() == 6; }));
  EXPECT_EQ(client.stats().tcpOpen, 1u);
  EXPECT_EQ(echo.stats().tcpSent, 3u);
  EXPECT_EQ(echo.stats().udpSent, 3u);
}

TEST_F(TransportTest, SinkMayCloseTransportWhileReceiving) {
  RecordingSink sink;
  Transport t(loop, sink);
  ASSERT_TRUE(t.listen(spec("udp:127.0.0.1:0")));
  sink.onMsg = [&](const Received&) { t.close(); };
  RawSocket client = RawSocket::udp(*net::SockAddr::parse("127.0.0.1:0"));
  for (int i = 0; i < 10; ++i) client.sendTo(t.listeners()[0].address, sipMessage());
  runUntil(loop, [&] { return !sink.messages.empty(); });
  for (int i = 0; i < 5; ++i) loop.runOnce(milliseconds(1));
  EXPECT_EQ(sink.messages.size(), 1u);
  EXPECT_FALSE(t.send(Flow{Protocol::Udp, client.localAddress()}, "x"));
}

// ------------------------------------------------------------ UDP turns of new work

// Datagrams starting "NEW" are new work, "CANCEL" new work in order, the
// rest continues existing work; "NEWDROP" is filtered out.
class TurnSink : public RecordingSink {
 public:
  Turn turnOf(const Flow&, std::string_view bytes) override {
    if (bytes.starts_with("NEW")) return Turn::Later;
    if (bytes.starts_with("CANCEL")) return Turn::InOrder;
    return Turn::Now;
  }
  bool filter(const Flow&, std::string_view bytes) override {
    ++filtered;
    return !bytes.starts_with("NEWDROP");
  }
  std::vector<std::string> order() const {
    std::vector<std::string> v;
    for (const auto& m : messages) v.push_back(m.bytes);
    return v;
  }
  int filtered = 0;
};

class UdpTurnTest : public TransportTest {
 protected:
  void start(Millis due) {
    TransportLimits limits;
    limits.udpNewWorkDue = due;
    t = std::make_unique<Transport>(loop, sink, limits);
    ASSERT_TRUE(t->listen(spec("udp:127.0.0.1:0")));
  }
  // All sent before the loop runs, so one receive event reads them all.
  void send(std::initializer_list<const char*> datagrams) {
    for (const char* d : datagrams) client.sendTo(t->listeners()[0].address, d);
  }
  TurnSink sink;
  std::unique_ptr<Transport> t;
  RawSocket client = RawSocket::udp(*net::SockAddr::parse("127.0.0.1:0"));
};

TEST_F(UdpTurnTest, NewWorkWaitsBehindWhatContinuesExistingWorkAndGoesNewestFirst) {
  start(Millis{10'000});
  send({"NEW 1", "ANSWER 1", "NEW 2", "NEWDROP", "BYE 1", "NEW 3"});
  ASSERT_TRUE(runUntil(loop, [&] { return sink.filtered == 6; }));
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 5; }));
  EXPECT_EQ(sink.order(),
            (std::vector<std::string>{"ANSWER 1", "BYE 1", "NEW 3", "NEW 2", "NEW 1"}));
  // New work hears its whole wait, and the wait of the oldest still waiting.
  for (size_t i = 2; i < 5; ++i) {
    EXPECT_GE(sink.messages[i].flow.queuedUs, 1u);
    EXPECT_GE(sink.messages[i].flow.backlogUs, sink.messages[i].flow.queuedUs);
  }
  EXPECT_EQ(sink.messages[0].flow.backlogUs, 0u);
  EXPECT_EQ(t->stats().udpNewWorkWaiting, 0u);
}

TEST_F(UdpTurnTest, NewWorkThatIsDueGoesOldestFirst) {
  start(Millis{0});
  send({"NEW 1", "ANSWER 1", "NEW 2", "NEW 3"});
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 4; }));
  EXPECT_EQ(sink.order(), (std::vector<std::string>{"ANSWER 1", "NEW 1", "NEW 2", "NEW 3"}));
}

TEST_F(UdpTurnTest, ACancelNeverOvertakesOlderNewWork) {
  start(Millis{10'000});
  send({"NEW 1", "CANCEL 1", "NEW 2"});
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 3; }));
  // The youngest first; then the CANCEL at the back waits for its INVITE.
  EXPECT_EQ(sink.order(), (std::vector<std::string>{"NEW 2", "NEW 1", "CANCEL 1"}));
}

TEST_F(UdpTurnTest, NewWorkBeyondOneTurnGoesOnWithoutMoreDatagrams) {
  start(Millis{10'000});
  for (int i = 0; i < 100; ++i)
    client.sendTo(t->listeners()[0].address, "NEW " + std::to_string(i));
  ASSERT_TRUE(runUntil(loop, [&] { return t->stats().udpReceived == 100; }));
  // Read at once, delivered a turn at a time (the sockets are read between).
  EXPECT_GT(t->stats().udpNewWorkWaiting, 0u);
  EXPECT_LT(sink.messages.size(), 100u);
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 100; }));
  EXPECT_EQ(t->stats().udpNewWorkWaiting, 0u);
  EXPECT_EQ(t->stats().udpNewWorkOverflow, 0u);
}

TEST_F(UdpTurnTest, AFloodOfLargeNewRequestsCannotGrowTheWaitPastItsBound) {
  // An attacker's 60 KB "new requests", faster than turns deliver them: the
  // wait stays within kMaxUdpNewWorkBytes (8 MiB), its oldest is judged at
  // once, and every datagram still reaches filter().
  start(Millis{10'000});
  const std::string big = "NEW " + std::string(60'000, 'x');
  int sent = 0;
  // Rounds of 40 (within the socket buffer); each read outruns the turns
  // delivered meanwhile, so the wait grows until it is full.
  for (int round = 0; round < 100 && t->stats().udpNewWorkOverflow < 10; ++round) {
    for (int i = 0; i < 40; ++i, ++sent) client.sendTo(t->listeners()[0].address, big);
    ASSERT_TRUE(
        runUntil(loop, [&] { return t->stats().udpReceived == static_cast<uint64_t>(sent); }));
    EXPECT_LE(t->stats().udpNewWorkWaiting * big.size(), size_t{8} << 20);
  }
  EXPECT_GT(t->stats().udpNewWorkOverflow, 0u);
  ASSERT_TRUE(runUntil(loop, [&] { return sink.filtered == sent; }));
  EXPECT_EQ(sink.messages.size(), static_cast<size_t>(sent));
  EXPECT_EQ(t->stats().udpNewWorkWaiting, 0u);
}

TEST_F(UdpTurnTest, ClosingDropsWaitingNewWork) {
  start(Millis{10'000});
  sink.onMsg = [&](const Received& r) {
    if (r.bytes == "ANSWER") t->close();
  };
  send({"NEW 1", "NEW 2", "ANSWER"});
  ASSERT_TRUE(runUntil(loop, [&] { return !sink.messages.empty(); }));
  for (int i = 0; i < 5; ++i) loop.runOnce(milliseconds(1));
  EXPECT_EQ(sink.order(), (std::vector<std::string>{"ANSWER"}));
  EXPECT_EQ(t->stats().udpNewWorkWaiting, 0u);
}

// ------------------------------------------------------------ TCP inbound

class TcpTest : public TransportTest {
 protected:
  void start(TransportLimits limits = {}, std::string_view listen = "tcp:127.0.0.1:0") {
    t = std::make_unique<Transport>(loop, sink, limits);
    auto r = t->listen(spec(listen));
    ASSERT_TRUE(r) << r.error();
    addr = t->listeners()[0].address;
  }
  RecordingSink sink;
  std::unique_ptr<Transport> t;
  net::SockAddr addr;
};

TEST_F(TcpTest, MessageSplitAcrossWrites) {
  start();
  RawSocket c = RawSocket::tcp(addr);
  const std::string msg = sipMessage("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n");
  c.write(msg.substr(0, 40));
  ASSERT_TRUE(runUntil(loop, [&] { return t->stats().tcpAccepted == 1; }));
  for (int i = 0; i < 3; ++i) loop.runOnce(milliseconds(2));
  EXPECT_TRUE(sink.messages.empty());
  c.write(msg.substr(40, 60));
  for (int i = 0; i < 3; ++i) loop.runOnce(milliseconds(2));
  EXPECT_TRUE(sink.messages.empty());
  c.write(msg.substr(100));
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
  EXPECT_EQ(sink.messages[0].bytes, msg);
  EXPECT_EQ(sink.messages[0].flow.protocol, Protocol::Tcp);
  EXPECT_EQ(sink.messages[0].flow.remote, c.localAddress());
  EXPECT_EQ(sink.messages[0].flow.local, 0);
  EXPECT_NE(sink.messages[0].flow.connection, 0u);
  EXPECT_EQ(t->stats().tcpReceived, 1u);
  EXPECT_EQ(t->stats().tcpOpen, 1u);
}

TEST_F(TcpTest, MessageFedOneByteAtATime) {
  start();
  RawSocket c = RawSocket::tcp(addr);
  const std::string msg = sipMessage("hello");
  for (char ch : msg) {
    c.write(std::string_view(&ch, 1));
    loop.runOnce(milliseconds(0));
  }
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
  EXPECT_EQ(sink.messages[0].bytes, msg);
}

TEST_F(TcpTest, TwoMessagesInOneWrite) {
  start();
  RawSocket c = RawSocket::tcp(addr);
  const std::string one = sipMessage("first");
  const std::string two = sipMessage("second body", "INFO");
  c.write(one + two + sipMessage("third").substr(0, 30));
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 2; }));
  EXPECT_EQ(sink.messages[0].bytes, one);
  EXPECT_EQ(sink.messages[1].bytes, two);
  EXPECT_EQ(sink.messages[0].flow.connection, sink.messages[1].flow.connection);
  c.write(sipMessage("third").substr(30));
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 3; }));
  EXPECT_EQ(sink.messages[2].bytes, sipMessage("third"));
}

TEST_F(TcpTest, KeepAlivePingGetsPong) {
  start();
  RawSocket c = RawSocket::tcp(addr);
  c.write("\r\n\r\n");
  EXPECT_EQ(readWhileRunning(loop, c.fd, 2), "\r\n");
  EXPECT_EQ(t->stats().keepAlives, 1u);
  // The connection still frames messages afterwards.
  c.write(sipMessage());
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
  EXPECT_EQ(sink.messages[0].bytes, sipMessage());
}

TEST_F(TcpTest, FramingErrorClosesConnection) {
  start();
  RawSocket c = RawSocket::tcp(addr);
  c.write(
      "INVITE sip:bob@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK1\r\n"
      "Content-Length: banana\r\n\r\n");
  bool eof = false;
  readWhileRunning(loop, c.fd, 1, &eof);
  EXPECT_TRUE(eof);
  EXPECT_EQ(t->stats().tcpFramingErrors, 1u);
  EXPECT_EQ(t->stats().tcpOpen, 0u);
  ASSERT_EQ(sink.closed.size(), 1u);
  EXPECT_TRUE(sink.messages.empty());
}

TEST_F(TcpTest, PeerCloseIsReported) {
  start();
  {
    RawSocket c = RawSocket::tcp(addr);
    c.write(sipMessage());
    ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
  }
  ASSERT_TRUE(runUntil(loop, [&] { return sink.closed.size() == 1; }));
  EXPECT_EQ(sink.closed[0], sink.messages[0].flow.connection);
  EXPECT_EQ(t->stats().tcpOpen, 0u);
}

TEST_F(TcpTest, PerIpCapClosesTheExtraConnection) {
  TransportLimits limits;
  limits.tcpMaxConnectionsPerIp = 3;
  start(limits);
  std::vector<RawSocket> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(RawSocket::tcp(addr));
  ASSERT_TRUE(
      runUntil(loop, [&] { return t->stats().tcpAccepted + t->stats().tcpRejectedLimit == 4; }));
  EXPECT_EQ(t->stats().tcpAccepted, 3u);
  EXPECT_EQ(t->stats().tcpRejectedLimit, 1u);
  EXPECT_EQ(t->stats().tcpOpen, 3u);
  int closedCount = 0;
  for (auto& c : clients) {
    bool eof = false;
    readWhileRunning(loop, c.fd, 1, &eof, milliseconds(50));
    if (eof) ++closedCount;
  }
  EXPECT_EQ(closedCount, 1);
}

TEST_F(TcpTest, PerIpCapFreesSlotOnClose) {
  TransportLimits limits;
  limits.tcpMaxConnectionsPerIp = 1;
  start(limits);
  {
    RawSocket first = RawSocket::tcp(addr);
    ASSERT_TRUE(runUntil(loop, [&] { return t->stats().tcpAccepted == 1; }));
  }
  ASSERT_TRUE(runUntil(loop, [&] { return t->stats().tcpOpen == 0; }));
  RawSocket second = RawSocket::tcp(addr);
  ASSERT_TRUE(runUntil(loop, [&] { return t->stats().tcpAccepted == 2; }));
  EXPECT_EQ(t->stats().tcpRejectedLimit, 0u);
}

TEST_F(TcpTest, TotalCapRejects) {
  TransportLimits limits;
  limits.tcpMaxConnections = 2;
  start(limits);
  std::vector<RawSocket> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(RawSocket::tcp(addr));
  ASSERT_TRUE(
      runUntil(loop, [&] { return t->stats().tcpAccepted + t->stats().tcpRejectedLimit == 3; }));
  EXPECT_EQ(t->stats().tcpRejectedLimit, 1u);
  EXPECT_EQ(t->stats().tcpOpen, 2u);
  // Outbound opens count against the same table.
  auto r = t->send(Flow{Protocol::Tcp, *net::SockAddr::parse("127.0.0.1:9")}, sipMessage());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), SendError::ConnectionFailed);
}

TEST_F(TcpTest, IdleConnectionIsClosed) {
  TransportLimits limits;
  limits.tcpIdleTimeout = milliseconds(200);
  start(limits);
  RawSocket c = RawSocket::tcp(addr);
  auto begin = Clock::now();
  ASSERT_TRUE(runUntil(loop, [&] { return t->stats().tcpAccepted == 1; }));
  // Activity half-way pushes the deadline out.
  runUntil(
      loop, [] { return false; }, milliseconds(120));
  c.write("\r\n\r\n");
  bool eof = false;
  std::string pong = readWhileRunning(loop, c.fd, 3, &eof, seconds(1));
  EXPECT_EQ(pong, "\r\n");
  EXPECT_TRUE(eof);
  auto spent = Clock::now() - begin;
  EXPECT_GE(spent, milliseconds(320));
  EXPECT_LT(spent, milliseconds(900));
  EXPECT_EQ(t->stats().tcpClosedIdle, 1u);
  EXPECT_EQ(sink.closed.size(), 1u);
}

TEST_F(TcpTest, InboundConnectionIsReusedToSendToThatAddress) {
  start();
  RawSocket c = RawSocket::tcp(addr);
  c.write(sipMessage("request"));
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
  // By connection id...
  ASSERT_TRUE(t->send(sink.messages[0].flow, sipMessage("response")));
  EXPECT_EQ(readWhileRunning(loop, c.fd, sipMessage("response").size()), sipMessage("response"));
  // ...and by remote address alone.
  ASSERT_TRUE(t->send(Flow{Protocol::Tcp, c.localAddress()}, sipMessage("request2")));
  EXPECT_EQ(readWhileRunning(loop, c.fd, sipMessage("request2").size()), sipMessage("request2"));
  EXPECT_EQ(t->stats().tcpSent, 2u);
  EXPECT_EQ(t->stats().tcpConnected, 0u);
}

TEST_F(TcpTest, SlowReaderIsClosedWhenQueueOverflows) {
  TransportLimits limits;
  limits.tcpMaxOutputQueue = 256 * 1024;
  start(limits);
  RawSocket c = RawSocket::tcp(addr);
  int small = 4096;
  ::setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  c.write(sipMessage());
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
  const Flow flow = sink.messages[0].flow;
  const std::string chunk = sipMessage(std::string(16000, 'z'));
  bool full = false;
  for (int i = 0; i < 10000 && !full; ++i) {
    auto r = t->send(flow, chunk);
    if (!r) {
      EXPECT_EQ(r.error(), SendError::QueueFull);
      full = true;
    }
  }
  EXPECT_TRUE(full);
  EXPECT_EQ(t->stats().tcpClosedSlowReader, 1u);
  EXPECT_EQ(t->stats().tcpOpen, 0u);
  ASSERT_EQ(sink.closed.size(), 1u);
  EXPECT_EQ(sink.closed[0], flow.connection);
  loop.runOnce(milliseconds(0));  // reaps nothing twice, touches nothing freed
}

TEST_F(TcpTest, QueuedOutputDrainsWhenPeerReads) {
  start();
  RawSocket c = RawSocket::tcp(addr);
  c.write(sipMessage());
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
  const Flow flow = sink.messages[0].flow;
  std::string expected;
  for (int i = 0; i < 40; ++i) {  // ~1.3 MB: more than the socket buffers take
    std::string m = sipMessage(std::string(32000, static_cast<char>('a' + i % 26)));
    expected += m;
    ASSERT_TRUE(t->send(flow, m)) << i;
  }
  std::string got = readWhileRunning(loop, c.fd, expected.size(), nullptr, seconds(2));
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected);
}

TEST_F(TcpTest, StopAcceptingRefusesNewConnections) {
  start();
  RawSocket before = RawSocket::tcp(addr);
  ASSERT_TRUE(runUntil(loop, [&] { return t->stats().tcpAccepted == 1; }));
  t->stopAccepting();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_storage ss;
  socklen_t len = addr.toSockaddr(&ss);
  EXPECT_NE(::connect(fd, reinterpret_cast<sockaddr*>(&ss), len), 0);
  ::close(fd);
  // The existing connection keeps working.
  before.write(sipMessage());
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
}

TEST_F(TcpTest, CloseClosesEverythingAndReports) {
  start();
  RawSocket a = RawSocket::tcp(addr);
  RawSocket b = RawSocket::tcp(addr);
  ASSERT_TRUE(runUntil(loop, [&] { return t->stats().tcpOpen == 2; }));
  t->close();
  EXPECT_EQ(sink.closed.size(), 2u);
  EXPECT_EQ(t->stats().tcpOpen, 0u);
  bool eof = false;
  readWhileRunning(loop, a.fd, 1, &eof);
  EXPECT_TRUE(eof);
  EXPECT_FALSE(t->send(Flow{Protocol::Tcp, addr}, "x"));
}

TEST_F(TcpTest, SinkMayCloseConnectionFromOnMessage) {
  start();
  sink.onMsg = [&](const Received& r) { t->close(); };
  RawSocket c = RawSocket::tcp(addr);
  c.write(sipMessage("a") + sipMessage("b"));
  ASSERT_TRUE(runUntil(loop, [&] { return !sink.messages.empty(); }));
  for (int i = 0; i < 3; ++i) loop.runOnce(milliseconds(1));
  EXPECT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.closed.size(), 1u);
}

// ------------------------------------------------------------ TCP outbound

void outboundRoundTrip(EventLoop& loop, std::string_view listen) {
  RecordingSink sinkA, sinkB;
  Transport a(loop, sinkA), b(loop, sinkB);
  ASSERT_TRUE(a.listen(spec(listen)));
  ASSERT_TRUE(b.listen(spec(listen)));
  const auto addrB = b.listeners()[0].address;

  // a has no connection to b: send opens one and queues the bytes.
  ASSERT_TRUE(a.send(Flow{Protocol::Tcp, addrB}, sipMessage("invite", "INVITE")));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkB.messages.size() == 1; }));
  EXPECT_EQ(sinkB.messages[0].bytes, sipMessage("invite", "INVITE"));
  EXPECT_EQ(a.stats().tcpConnected, 1u);
  EXPECT_EQ(b.stats().tcpAccepted, 1u);
  // The source address is the listener's host (ephemeral port).
  EXPECT_EQ(sinkB.messages[0].flow.remote.ip(), a.listeners()[0].address.ip());

  // b answers along the flow; it comes back on a's outbound connection.
  ASSERT_TRUE(b.send(sinkB.messages[0].flow, sipMessage("200 ok")));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkA.messages.size() == 1; }));
  const Flow back = sinkA.messages[0].flow;
  EXPECT_EQ(back.remote, addrB);
  EXPECT_NE(back.connection, 0u);
  EXPECT_EQ(back.local, 0);

  // A second request to the same address reuses the connection.
  ASSERT_TRUE(a.send(Flow{Protocol::Tcp, addrB}, sipMessage("bye", "BYE")));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkB.messages.size() == 2; }));
  EXPECT_EQ(sinkB.messages[1].flow.connection, sinkB.messages[0].flow.connection);
  EXPECT_EQ(a.stats().tcpConnected, 1u);
  EXPECT_EQ(a.stats().tcpOpen, 1u);
  EXPECT_EQ(b.stats().tcpAccepted, 1u);
  EXPECT_EQ(a.stats().tcpSent, 2u);
}

TEST_F(TransportTest, TcpOutboundConnectSendAndReplyOnSameConnection) {
  outboundRoundTrip(loop, "tcp:127.0.0.1:0");
}

TEST_F(TransportTest, TcpIpv6RoundTrip) {
  if (!haveIpv6Loopback()) GTEST_SKIP() << "no ::1";
  outboundRoundTrip(loop, "tcp:[::1]:0");
}

TEST_F(TransportTest, TcpOutboundWithoutAnyListener) {
  RecordingSink sinkA, sinkB;
  Transport a(loop, sinkA), b(loop, sinkB);
  ASSERT_TRUE(b.listen(spec("tcp:127.0.0.1:0")));
  ASSERT_TRUE(a.send(Flow{Protocol::Tcp, b.listeners()[0].address}, sipMessage()));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkB.messages.size() == 1; }));
  ASSERT_TRUE(b.send(sinkB.messages[0].flow, sipMessage("back")));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkA.messages.size() == 1; }));
  EXPECT_EQ(sinkA.messages[0].flow.local, kNoListener);
}

TEST_F(TransportTest, TcpSendToClosedPortReportsConnectionFailure) {
  // Find a port nobody listens on: bind, note it, close.
  uint16_t port;
  {
    RecordingSink s;
    Transport probe(loop, s);
    ASSERT_TRUE(probe.listen(spec("tcp:127.0.0.1:0")));
    port = probe.listeners()[0].address.port();
  }
  RecordingSink sink;
  Transport t(loop, sink);
  ASSERT_TRUE(t.listen(spec("tcp:127.0.0.1:0")));
  auto r = t.send(Flow{Protocol::Tcp, net::SockAddr(*net::IpAddress::parse("127.0.0.1"), port)},
                  sipMessage());
  if (r) {  // usual case: the refusal arrives asynchronously
    ASSERT_TRUE(runUntil(loop, [&] { return sink.closed.size() == 1; }));
    EXPECT_EQ(t.stats().tcpSendErrors, 1u);  // the queued message was lost
  } else {
    EXPECT_EQ(r.error(), SendError::ConnectionFailed);
  }
  EXPECT_EQ(t.stats().tcpConnectFailed, 1u);
  EXPECT_EQ(t.stats().tcpConnected, 0u);
  EXPECT_EQ(t.stats().tcpOpen, 0u);
}

TEST_F(TransportTest, TcpConnectTimeout) {
  RecordingSink sink;
  TransportLimits limits;
  limits.tcpConnectTimeout = milliseconds(100);
  Transport t(loop, sink, limits);
  // A listener whose backlog is full leaves further SYNs unanswered, so the
  // connect hangs until our timeout.
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  socklen_t len = sizeof sa;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len);
  const auto target = net::SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&sa));
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {  // fill the backlog
    int f = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(f, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    fillers.push_back(f);
  }
  ASSERT_TRUE(t.send(Flow{Protocol::Tcp, target}, sipMessage()));
  auto begin = Clock::now();
  bool closed = runUntil(
      loop, [&] { return sink.closed.size() == 1; }, seconds(1));
  for (int f : fillers) ::close(f);
  ::close(lfd);
  if (t.stats().tcpConnected == 1) {
    GTEST_SKIP() << "kernel completed the handshake despite the full backlog";
  }
  ASSERT_TRUE(closed);
  EXPECT_GE(Clock::now() - begin, milliseconds(90));
  EXPECT_EQ(t.stats().tcpConnectFailed, 1u);
}

// ------------------------------------------------------------ throughput

// Not a unit test: run with --gtest_also_run_disabled_tests on a release build
// to measure the UDP receive rate (one thread blasts, the loop receives).
TEST_F(TransportTest, DISABLED_UdpReceiveRate) {
  struct CountingSink : MessageSink {
    uint64_t n = 0;
    size_t bytes = 0;
    void onMessage(const Flow&, std::string&& b) override {
      ++n;
      bytes += b.size();
    }
  } sink;
  Transport t(loop, sink);
  ASSERT_TRUE(t.listen(spec("udp:127.0.0.1:0")));
  const auto to = t.listeners()[0].address;
  const std::string msg = sipMessage(std::string(400, 'x'), "INVITE");  // ~600 bytes
  std::atomic<bool> done{false};
  std::atomic<uint64_t> sent{0};
  std::thread blaster([&] {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_storage ss;
    socklen_t len = to.toSockaddr(&ss);
    ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
    constexpr int kBatch = 64;
    mmsghdr msgs[kBatch]{};
    iovec iov{const_cast<char*>(msg.data()), msg.size()};
    for (auto& m : msgs) {
      m.msg_hdr.msg_iov = &iov;
      m.msg_hdr.msg_iovlen = 1;
    }
    while (!done.load(std::memory_order_relaxed)) {
      int n = ::sendmmsg(fd, msgs, kBatch, 0);
      if (n > 0) sent += static_cast<uint64_t>(n);
    }
    ::close(fd);
  });
  auto begin = Clock::now();
  while (Clock::now() - begin < seconds(2)) loop.runOnce(milliseconds(10));
  done = true;
  blaster.join();
  double secs = std::chrono::duration<double>(Clock::now() - begin).count();
  std::printf("UDP receive: %.0f datagrams/s (%llu received of %llu sent, %zu bytes each)\n",
              static_cast<double>(sink.n) / secs, static_cast<unsigned long long>(sink.n),
              static_cast<unsigned long long>(sent.load()), msg.size());
  EXPECT_GT(sink.n, 0u);
}

// ------------------------------------------------------------ sink hooks (shield)

class FilteringSink : public RecordingSink {
 public:
  bool filter(const Flow& from, std::string_view bytes) override {
    ++filtered;
    return bytes.find("DROPME") == std::string_view::npos;
  }
  Admission acceptConnection(const net::SockAddr& remote) override {
    return accept ? Admission::Untrusted : Admission::Banned;
  }
  void onConnectionOpened(ConnectionId id, const net::SockAddr& remote, Admission) override {
    opened.push_back(id);
  }
  int filtered = 0;
  bool accept = true;
  std::vector<ConnectionId> opened;
};

TEST_F(TransportTest, FilterDropsMessagesBeforeDeliveryOnUdpAndTcp) {
  FilteringSink sink;
  Transport t(loop, sink);
  ASSERT_TRUE(t.listen(spec("udp:127.0.0.1:0")));
  ASSERT_TRUE(t.listen(spec("tcp:127.0.0.1:0")));
  RawSocket udp = RawSocket::udp(*net::SockAddr::parse("127.0.0.1:0"));
  udp.sendTo(t.listeners()[0].address, sipMessage("DROPME"));
  udp.sendTo(t.listeners()[0].address, sipMessage("keep"));
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
  EXPECT_EQ(sink.messages[0].bytes, sipMessage("keep"));
  RawSocket tcp = RawSocket::tcp(t.listeners()[1].address);
  tcp.write(sipMessage("DROPME") + sipMessage("keep2"));
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 2; }));
  EXPECT_EQ(sink.messages[1].bytes, sipMessage("keep2"));
  EXPECT_EQ(sink.filtered, 4);
  ASSERT_EQ(sink.opened.size(), 1u);
}

TEST_F(TransportTest, RefusedConnectionIsResetAndCounted) {
  FilteringSink sink;
  sink.accept = false;
  Transport t(loop, sink);
  ASSERT_TRUE(t.listen(spec("tcp:127.0.0.1:0")));
  RawSocket c = RawSocket::tcp(t.listeners()[0].address);
  bool eof = false;
  readWhileRunning(loop, c.fd, 1, &eof);
  EXPECT_TRUE(eof);
  EXPECT_EQ(t.stats().tcpRejectedFilter, 1u);
  EXPECT_EQ(t.stats().tcpRefused[static_cast<size_t>(ConnectionRefusal::Banned)], 1u);
  EXPECT_EQ(t.stats().tcpAccepted, 0u);
  EXPECT_TRUE(sink.opened.empty());
}

TEST_F(TransportTest, CloseConnectionByIdNotifiesTheSink) {
  FilteringSink sink;
  Transport t(loop, sink);
  ASSERT_TRUE(t.listen(spec("tcp:127.0.0.1:0")));
  RawSocket c = RawSocket::tcp(t.listeners()[0].address);
  ASSERT_TRUE(runUntil(loop, [&] { return sink.opened.size() == 1; }));
  t.closeConnection(sink.opened[0]);
  t.closeConnection(999999);  // unknown: nothing
  EXPECT_EQ(sink.closed, sink.opened);
  bool eof = false;
  readWhileRunning(loop, c.fd, 1, &eof);
  EXPECT_TRUE(eof);
}

// ------------------------------------------------------------ admission and deadlines

// Judges sources by address, as the shield does: 127.0.0.2 is a gateway.
class JudgingSink : public RecordingSink {
 public:
  // Drops what a shield would (here: anything saying DROPME).
  bool filter(const Flow&, std::string_view bytes) override {
    return bytes.find("DROPME") == std::string_view::npos;
  }
  Admission acceptConnection(const net::SockAddr& remote) override {
    if (remote.ip() == *net::IpAddress::parse("127.0.0.2")) return Admission::Trusted;
    return verdict;
  }
  Admission verdict = Admission::Untrusted;
};

// A blocking connect from `local` (port 0), then non-blocking.
RawSocket tcpFrom(std::string_view local, const net::SockAddr& to) {
  RawSocket s(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_storage ss;
  socklen_t len = net::SockAddr(*net::IpAddress::parse(local), 0).toSockaddr(&ss);
  EXPECT_EQ(::bind(s.fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << std::strerror(errno);
  len = to.toSockaddr(&ss);
  EXPECT_EQ(::connect(s.fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << std::strerror(errno);
  ::fcntl(s.fd, F_SETFL, O_NONBLOCK);
  return s;
}

// How the peer closed a raw socket, while running the loop: "fin", "reset",
// or "" when it is still open after `limit`.
std::string closeKind(EventLoop& loop, int fd, milliseconds limit) {
  std::string kind;
  runUntil(
      loop,
      [&] {
        char buf[4096];
        for (;;) {
          ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
          if (n > 0) continue;
          if (n == 0) kind = "fin";
          if (n < 0 && errno == ECONNRESET) kind = "reset";
          break;
        }
        return !kind.empty();
      },
      limit);
  return kind;
}

size_t refused(const Transport& t, ConnectionRefusal r) {
  return t.stats().tcpRefused[static_cast<size_t>(r)];
}

class AdmissionTest : public TransportTest {
 protected:
  void start(TransportLimits limits) {
    t = std::make_unique<Transport>(loop, sink, limits);
    auto r = t->listen(spec("tcp:127.0.0.1:0"));
    ASSERT_TRUE(r) << r.error();
    addr = t->listeners()[0].address;
  }
  // Opens n connections from `local` and runs the loop until the transport
  // has decided on every connection it was offered so far.
  void open(std::string_view local, int n) {
    const size_t want = decided() + static_cast<size_t>(n);
    for (int i = 0; i < n; ++i) clients.push_back(tcpFrom(local, addr));
    ASSERT_TRUE(runUntil(loop, [&] { return decided() == want; }));
  }
  // Runs the loop for d.
  void pause(milliseconds d) {
    runUntil(
        loop, [] { return false; }, d);
  }
  // Inbound connections accepted or refused so far.
  size_t decided() const {
    size_t n = t->stats().tcpAccepted;
    for (uint64_t r : t->stats().tcpRefused) n += r;
    return n;
  }
  JudgingSink sink;
  std::unique_ptr<Transport> t;
  net::SockAddr addr;
  std::vector<RawSocket> clients;
};

TEST_F(AdmissionTest, UntrustedSourcesNeverTakeTheReservedShare) {
  TransportLimits limits;
  limits.tcpMaxConnections = 8;
  limits.tcpReservedPercent = 25;  // 2 of 8 kept for trusted sources
  start(limits);
  open("127.0.0.1", 5);
  open("127.0.0.3", 3);
  EXPECT_EQ(t->stats().tcpOpenUntrusted, 6u);
  EXPECT_EQ(refused(*t, ConnectionRefusal::Reserved), 2u);
  // The gateway still gets in, into the reserve...
  open("127.0.0.2", 2);
  EXPECT_EQ(t->stats().tcpOpen, 8u);
  EXPECT_EQ(t->stats().tcpOpenUntrusted, 6u);
  // ...until the table is full, for everyone.
  open("127.0.0.2", 1);
  EXPECT_EQ(refused(*t, ConnectionRefusal::TableFull), 1u);
  EXPECT_EQ(t->stats().tcpRejectedLimit, 3u);
  // An untrusted close makes room for untrusted sources again.
  ::close(std::exchange(clients[0].fd, -1));
  ASSERT_TRUE(runUntil(loop, [&] { return t->stats().tcpOpenUntrusted == 5; }));
  open("127.0.0.3", 1);
  EXPECT_EQ(t->stats().tcpOpenUntrusted, 6u);
  EXPECT_EQ(refused(*t, ConnectionRefusal::Reserved), 2u);
}

TEST_F(AdmissionTest, TrustedSourcesMayUseTheWholeTableButNotPastTheirPerIpCap) {
  TransportLimits limits;
  limits.tcpMaxConnections = 8;
  limits.tcpMaxConnectionsPerIp = 5;
  start(limits);
  open("127.0.0.2", 6);
  EXPECT_EQ(t->stats().tcpOpen, 5u);
  EXPECT_EQ(refused(*t, ConnectionRefusal::PerIp), 1u);
  EXPECT_EQ(t->stats().tcpOpenUntrusted, 0u);
}

TEST_F(AdmissionTest, TheSinksRefusalsAreCountedByReason) {
  start(TransportLimits{});
  sink.verdict = Admission::UntrustedSource;
  open("127.0.0.1", 2);
  sink.verdict = Admission::UntrustedPrefix;
  open("127.0.0.1", 3);
  sink.verdict = Admission::Banned;
  open("127.0.0.1", 1);
  EXPECT_EQ(refused(*t, ConnectionRefusal::UntrustedSource), 2u);
  EXPECT_EQ(refused(*t, ConnectionRefusal::UntrustedPrefix), 3u);
  EXPECT_EQ(refused(*t, ConnectionRefusal::Banned), 1u);
  EXPECT_EQ(t->stats().tcpRejectedFilter, 6u);
  EXPECT_EQ(t->stats().tcpOpen, 0u);
  for (auto& c : clients) EXPECT_EQ(closeKind(loop, c.fd, milliseconds(500)), "reset");
}

TEST_F(AdmissionTest, ZeroReserveLetsUntrustedSourcesFillTheTable) {
  TransportLimits limits;
  limits.tcpMaxConnections = 4;
  limits.tcpReservedPercent = 0;
  start(limits);
  open("127.0.0.1", 5);
  EXPECT_EQ(t->stats().tcpOpenUntrusted, 4u);
  EXPECT_EQ(refused(*t, ConnectionRefusal::TableFull), 1u);
}

class DeadlineTest : public AdmissionTest {
 protected:
  static TransportLimits quick(bool reset = false) {
    TransportLimits l;
    l.tcpMessageTimeout = milliseconds(300);
    l.tcpIdleTimeout = seconds(5);
    l.tcpCloseReset = reset;
    return l;
  }
  // Writes `bytes` one byte every `gap` while running the loop, until they
  // are out or the peer closed; returns how long it took.
  milliseconds trickle(const RawSocket& c, std::string_view bytes, milliseconds gap) {
    const auto begin = Clock::now();
    for (char b : bytes) {
      if (::send(c.fd, &b, 1, MSG_NOSIGNAL) != 1) break;
      pause(gap);
      if (t->stats().tcpOpen == 0) break;
    }
    return std::chrono::duration_cast<milliseconds>(Clock::now() - begin);
  }
};

TEST_F(DeadlineTest, TrickledMessageIsClosedAtTheDeadlineWithFin) {
  start(quick());
  RawSocket c = tcpFrom("127.0.0.2", addr);  // even a gateway's
  const milliseconds spent = trickle(c, sipMessage(std::string(200, 'x')), milliseconds(20));
  EXPECT_EQ(closeKind(loop, c.fd, seconds(1)), "fin");
  EXPECT_GE(spent, milliseconds(280));
  EXPECT_LT(spent, milliseconds(900));
  EXPECT_EQ(t->stats().tcpClosedMessageTimeout, 1u);
  EXPECT_EQ(t->stats().tcpClosedDeadlineReset, 0u);
  EXPECT_TRUE(sink.messages.empty());
  EXPECT_EQ(sink.closed.size(), 1u);
}

TEST_F(DeadlineTest, TrickledMessageIsResetWhenTcpCloseIsReset) {
  start(quick(/*reset=*/true));
  RawSocket c = tcpFrom("127.0.0.1", addr);
  (void)trickle(c, sipMessage(std::string(200, 'x')), milliseconds(20));
  EXPECT_EQ(closeKind(loop, c.fd, seconds(1)), "reset");
  EXPECT_EQ(t->stats().tcpClosedMessageTimeout, 1u);
  EXPECT_EQ(t->stats().tcpClosedDeadlineReset, 1u);
}

TEST_F(DeadlineTest, EachMessageGetsItsOwnDeadline) {
  start(quick());
  RawSocket c = tcpFrom("127.0.0.2", addr);
  // Five messages, each taking 200 ms of the 300 ms deadline: a second in
  // all, and every one arrives.
  const std::string m = sipMessage("body");
  for (int i = 0; i < 5; ++i) {
    c.write(m.substr(0, m.size() / 2));
    pause(milliseconds(200));
    c.write(m.substr(m.size() / 2));
    ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == static_cast<size_t>(i + 1); }));
  }
  EXPECT_EQ(t->stats().tcpClosedMessageTimeout, 0u);
  EXPECT_EQ(t->stats().tcpOpen, 1u);
}

TEST_F(DeadlineTest, GatewayKeepAliveConnectionIsGovernedByTheIdleTimeout) {
  TransportLimits limits = quick();
  limits.tcpIdleTimeout = milliseconds(600);
  start(limits);
  RawSocket c = tcpFrom("127.0.0.2", addr);
  // Pings for three message deadlines: no partial message, so it stays.
  for (int i = 0; i < 9; ++i) {
    c.write("\r\n\r\n");
    EXPECT_EQ(readWhileRunning(loop, c.fd, 2, nullptr, milliseconds(100)), "\r\n");
  }
  EXPECT_EQ(t->stats().tcpOpen, 1u);
  // Then silence: the idle rule closes it, and counts it as idle.
  EXPECT_EQ(closeKind(loop, c.fd, seconds(2)), "fin");
  EXPECT_EQ(t->stats().tcpClosedIdle, 1u);
  EXPECT_EQ(t->stats().tcpClosedMessageTimeout, 0u);
}

TEST_F(DeadlineTest, UntrustedSourceMustSendItsFirstMessageInTime) {
  start(quick());
  RawSocket silent = tcpFrom("127.0.0.1", addr);
  RawSocket pinger = tcpFrom("127.0.0.1", addr);
  RawSocket talker = tcpFrom("127.0.0.1", addr);
  talker.write(sipMessage("hello"));
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
  // Keep-alives are not a message: a stranger cannot hold its slot with them.
  for (int i = 0; i < 5; ++i) {
    pinger.write("\r\n\r\n");
    pause(milliseconds(80));
  }
  EXPECT_EQ(closeKind(loop, silent.fd, seconds(1)), "fin");
  EXPECT_EQ(closeKind(loop, pinger.fd, seconds(1)), "fin");
  EXPECT_EQ(t->stats().tcpClosedMessageTimeout, 2u);
  // The one that spoke is under the idle rule now.
  EXPECT_EQ(closeKind(loop, talker.fd, milliseconds(400)), "");
  EXPECT_EQ(t->stats().tcpOpen, 1u);
}

TEST_F(DeadlineTest, MessagesTheFilterDropsDoNotPayAStrangersDeadline) {
  start(quick());
  RawSocket junk = tcpFrom("127.0.0.1", addr);
  // A framed message every 100 ms, each dropped by the filter, with the
  // start of the next one behind it: still closed at the first deadline.
  const std::string m = sipMessage("DROPME");
  const auto begin = Clock::now();
  std::string kind;
  for (int i = 0; i < 10 && kind.empty(); ++i) {
    junk.write(m + m.substr(0, 10));
    kind = closeKind(loop, junk.fd, milliseconds(100));
    if (kind.empty()) junk.write(m.substr(10));
  }
  EXPECT_EQ(kind, "fin");
  EXPECT_LT(Clock::now() - begin, milliseconds(600));
  EXPECT_EQ(t->stats().tcpClosedMessageTimeout, 1u);
  EXPECT_TRUE(sink.messages.empty());
}

TEST_F(DeadlineTest, PromotedConnectionLeavesTheUntrustedShare) {
  TransportLimits limits = quick();
  limits.tcpMaxConnections = 4;
  limits.tcpReservedPercent = 50;
  start(limits);
  RawSocket a = tcpFrom("127.0.0.1", addr);
  RawSocket b = tcpFrom("127.0.0.3", addr);
  a.write(sipMessage("REGISTER with good credentials"));
  ASSERT_TRUE(runUntil(loop, [&] { return sink.messages.size() == 1; }));
  EXPECT_EQ(t->stats().tcpOpenUntrusted, 2u);
  // The source authenticated: the switch vouches, the shield promotes.
  t->trustConnection(sink.messages[0].flow.connection);
  t->trustConnection(sink.messages[0].flow.connection);  // twice is once
  t->trustConnection(999999);                            // unknown: nothing
  EXPECT_EQ(t->stats().tcpOpenUntrusted, 1u);
  open("127.0.0.4", 1);  // the untrusted share has room again
  EXPECT_EQ(t->stats().tcpOpenUntrusted, 2u);
  // b never spoke: closed at its first-message deadline; a stays.
  EXPECT_EQ(closeKind(loop, b.fd, seconds(1)), "fin");
  EXPECT_EQ(closeKind(loop, a.fd, milliseconds(300)), "");
}

TEST_F(DeadlineTest, UntrustedPartialMessagesShareOneBudget) {
  // Partial messages of untrusted connections together stay within the
  // budget: the connection whose buffer would pass it is closed; trusted
  // connections do not count.
  TransportLimits limits = quick();
  limits.tcpMessageTimeout = seconds(5);
  limits.tcpUntrustedBufferBudget = 180 * 1024;
  start(limits);
  const std::string partial = "INVITE sip:a@b SIP/2.0\r\nX: " + std::string(50000, 'a');
  std::vector<RawSocket> strangers;
  for (int i = 0; i < 5; ++i) {
    strangers.push_back(tcpFrom("127.0.0.1", addr));
    strangers.back().write(partial);
    ASSERT_TRUE(runUntil(loop, [&] {
      return t->stats().tcpAccepted == static_cast<uint64_t>(i + 1) &&
             t->stats().tcpReceived + t->stats().tcpFramingErrors == 0;
    }));
    pause(milliseconds(50));
  }
  // 180 KiB holds three 50 KB partials, not four.
  EXPECT_EQ(t->stats().tcpClosedBufferBudget, 2u);
  EXPECT_EQ(t->stats().tcpOpen, 3u);
  EXPECT_EQ(closeKind(loop, strangers[3].fd, milliseconds(100)), "fin");
  EXPECT_EQ(closeKind(loop, strangers[0].fd, milliseconds(100)), "");
  // A gateway's partial message is not the budget's business.
  RawSocket gw = tcpFrom("127.0.0.2", addr);
  gw.write(partial);
  pause(milliseconds(100));
  EXPECT_EQ(t->stats().tcpClosedBufferBudget, 2u);
  EXPECT_EQ(t->stats().tcpOpen, 4u);
}

TEST_F(DeadlineTest, LargestMessageArrivesWhenSentInPieces) {
  // The read buffer is bounded to one message: the largest one still fits,
  // whatever the pieces it arrives in.
  TransportLimits limits = quick();
  limits.tcpMessageTimeout = seconds(5);
  start(limits);
  RawSocket c = tcpFrom("127.0.0.2", addr);
  const std::string head = sipMessage("");
  // Content-Length grows from 1 digit to 5: the message is exactly the largest.
  const std::string full = sipMessage(std::string(sip::kMaxMessageSize - head.size() - 4, 'b'));
  ASSERT_EQ(full.size(), sip::kMaxMessageSize);
  const std::string two = full + sipMessage("next");
  for (size_t off = 0; off < two.size(); off += 7000)
    c.write(std::string_view(two).substr(off, 7000));
  ASSERT_TRUE(runUntil(
      loop, [&] { return sink.messages.size() == 2; }, seconds(2)));
  EXPECT_EQ(sink.messages[0].bytes, full);
  EXPECT_EQ(sink.messages[1].bytes, sipMessage("next"));
  EXPECT_EQ(t->stats().tcpFramingErrors, 0u);
}

}  // namespace
}  // namespace tollgate::transport
