// sd_notify(3) datagrams. See systemd_notify.h.
#include "app/systemd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace tollgate::app {
namespace {

// The watchdog never asks for pings more often than this, whatever
// WATCHDOG_USEC says: the event loop's timers tick in milliseconds.
constexpr std::chrono::milliseconds kMinWatchdogInterval{10};

}  // namespace

SystemdNotifier SystemdNotifier::fromEnvironment() {
  SystemdNotifier n;
  const char* socketName = std::getenv("NOTIFY_SOCKET");
  if (socketName == nullptr || socketName[0] == '\0') return n;
  std::string address = socketName;
  // Only absolute paths and abstract names are valid (sd_notify(3)).
  if (address[0] != '/' && address[0] != '@') return n;
  if (address.size() >= sizeof(sockaddr_un::sun_path)) return n;
  if (address[0] == '@') address[0] = '\0';
  n.fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (n.fd_ < 0) return n;
  n.address_ = std::move(address);

  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  const bool ours = pid == nullptr || std::strtoll(pid, nullptr, 10) == ::getpid();
  if (usec != nullptr && ours) {
    const long long us = std::strtoll(usec, nullptr, 10);
    if (us > 0) {
      n.watchdogInterval_ =
          std::max(kMinWatchdogInterval, std::chrono::milliseconds(us / 2 / 1000));
    }
  }
  return n;
}

SystemdNotifier::SystemdNotifier(SystemdNotifier&& o) noexcept
    : fd_(o.fd_), address_(std::move(o.address_)), watchdogInterval_(o.watchdogInterval_) {
  o.fd_ = -1;
}

SystemdNotifier::~SystemdNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

bool SystemdNotifier::notify(std::string_view state) const {
  if (fd_ < 0) return false;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, address_.data(), address_.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
  return ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL,
                  reinterpret_cast<const sockaddr*>(&sa),
                  len) == static_cast<ssize_t>(state.size());
}

}  // namespace tollgate::app
