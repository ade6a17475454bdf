// PgChangeListener (pg_listener.h): LISTEN on a dedicated connection, poll()
// its socket, call back on each notification; reconnect after a pause.
#include "store/pg_listener.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>

#include "common/log.h"
#include "store/pg_connection.h"

namespace tollgate::store {
namespace {

// Between reconnect attempts while the server is away (the poll covers the
// gap meanwhile).
constexpr int kReconnectPauseMs = 1000;

}  // namespace

PgChangeListener::PgChangeListener(PgTarget target, std::string channel,
                                   std::function<void()> onChange)
    : target_(std::move(target)), channel_(std::move(channel)), onChange_(std::move(onChange)) {
  if (::pipe2(wakeFd_, O_CLOEXEC | O_NONBLOCK) != 0) wakeFd_[0] = wakeFd_[1] = -1;
  thread_ = std::thread([this] { run(); });
}

PgChangeListener::~PgChangeListener() {
  stop_ = true;
  if (wakeFd_[1] >= 0) (void)!::write(wakeFd_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  for (int fd : wakeFd_) {
    if (fd >= 0) ::close(fd);
  }
}

void PgChangeListener::run() {
  bool loggedDown = false;
  while (!stop_) {
    auto opened = detail::PgConnection::open(target_);
    if (opened) {
      PGconn* conn = (*opened)->raw();
      const std::string listen = "LISTEN " + channel_;
      if (auto r = (*opened)->exec(listen.c_str(), "listen"); r) {
        connected_ = true;
        loggedDown = false;
        onChange_();  // whatever changed while we were not listening
        while (!stop_) {
          pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {wakeFd_[0], POLLIN, 0}};
          if (::poll(fds, 2, -1) < 0) continue;
          if (stop_) break;
          if (PQconsumeInput(conn) == 0) break;  // the server went away
          bool any = false;
          while (PGnotify* n = PQnotifies(conn)) {
            any = true;
            PQfreemem(n);
          }
          if (any) {
            notifications_.fetch_add(1);
            onChange_();
          }
        }
        connected_ = false;
      }
    }
    if (stop_) break;
    if (!loggedDown) {
      log::warn("store.listen_down")
          .kv("channel", channel_)
          .kv("error", opened ? std::string("connection lost") : opened.error().message);
      loggedDown = true;
    }
    pollfd w{wakeFd_[0], POLLIN, 0};
    (void)::poll(&w, 1, kReconnectPauseMs);
  }
}

}  // namespace tollgate::store
