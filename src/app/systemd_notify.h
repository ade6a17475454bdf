// The service manager's notification protocol (sd_notify(3)), spoken
// without libsystemd: one datagram of "KEY=value" lines to the unix socket
// systemd names in $NOTIFY_SOCKET (a path, or "@name" in the abstract
// namespace). The node sends READY=1 once its listeners are bound,
// STOPPING=1 (with EXTEND_TIMEOUT_USEC covering node.drain_timeout) when it
// starts draining, and WATCHDOG=1 from its event loop every half of
// $WATCHDOG_USEC (systemd's WatchdogSec=), so a stuck worker is restarted.
// Outside systemd (no $NOTIFY_SOCKET) every call does nothing.
// Thread-safe after construction: a send is one sendto(2) on a socket
// nobody else uses.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace tollgate::app {

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the watchdog is
  // ours only when WATCHDOG_PID is unset or our PID).
  static SystemdNotifier fromEnvironment();
  SystemdNotifier() = default;
  SystemdNotifier(SystemdNotifier&& o) noexcept;
  SystemdNotifier& operator=(SystemdNotifier&&) = delete;
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;
  ~SystemdNotifier();

  // A service manager listens.
  bool enabled() const { return fd_ >= 0; }
  // Sends one message ("READY=1\nSTATUS=..."); false when it could not be
  // sent (or nobody listens).
  bool notify(std::string_view state) const;
  // How often to send WATCHDOG=1: half the manager's watchdog timeout, as
  // sd_watchdog_enabled(3) advises; zero when there is no watchdog.
  std::chrono::milliseconds watchdogInterval() const { return watchdogInterval_; }

 private:
  int fd_ = -1;
  std::string address_;  // sun_path bytes; a leading '\0' for the abstract namespace
  std::chrono::milliseconds watchdogInterval_{0};
};

}  // namespace tollgate::app
