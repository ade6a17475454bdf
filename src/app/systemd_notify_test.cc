// SystemdNotifier against a real unix datagram socket standing in for
// systemd's: the messages arrive as sd_notify(3) sends them, on a path and
// in the abstract namespace, and the watchdog interval follows
// WATCHDOG_USEC and WATCHDOG_PID.
#include "app/systemd_notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace tollgate::app {
namespace {

// A datagram socket bound where $NOTIFY_SOCKET will point; sets and clears
// the environment around a test.
class FakeManager {
 public:
  explicit FakeManager(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::string path = name_;
    if (path[0] == '@') path[0] = '\0';
    std::memcpy(sa.sun_path, path.data(), path.size());
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&sa),
                    static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size())) == 0;
    ::setenv("NOTIFY_SOCKET", name_.c_str(), 1);
  }
  ~FakeManager() {
    ::close(fd_);
    if (name_[0] == '/') ::unlink(name_.c_str());
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  bool bound() const { return bound_; }
  std::string receive() {
    char buf[512];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool bound_ = false;
};

std::string tempSocketPath() {
  return "/tmp/tollgate-notify-test-" + std::to_string(::getpid());
}

TEST(SystemdNotifierTest, DoesNothingWithoutNotifySocket) {
  ::unsetenv("NOTIFY_SOCKET");
  const SystemdNotifier n = SystemdNotifier::fromEnvironment();
  EXPECT_FALSE(n.enabled());
  EXPECT_FALSE(n.notify("READY=1"));
  EXPECT_EQ(n.watchdogInterval().count(), 0);
}

TEST(SystemdNotifierTest, SendsStateToAPathSocket) {
  FakeManager manager(tempSocketPath());
  ASSERT_TRUE(manager.bound());
  const SystemdNotifier n = SystemdNotifier::fromEnvironment();
  ASSERT_TRUE(n.enabled());
  EXPECT_TRUE(n.notify("READY=1\nSTATUS=listening"));
  EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=listening");
}

TEST(SystemdNotifierTest, SendsStateToAnAbstractSocket) {
  FakeManager manager("@tollgate-notify-test-" + std::to_string(::getpid()));
  ASSERT_TRUE(manager.bound());
  const SystemdNotifier n = SystemdNotifier::fromEnvironment();
  EXPECT_TRUE(n.notify("STOPPING=1"));
  EXPECT_EQ(manager.receive(), "STOPPING=1");
}

TEST(SystemdNotifierTest, RefusesARelativeSocketName) {
  ::setenv("NOTIFY_SOCKET", "relative/socket", 1);
  EXPECT_FALSE(SystemdNotifier::fromEnvironment().enabled());
  ::unsetenv("NOTIFY_SOCKET");
}

TEST(SystemdNotifierTest, PingsAtHalfTheWatchdogTimeout) {
  FakeManager manager(tempSocketPath());
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  EXPECT_EQ(SystemdNotifier::fromEnvironment().watchdogInterval().count(), 15000);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(SystemdNotifier::fromEnvironment().watchdogInterval().count(), 15000);
}

TEST(SystemdNotifierTest, IgnoresAWatchdogMeantForAnotherProcess) {
  FakeManager manager(tempSocketPath());
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_EQ(SystemdNotifier::fromEnvironment().watchdogInterval().count(), 0);
}

}  // namespace
}  // namespace tollgate::app
