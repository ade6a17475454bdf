// probeListener(): how the CLI tells a running node (its API port accepts)
// from a stopped one (the port refuses), on real loopback sockets.
#include "mgmt/api_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tollgate::mgmt {
namespace {

// A TCP socket bound to 127.0.0.1 on a free port; listening or not.
class LoopbackPort {
 public:
  explicit LoopbackPort(bool listening) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    if (listening) {
      EXPECT_EQ(::listen(fd_, 4), 0);
    }
  }
  ~LoopbackPort() { ::close(fd_); }
  LoopbackPort(const LoopbackPort&) = delete;
  LoopbackPort& operator=(const LoopbackPort&) = delete;

  ApiEndpoint endpoint() const {
    ApiEndpoint ep;
    ep.host = "127.0.0.1";
    ep.port = port_;
    return ep;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

constexpr std::chrono::milliseconds kTimeout{1000};

TEST(ProbeListenerTest, AListeningPortAccepts) {
  LoopbackPort port(/*listening=*/true);
  const ListenerProbe p = probeListener(port.endpoint(), kTimeout);
  EXPECT_EQ(p.state, Listener::Accepting) << p.error;
}

TEST(ProbeListenerTest, APortNobodyListensOnRefuses) {
  // Bound but not listening: the kernel answers a SYN with RST, as for a
  // node that is not running.
  LoopbackPort port(/*listening=*/false);
  const ListenerProbe p = probeListener(port.endpoint(), kTimeout);
  EXPECT_EQ(p.state, Listener::Refused) << p.error;
}

TEST(ProbeListenerTest, NotAnAddressSaysNeither) {
  ApiEndpoint ep;
  ep.host = "node.example";  // the CLI gives addresses from api.listen only
  ep.port = 8080;
  const ListenerProbe p = probeListener(ep, kTimeout);
  EXPECT_EQ(p.state, Listener::Unknown);
  EXPECT_NE(p.error.find("not an address"), std::string::npos) << p.error;
}

}  // namespace
}  // namespace tollgate::mgmt
