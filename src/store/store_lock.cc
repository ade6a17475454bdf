// flock(2) on "<store.path>.lock". See store_lock.h.
#include "store/store_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "common/private_files.h"
#include "store/sqlite_backend.h"

namespace tollgate::store {
namespace {

// Longest PID text read back from a lock file ("4194304\n").
constexpr size_t kPidTextMax = 32;

std::string holderOf(int fd) {
  char buf[kPidTextMax] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return "";
  std::string pid(buf, static_cast<size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.find_first_not_of("0123456789") == std::string::npos ? pid : "";
}

}  // namespace

std::string storeLockPath(const std::string& storePath) {
  return storePath + ".lock";
}

Result<StoreLock, StoreError> StoreLock::acquire(const std::string& storePath) {
  const std::string path = storeLockPath(storePath);
  // The store's directory, as the opener makes it (sqlite_open.h): the lock
  // is the first file a node or a restore creates there.
  auto made = files::makePrivateDirectories(sqliteStoreDirectory(storePath));
  if (!made) return Err{StoreError{made.error()}};
  for (const std::string& dir : *made) {
    log::info("store.directory_created")
        .kv("path", dir)
        .kv("mode", files::octal(files::kPrivateDirectoryMode));
  }
  // O_NOFOLLOW: the directory is the store's own (0700), but never write a
  // PID through a link planted there.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return Err{StoreError{"cannot open the store lock " + path + ": " + std::strerror(errno)}};
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    const std::string holder = holderOf(fd);
    ::close(fd);
    if (e == EWOULDBLOCK) {
      return Err{StoreError{"the store " + storePath + " is in use: " + path + " is held by " +
                            (holder.empty() ? std::string("another process") : "pid " + holder) +
                            " (a running node or a restore)"}};
    }
    return Err{StoreError{"cannot lock " + path + ": " + std::strerror(e)}};
  }
  ::fchmod(fd, 0600);
  // root (a restore run with sudo) leaves the file to the store's owner, who
  // runs the node and must open it next.
  if (::geteuid() == 0) files::giveToDirectoryOwner(fd, sqliteStoreDirectory(storePath));
  const std::string pid = std::to_string(::getpid()) + "\n";
  // The PID is only for messages: when it cannot be written the lock is
  // held all the same.
  [[maybe_unused]] const bool written =
      ::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) > 0;
  return StoreLock(fd, path);
}

StoreLock::StoreLock(StoreLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) {
  o.fd_ = -1;
}

StoreLock::~StoreLock() {
  if (fd_ < 0) return;
  // The PID goes before the lock, so nobody reads a stale holder.
  [[maybe_unused]] const bool cleared = ::ftruncate(fd_, 0) == 0;
  ::close(fd_);
}

}  // namespace tollgate::store
